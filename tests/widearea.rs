//! Adaptive concurrency against a real scim2-server: apply writes everything and converges, the
//! summaries say the concurrency, and 429/503 answers make the limit back off (counted at a
//! small proxy that holds each answer as a slow link would). No timings are asserted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roster::intranet::scim::cache::{self, CacheSettings, Refresh};
use roster::intranet::scim::target::ScimTarget;
use roster::intranet::scim::{ClientOptions, ScimClient, Token};
use roster::model::IntranetState;
use roster::plan::{Action, Change, ConcurrencyMode, FieldChange, Inputs, Plan};
use serde_json::json;

use crate::support::scim::{user, ScimServer, TOKEN};

fn client(url: &str, adaptive: bool, concurrency: usize, bulk: bool) -> ScimClient {
    let opts = ClientOptions {
        adaptive,
        concurrency,
        bulk: if bulk {
            ClientOptions::default().bulk
        } else {
            None
        },
        backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    };
    ScimClient::new(url, Token::new(TOKEN), &BTreeMap::new(), false, opts).expect("client")
}

fn seed(server: &ScimServer, n: usize) {
    let users: Vec<_> = (0..n)
        .map(|i| {
            let mut u = user(&format!("user{i:04}"), Some(&format!("ext-{i}")));
            u["title"] = json!("Seeded");
            u
        })
        .collect();
    server.seed_users(&users);
}

/// One job_title update to `value` per account.
fn title_plan(state: &IntranetState, value: &str) -> Plan {
    let changes = state
        .accounts
        .iter()
        .map(|a| Change {
            action: Action::Update,
            username: a.username.clone(),
            external_id: a.external_id.clone(),
            intranet_id: Some(a.id.clone()),
            etag: a.etag.clone(),
            fields: vec![FieldChange {
                name: "job_title".into(),
                before: a.fields.get("job_title").map(str::to_owned),
                after: Some(value.into()),
                origin: None,
            }],
            role: None,
            reason: "wide-area test".into(),
        })
        .collect();
    Plan::new(Inputs::default(), vec![], changes)
}

/// Read the intranet as a plan does, apply a title to everyone, and return the client.
async fn apply_titles(url: &str, adaptive: bool, value: &str) -> (ScimClient, usize) {
    let c = client(url, adaptive, 32, false);
    let fields = vec!["job_title".to_string()];
    let caps = c.discover().await.expect("discover");
    let settings = CacheSettings {
        refresh: Refresh::Full,
        dir: None,
    };
    let (state, read) = cache::read_state(&c, &caps, &fields, &settings)
        .await
        .expect("read");
    // The plan's read line says the concurrency it was read with.
    let conc = read
        .concurrency
        .clone()
        .expect("the read says its concurrency");
    assert_eq!(conc.max, 32);
    assert!(
        read.describe().contains("concurrency adaptive up to 32"),
        "{}",
        read.describe()
    );
    let plan = title_plan(&state, value);
    let target = ScimTarget::new(c.clone(), caps, fields);
    let report = roster::apply::apply(&target, &plan, &state).await;
    (c, report.count("applied"))
}

#[tokio::test]
async fn adaptive_apply_writes_everything_and_converges() {
    let server = ScimServer::start();
    seed(&server, 80);
    // Each write's answer held 40 ms, as over a slow link: room for many in flight.
    let link =
        crate::support::proxy::CuttingProxy::slow_writes(server.port, Duration::from_millis(40));
    let (c, applied) = apply_titles(&link.http_url("/v2"), true, "Adapted").await;
    assert_eq!(applied, 80);
    let summary = c.writes_summary();
    assert_eq!(
        summary.requests, 80,
        "one PATCH per update, none lost or repeated"
    );
    assert_eq!(summary.bulk_requests, 0);
    assert_eq!(summary.concurrency.mode, ConcurrencyMode::Adaptive);
    assert!(
        summary
            .describe()
            .starts_with("80 requests, concurrency adaptive up to 32 (settled at "),
        "{}",
        summary.describe()
    );
    // Every write landed: read back, each user holds the new title, so a second plan is empty.
    let users = server.all_users();
    assert_eq!(users.len(), 80);
    let wrong: Vec<_> = users
        .iter()
        .filter(|u| u["title"] != "Adapted")
        .map(|u| u["userName"].clone())
        .collect();
    assert!(wrong.is_empty(), "not written: {wrong:?}");
    let caps = c.discover().await.unwrap();
    let state = c
        .read_state(&["job_title".to_string()], &caps)
        .await
        .unwrap();
    assert!(state
        .accounts
        .iter()
        .all(|a| a.fields.get("job_title") == Some("Adapted")));
}

#[tokio::test]
async fn pinned_concurrency_is_reported_fixed() {
    let server = ScimServer::start();
    seed(&server, 10);
    let c = client(&server.url(), false, 3, false);
    let fields = vec!["job_title".to_string()];
    let caps = c.discover().await.unwrap();
    let state = c.read_state(&fields, &caps).await.unwrap();
    let target = ScimTarget::new(c.clone(), caps, fields);
    let report = roster::apply::apply(&target, &title_plan(&state, "Pinned"), &state).await;
    assert_eq!(report.count("applied"), 10);
    assert_eq!(
        c.writes_summary().describe(),
        "10 requests, concurrency fixed at 3"
    );
}

