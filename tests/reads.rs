//! Incomplete or malformed intranet reads are errors, never a plan: a misbehaving SCIM service
//! (a small local server, below) that repeats pages, echoes the wrong `startIndex`, claims an
//! absurd total, pages forever, sends a huge body, asks to wait an hour, returns an invalid User
//! or redirects elsewhere; and the configured headers, which never leave the configured origin.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roster::intranet::scim::{ClientOptions, Endpoint, ScimClient, ScimError, Token};
use serde_json::{json, Value};

use crate::cli::{flat, roster};

/// A request as the fake service saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// `/v2/Users?startIndex=1&count=20`
    target: String,
    /// The request head, header names lower-cased.
    head: String,
}

impl Seen {
    fn param(&self, name: &str) -> Option<usize> {
        let query = self.target.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
    }
}

/// What the fake service answers to a Users request.
type Answer = Box<dyn Fn(&Seen, usize) -> String + Send + Sync>;

/// A SCIM service on 127.0.0.1 that answers discovery and Groups as a real one does, and Users
/// as `users` says (`usize`: how many Users requests came before this one). It records every
/// request; it runs on its own thread, so both the library and the binary can talk to it.
struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(users: Answer) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let users = Arc::new(users);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (log, users) = (log.clone(), users.clone());
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match conn.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let target = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let req = Seen { target, head };
                    let before = {
                        let mut l = log.lock().unwrap();
                        let n = l.iter().filter(|s| s.target.contains("/users")).count();
                        l.push(req.clone());
                        n
                    };
                    let reply = if req.target.contains("/serviceproviderconfig") {
                        ok(&json!({
                            "patch": {"supported": true}, "bulk": {"supported": false},
                            "filter": {"supported": true, "maxResults": 20},
                            "etag": {"supported": true}
                        }))
                    } else if req.target.contains("/groups") {
                        ok(&list(0, 1, vec![]))
                    } else if req.target.contains("/users") {
                        users(&req, before)
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .into()
                    };
                    let _ = conn.write_all(reply.as_bytes());
                });
            }
        });
        Fake { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Users requests with this `startIndex`.
    fn users_at(&self, start: usize) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.target.contains("/users") && s.param("startindex") == Some(start))
            .count()
    }
}

/// A 200 answer with a JSON body.
fn ok(body: &Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn list(total: u64, start: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total, "startIndex": start, "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

fn person(i: usize) -> Value {
    json!({"id": format!("id-{i:04}"), "userName": format!("user{i:04}"), "active": true,
           "meta": {"version": "W/\"1\"", "lastModified": "2024-05-01T12:00:00Z"}})
}

/// Users `from..to` (1-based, inclusive start) of a service holding `total`.
fn people(start: usize, count: usize, total: usize) -> Vec<Value> {
    (start..(start + count).min(total + 1))
        .map(person)
        .collect()
}

/// A well-behaved page of a service holding `total` Users, 20 a page.
fn honest(req: &Seen, total: usize) -> String {
    honest_claiming(req, total as u64, total)
}

fn client(url: &str, opts: ClientOptions) -> ScimClient {
    ScimClient::new(url, Token::new("t0ken"), &BTreeMap::new(), false, opts).expect("client")
}

fn quick() -> ClientOptions {
    ClientOptions {
        retries: 1,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

async fn read_users(fake: &Fake, opts: ClientOptions) -> Result<Vec<Value>, ScimError> {
    client(&fake.url(), opts)
        .list_all(Endpoint::Users, &[], Some(20))
        .await
}

/// A config for the quickstart's directory against `url`, in a fresh folder.
fn site(url: &str, scim_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let text = std::fs::read_to_string(quickstart.join("roster.yaml")).unwrap();
    let text = text.replace(
        "  snapshot: intranet.json\n",
        &format!("  scim:\n    url: {url}\n    token: {{ file: token.txt }}\n{scim_extra}"),
    );
    std::fs::write(dir.path().join("roster.yaml"), text).unwrap();
    std::fs::copy(
        quickstart.join("directory.ldif"),
        dir.path().join("directory.ldif"),
    )
    .unwrap();
    std::fs::write(dir.path().join("token.txt"), "t0ken\n").unwrap();
    dir
}

#[test]
fn the_same_first_page_for_every_start_index_is_an_error_and_nothing_is_planned() {
    // The service seen in the wild: every page is the first 20 of 270 Users.
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        ok(&list(270, start, people(1, 20, 270)))
    }));
    let dir = site(&fake.url(), "");
    let r = roster(dir.path(), &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        flat(&r.stderr).contains("said 270 Users, its pages held 20 distinct (260 repeated)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("roster::scim::paging"), "{}", r.stderr);
    assert!(!r.stdout.contains("create"), "{}", r.stdout);
    assert!(!dir.path().join("plan.json").exists(), "no plan is saved");
    // Tried twice (a change during the read could have explained it), then given up.
    assert_eq!(fake.users_at(21), 2);
    // `snapshot intranet` reads the same way: no file from an incomplete read.
    let r = roster(dir.path(), &["snapshot", "intranet", "-o", "snap.json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(flat(&r.stderr).contains("(260 repeated)"), "{}", r.stderr);
    assert!(!dir.path().join("snap.json").exists());
}

#[tokio::test]
async fn a_delta_read_from_skewed_pages_falls_back_to_a_full_read_that_adds_up() {
    use roster::intranet::scim::cache::{self, CacheSettings, Refresh};
    // Full reads are honest; the delta query (filtered) repeats its first page for every page.
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        if req.target.contains("filter=") {
            return ok(&list(45, start, people(1, 20, 45)));
        }
        honest(req, 45)
    }));
    let c = client(&fake.url(), quick());
    let caps = c.discover().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = CacheSettings {
        refresh: Refresh::Auto,
        dir: Some(dir.path().to_path_buf()),
    };
    let (first, read) = cache::read_state(&c, &caps, &[], &settings).await.unwrap();
    assert_eq!(first.accounts.len(), 45);
    assert_eq!(read.note.as_deref(), Some("no cache yet"));
    let (second, read) = cache::read_state(&c, &caps, &[], &settings).await.unwrap();
    assert_eq!(read.mode, roster::plan::ReadMode::Full);
    assert!(
        read.note
            .as_deref()
            .is_some_and(|n| n.contains("(40 repeated)")),
        "{read:?}"
    );
    assert_eq!(second, first);
}

#[tokio::test]
async fn a_page_echoing_another_start_index_is_an_error() {
    let fake = Fake::start(Box::new(|_, _| ok(&list(270, 1, people(1, 20, 270)))));
    let err = read_users(&fake, quick()).await.unwrap_err();
    assert!(matches!(err, ScimError::Paging { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("asked for the page at startIndex=")
            && text.contains("the service answered the page at startIndex=1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_page_without_start_index_is_accepted_only_when_it_holds_everything() {
    let without = |body: Value| {
        let mut b = body;
        b.as_object_mut().unwrap().remove("startIndex");
        ok(&b)
    };
    let whole = Fake::start(Box::new(move |_, _| without(list(3, 1, people(1, 3, 3)))));
    assert_eq!(read_users(&whole, quick()).await.unwrap().len(), 3);
    let paged = Fake::start(Box::new(move |req, _| {
        let start = req.param("startindex").unwrap_or(1);
        without(list(45, start, people(start, 20, 45)))
    }));
    let err = read_users(&paged, quick()).await.unwrap_err();
    assert!(err.to_string().contains("no `startIndex`"), "{err}");
}

#[tokio::test]
async fn an_id_repeated_across_pages_is_an_error_after_one_more_try() {
    // Page 2 repeats user 1 in place of user 21.
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        let mut page = people(start, 20, 45);
        if start == 21 {
            page[0] = person(1);
        }
        ok(&list(45, start, page))
    }));
    let err = read_users(&fake, quick()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("said 45 Users, its pages held 44 distinct (1 repeated), e.g. id `id-0001`"),
        "{text}"
    );
    assert_eq!(fake.users_at(1), 2, "the whole read tried twice");
}

#[tokio::test]
async fn a_service_changing_during_the_read_is_read_again() {
    // The first pass sees a User created mid-read (page 2 shifted by one); the second is clean.
    let fake = Fake::start(Box::new(|req, before| {
        let start = req.param("startindex").unwrap_or(1);
        if before < 3 && start == 21 {
            return ok(&list(45, start, people(20, 20, 45)));
        }
        honest(req, 45)
    }));
    let users = read_users(&fake, quick())
        .await
        .expect("the second pass adds up");
    assert_eq!(users.len(), 45);
    assert_eq!(fake.users_at(1), 2);
}

#[tokio::test]
async fn an_absurd_total_is_refused_before_paging() {
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        ok(&list(1_000_000_000_000, start, people(start, 20, 100)))
    }));
    let err = read_users(&fake, quick()).await.unwrap_err();
    assert!(matches!(err, ScimError::TooMany { .. }), "{err:?}");
    assert!(
        err.to_string().contains("claims 1000000000000 Users")
            && err.to_string().contains("intranet.scim.max_resources"),
        "{err}"
    );
    assert_eq!(fake.seen().len(), 1, "one request, no paging");
}