/// A proxy in front of `target` that holds every answer `hold` (a slow link), counts the
/// requests in flight, records that count as each request arrives, and answers the requests
/// numbered `busy` (from 0, in arrival order) itself with `status` and `Retry-After: 0`.
struct CountingProxy {
    url: String,
    /// (in flight when it arrived, answered busy) per request, in arrival order.
    seen: Arc<Mutex<Vec<(usize, bool)>>>,
}

async fn counting_proxy(
    target: u16,
    hold: Duration,
    busy: std::ops::Range<usize>,
    status: u16,
) -> CountingProxy {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/v2",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (log, in_flight, busy) = (log.clone(), in_flight.clone(), busy.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let Ok(n) = inbound.read(&mut buf).await else {
                    return;
                };
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                let number = {
                    let mut log = log.lock().unwrap();
                    log.push((now, false));
                    log.len() - 1
                };
                let refuse = busy.contains(&number);
                if refuse {
                    log.lock().unwrap()[number].1 = true;
                    tokio::time::sleep(hold).await;
                    let reply = format!("HTTP/1.0 {status} Busy\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = inbound.write_all(reply.as_bytes()).await;
                } else if let Ok(mut outbound) =
                    tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                {
                    // HTTP/1.0: the server answers and closes; the answer is held, then passed on.
                    let mut answer = Vec::new();
                    if outbound.write_all(&buf[..n]).await.is_ok() {
                        let mut rest = inbound_rest(&mut inbound, &buf[..n]).await;
                        let _ = outbound.write_all(&rest).await;
                        rest.clear();
                        let _ = outbound.read_to_end(&mut answer).await;
                    }
                    tokio::time::sleep(hold).await;
                    let _ = inbound.write_all(&answer).await;
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = inbound.shutdown().await;
            });
        }
    });
    CountingProxy { url, seen }
}

/// The rest of a request whose first chunk was `head`: its body up to `Content-Length`.
async fn inbound_rest(inbound: &mut tokio::net::TcpStream, head: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let text = String::from_utf8_lossy(head);
    let Some(end) = text.find("\r\n\r\n") else {
        return Vec::new();
    };
    let length: usize = text[..end]
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let have = head.len() - (end + 4);
    let mut rest = vec![0u8; length.saturating_sub(have)];
    let _ = inbound.read_exact(&mut rest).await;
    rest
}

async fn backs_off_on(status: u16) {
    let server = ScimServer::start();
    seed(&server, 150);
    // The reads (discovery, one page) come first; then one PATCH per user. Requests 70..74
    // are answered busy, well after the limit has grown.
    let proxy = counting_proxy(server.port, Duration::from_millis(60), 70..74, status).await;
    let (c, applied) = apply_titles(&proxy.url, true, "Busy").await;
    assert_eq!(applied, 150, "the busy answers were retried");
    assert_eq!(
        c.writes_summary().requests,
        150,
        "one answered PATCH each (the busy answers are not counted)"
    );
    let seen = proxy.seen.lock().unwrap().clone();
    let first_busy = seen
        .iter()
        .position(|(_, b)| *b)
        .expect("busy answers sent");
    let last_busy = seen.iter().rposition(|(_, b)| *b).unwrap();
    let peak_before = seen[..first_busy].iter().map(|(n, _)| *n).max().unwrap();
    assert!(
        peak_before >= 4,
        "the limit grew before: {peak_before} in flight at most"
    );
    // Once the busy answers are in, requests start only as the halved limit allows: within a
    // round trip's worth of arrivals (those sent before the answers came) the count in flight
    // drops to about half the peak, and the next ten stay below the peak.
    let half = peak_before / 2 + 1;
    let rest = &seen[last_busy + 1..];
    let drained = rest
        .iter()
        .position(|(n, _)| *n <= half)
        .unwrap_or_else(|| panic!("in flight never fell to {half} after {status}: {rest:?}"));
    // (A little more than a round trip's worth: the proxy counts too the requests whose
    // connection scim2-server's full accept queue dropped, which the gate has counted lost and
    // whose places it has given to others while their SYN waits for its resend.)
    assert!(
        drained <= peak_before * 3 / 2,
        "{drained} requests started after {status} before the count fell to {half}: {rest:?}"
    );
    let next: Vec<usize> = rest[drained..].iter().take(10).map(|(n, _)| *n).collect();
    assert!(
        next.iter().all(|n| *n < peak_before),
        "in flight after {status}: {next:?}, before: {peak_before}"
    );
}

#[tokio::test]
async fn a_503_with_retry_after_makes_the_limit_back_off() {
    backs_off_on(503).await;
}

#[tokio::test]
async fn a_429_with_retry_after_makes_the_limit_back_off() {
    backs_off_on(429).await;
}