#[tokio::test]
async fn an_empty_page_before_the_total_stops_the_read() {
    // Claims 100,000 Users, holds 40: the first empty page ends the read, not the 5,000th.
    let fake = Fake::start(Box::new(|req, _| honest_claiming(req, 100_000, 40)));
    let err = read_users(&fake, quick()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("held no Users, though the service said 100000"),
        "{err}"
    );
    assert!(fake.seen().len() < 200, "{} requests", fake.seen().len());
}

/// A page of a service that holds `holds` Users but says it holds `claims`.
fn honest_claiming(req: &Seen, claims: u64, holds: usize) -> String {
    let start = req.param("startindex").unwrap_or(1);
    let count = req.param("count").unwrap_or(20).min(20);
    ok(&list(claims, start, people(start, count, holds)))
}

#[tokio::test]
async fn endless_paging_is_stopped_by_the_read_budget() {
    // Within the resource cap, but one User a page: millions of pages.
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        ok(&list(5_000_000, start, vec![person(start)]))
    }));
    let opts = ClientOptions {
        read_timeout: Duration::from_secs(2),
        ..quick()
    };
    let started = Instant::now();
    let err = read_users(&fake, opts).await.unwrap_err();
    assert!(matches!(err, ScimError::ReadTimeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("intranet.scim.read_timeout (2 s)"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_page_larger_than_asked_is_an_error() {
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        ok(&list(100, start, people(start, 50, 100)))
    }));
    let err = read_users(&fake, quick()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("asked for at most 20 Users, the page held 50"),
        "{err}"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_an_error_naming_the_url_and_the_setting() {
    let big = |req: &Seen| {
        let start = req.param("startindex").unwrap_or(1);
        let mut page = people(start, 20, 20);
        page[0]["title"] = json!("x".repeat(200_000));
        list(20, start, page).to_string()
    };
    let opts = || ClientOptions {
        max_response_bytes: 100_000,
        ..quick()
    };
    // With a Content-Length, and without one (read until the connection closes).
    let sized = Fake::start(Box::new(move |req, _| {
        ok(&serde_json::from_str(&big(req)).unwrap())
    }));
    let streamed = Fake::start(Box::new(move |req, _| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\nConnection: close\r\n\r\n{}",
            big(req)
        )
    }));
    for fake in [&sized, &streamed] {
        let err = read_users(fake, opts()).await.unwrap_err();
        assert!(matches!(err, ScimError::TooLarge { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{}/v2/Users", fake.port))
                && err.to_string().contains("100000 bytes"),
            "{err}"
        );
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("intranet.scim.max_response_bytes"), "{help}");
    }
}

#[tokio::test]
async fn retry_after_longer_than_the_budget_gives_up_at_once() {
    let busy = |wait: &str| {
        format!("HTTP/1.1 503 Busy\r\nRetry-After: {wait}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    };
    let fake = Fake::start(Box::new(move |_, _| busy("3600")));
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        retries: 4,
        ..quick()
    };
    let started = Instant::now();
    let err = read_users(&fake, opts.clone()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, ScimError::RetryTooLate { wait: 3600, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("intranet.scim.timeout"), "{err}");
    // The HTTP-date form too: a date an hour ahead.
    let later = httpdate(std::time::SystemTime::now() + Duration::from_secs(3600));
    let fake = Fake::start(Box::new(move |_, _| busy(&later)));
    let err = read_users(&fake, opts).await.unwrap_err();
    assert!(
        matches!(err, ScimError::RetryTooLate { wait, .. } if (3590..=3601).contains(&wait)),
        "{err:?}"
    );
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate(t: std::time::SystemTime) -> String {
    let t = jiff::Timestamp::try_from(t).unwrap();
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&t)
        .unwrap()
}

#[test]
fn an_invalid_user_from_a_live_service_is_named_and_nothing_is_planned() {
    let fake = Fake::start(Box::new(|req, _| {
        let start = req.param("startindex").unwrap_or(1);
        let mut page = people(start, 20, 30);
        if start == 21 {
            page[2].as_object_mut().unwrap().remove("userName");
            page[4]["active"] = json!("yes");
        }
        ok(&list(30, start, page))
    }));
    let dir = site(&fake.url(), "");
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let flat = flat(&r.stderr);
    for want in [
        "returned 2 invalid Users",
        "User #23 (id `id-0023`): no `userName`",
        "User #25 (id `id-0025`): `active` is the string \"yes\", not true or false",
    ] {
        assert!(flat.contains(want), "{want}: {}", r.stderr);
    }
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[tokio::test]
async fn a_repeated_key_in_a_live_answer_is_an_error() {
    let fake = Fake::start(Box::new(|_, _| {
        let body = r#"{"totalResults": 1, "startIndex": 1, "Resources": [{"id": "a", "userName": "ann", "userName": "root"}]}"#;
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }));
    let err = read_users(&fake, quick()).await.unwrap_err();
    assert!(
        err.to_string().contains("(in resource #1 of the page)")
            && err.to_string().contains("the key `userName` appears twice"),
        "{err}"
    );
}

#[tokio::test]
async fn configured_headers_are_read_from_the_environment() {
    let fake = Fake::start(Box::new(|req, _| honest(req, 3)));
    let yaml = format!(
        "url: {}\ntoken: {{ env: TOK }}\nheaders:\n  X-Tenant: example\n  X-Api-Key: {{ env: API_KEY }}\n",
        fake.url()
    );
    let cfg: roster::config::ScimConfig = serde_saphyr::from_str(&yaml).unwrap();
    let env = |k: &str| match k {
        "TOK" => Some("t0ken".to_string()),
        "API_KEY" => Some("k3y-from-env".to_string()),
        _ => None,
    };
    let c = ScimClient::from_config(&cfg, Path::new("."), env).expect("client");
    assert_eq!(
        c.list_all(Endpoint::Users, &[], None).await.unwrap().len(),
        3
    );
    let seen = fake.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        assert!(
            s.head.contains("\r\nx-api-key: k3y-from-env\r\n"),
            "{}",
            s.head
        );
        assert!(s.head.contains("\r\nx-tenant: example\r\n"), "{}", s.head);
    }
    // Unset: a diagnostic naming the header and the variable, not a request without it.
    let err = ScimClient::from_config(&cfg, Path::new("."), |k| {
        (k == "TOK").then(|| "t0ken".to_string())
    })
    .unwrap_err();
    assert!(
        matches!(err, ScimError::BadHeader { ref name, .. } if name == "X-Api-Key")
            && err.to_string().contains("API_KEY"),
        "{err}"
    );
}

#[test]
fn a_literal_credential_header_is_refused_at_load() {
    let dir = site(
        "http://127.0.0.1:9/v2",
        "    headers:\n      X-Tenant: example\n      Authorization: Bearer s3cret-literal\n      X-Api-Key: also-s3cret\n",
    );
    let r = roster(dir.path(), &["validate"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`Authorization` is written in the config"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`X-Api-Key` is written in the config"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("`X-Tenant`"),
        "a plain header is fine: {}",
        r.stderr
    );
    // Bad names and values are refused before any request.
    let bad = roster::config::ScimConfig {
        headers: [(
            "X-Tenant".to_string(),
            roster::config::HeaderSetting::Text("a\r\nInjected: 1".into()),
        )]
        .into(),
        ..serde_saphyr::from_str("url: http://127.0.0.1:9/v2\ntoken: { env: T }\n").unwrap()
    };
    let err = ScimClient::from_config(&bad, Path::new("."), |_| Some("t".into())).unwrap_err();
    assert!(err.to_string().contains("line break"), "{err}");
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_nothing_reaches_the_other_origin() {
    let elsewhere = Fake::start(Box::new(|req, _| honest(req, 3)));
    let target = format!("{}/ServiceProviderConfig", elsewhere.url());
    let redirecting = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = redirecting.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in redirecting.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    let mut headers = BTreeMap::new();
    headers.insert("X-Tenant".to_string(), "example".to_string());
    let c = ScimClient::new(
        &format!("http://127.0.0.1:{port}/v2"),
        Token::new("t0ken"),
        &headers,
        false,
        quick(),
    )
    .unwrap();
    let err = c.discover().await.unwrap_err();
    assert!(
        matches!(err, ScimError::Redirected { status: 302, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!(
            "127.0.0.1:{}/v2/ServiceProviderConfig",
            elsewhere.port
        )),
        "{err}"
    );
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}
