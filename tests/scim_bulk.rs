//! `apply` over SCIM Bulk (RFC 7644 §3.7) against a real scim2-server: the same end state and
//! outcomes as single requests, per-operation ETags, batching at the configured and announced
//! limits, and Bulk requests that fail as a whole.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use roster::apply::Outcome;
use roster::exit::{OK as EXIT_OK, PARTIAL as EXIT_PARTIAL};
use roster::intranet::scim::target::ScimTarget;
use roster::intranet::scim::{ClientOptions, ScimClient, Token};
use roster::plan::{Action, Plan};
use serde_json::{json, Value};

use crate::scim::{
    bulk_ldif, bulk_users, killed_mid_apply, outcome_of, quickstart_site_with, Site, BULK_BODY,
};
use crate::support::proxy::CuttingProxy;
use crate::support::scim::{flaky_proxy, ScimServer, TOKEN};

const SINGLE: &str = "    bulk: { enabled: false }\n";

/// The intranet as a comparable value: users by userName (without id and meta, the manager as
/// a userName), groups by displayName with their members' userNames.
fn intranet(server: &ScimServer) -> Value {
    let users = server.all_users();
    let name_of: HashMap<String, String> = users
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["userName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let name = |id: &Value| {
        let id = id.as_str().expect("an id");
        name_of.get(id).cloned().unwrap_or_else(|| format!("?{id}"))
    };
    let mut by_name = BTreeMap::new();
    for mut u in users {
        let o = u.as_object_mut().unwrap();
        o.remove("id");
        o.remove("meta");
        if let Some(ext) = o.get_mut(crate::support::scim::ENTERPRISE) {
            if let Some(m) = ext.get_mut("manager") {
                *m = json!(name(&m["value"]));
            }
        }
        by_name.insert(u["userName"].as_str().unwrap().to_string(), u);
    }
    let groups: BTreeMap<String, Vec<String>> = server.curl_get("Groups?count=1000")["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut members: Vec<String> = g["members"]
                .as_array()
                .map(|ms| ms.iter().map(|m| name(&m["value"])).collect())
                .unwrap_or_default();
            members.sort();
            (g["displayName"].as_str().unwrap().to_string(), members)
        })
        .collect();
    json!({ "users": by_name, "groups": groups })
}

/// One change and what became of it: action, username, role, outcome, HTTP status.
type Ended = (Action, String, Option<String>, String, Option<u16>);

fn outcomes(r: &roster::apply::ApplyReport) -> Vec<Ended> {
    r.outcomes
        .iter()
        .map(|o| {
            let status = match &o.outcome {
                Outcome::Failed { http_status, .. } => *http_status,
                _ => None,
            };
            (
                o.change.action,
                o.change.username.clone(),
                o.change.role.as_ref().map(|r| r.role.clone()),
                o.outcome.name().to_string(),
                status,
            )
        })
        .collect()
}

/// The audit CSV's rows without the columns that name server-assigned ids.
fn audit_rows(applied: &roster::commands::apply::Applied, ids: &[String]) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(&applied.audit.csv).unwrap();
    r.records()
        .map(|row| {
            row.unwrap()
                .iter()
                .map(|cell| {
                    ids.iter()
                        .fold(cell.to_string(), |c, id| c.replace(id.as_str(), "<id>"))
                })
                .collect()
        })
        .collect()
}

fn ids_of(server: &ScimServer) -> Vec<String> {
    let mut ids: Vec<String> = server
        .all_users()
        .iter()
        .chain(
            server.curl_get("Groups?count=1000")["Resources"]
                .as_array()
                .unwrap(),
        )
        .flat_map(|r| [r["id"].clone(), r["meta"]["version"].clone()])
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    // Longest first, so that no id is replaced inside a longer one.
    ids.sort_by_key(|i| std::cmp::Reverse(i.len()));
    ids
}

fn kinds(plan: &Plan) -> Vec<(Action, String)> {
    plan.changes
        .iter()
        .map(|c| (c.action, c.username.clone()))
        .collect()
}

/// Writes the server took: single POSTs and PATCHes, and Bulk requests. (Once its log is still:
/// it logs a request after answering it.)
fn writes(server: &ScimServer) -> (usize, usize) {
    server.settled_writes();
    let bulk = server.logged_at("POST", "Bulk");
    (server.logged("POST") + server.logged("PATCH") - bulk, bulk)
}

#[tokio::test]
async fn bulk_apply_ends_like_single_requests() {
    let single = ScimServer::start();
    let bulk = ScimServer::start();
    let single_site = quickstart_site_with(&single, SINGLE);
    let bulk_site = quickstart_site_with(&bulk, "");
    let plan = same_end(&single, &single_site, &bulk, &bulk_site).await;
    for a in Action::ALL {
        assert!(
            plan.changes.iter().any(|c| c.action == a),
            "the quickstart plan has no {a:?}"
        );
    }
}

#[tokio::test]
async fn bulk_creates_set_managers_created_in_the_same_run() {
    // boss exists; ann (new) reports to boss, bea (new) to ann: bea's manager is set once ann's
    // create is done.
    let ldif = "version: 1\n\n\
        dn: uid=boss,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: boss\ncn: B\nsn: B\nentryUUID: 00000000-0000-4000-8000-000000000001\n\n\
        dn: uid=bea,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: bea\ncn: B\nsn: B\nmanager: uid=ann,ou=people,dc=example,dc=com\nentryUUID: 00000000-0000-4000-8000-000000000003\n\n\
        dn: uid=ann,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: ann\ncn: A\nsn: A\nmanager: uid=boss,ou=people,dc=example,dc=com\nentryUUID: 00000000-0000-4000-8000-000000000002\n\n\
        dn: cn=staff,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: staff\n\
        member: uid=boss,ou=people,dc=example,dc=com\nmember: uid=ann,ou=people,dc=example,dc=com\nmember: uid=bea,ou=people,dc=example,dc=com\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.ldif");
    std::fs::write(&path, ldif).unwrap();
    // Nobody here has a title: `job_title` is allowed to stay empty.
    let body = BULK_BODY.replace(
        "job_title: title",
        "job_title: { from: title, allow_empty: true }",
    ) + "  manager: manager\n";
    let (single, bulk) = (ScimServer::start(), ScimServer::start());
    for server in [&single, &bulk] {
        server.seed_users(&[crate::support::scim::user(
            "boss",
            Some("00000000-0000-4000-8000-000000000001"),
        )]);
    }
    let single_site = Site::with_scim(&single, &path, &body, SINGLE);
    let bulk_site = Site::with_scim(&bulk, &path, &body, "");
    let plan = same_end(&single, &single_site, &bulk, &bulk_site).await;
    assert_eq!(plan.summary.create, 2);
    let users = intranet(&bulk)["users"].clone();
    let manager = |u: &str| users[u][crate::support::scim::ENTERPRISE]["manager"].clone();
    assert_eq!(
        (manager("ann"), manager("bea")),
        (json!("boss"), json!("ann"))
    );
}

/// Plan and apply on two servers that hold the same: one site with Bulk off, one with Bulk on.
/// Both plans do the same; both end in the same intranet, outcomes and audit rows; the Bulk one
/// applies everything, in fewer requests. Returns the Bulk site's plan.
async fn same_end(
    single: &ScimServer,
    single_site: &Site,
    bulk: &ScimServer,
    bulk_site: &Site,
) -> Plan {
    let (single_plan, bulk_plan) = (single_site.plan().await, bulk_site.plan().await);
    assert_eq!(kinds(&single_plan), kinds(&bulk_plan));
    let (before_single, before_bulk) = (writes(single), writes(bulk));

    let single_applied = single_site.apply(&single_plan).await;
    let bulk_applied = bulk_site.apply(&bulk_plan).await;

    assert!(
        bulk_applied.report.is_complete(),
        "{:#?}",
        bulk_applied.report
    );
    assert_eq!(bulk_applied.report.exit_code(), EXIT_OK);
    assert_eq!(
        outcomes(&single_applied.report),
        outcomes(&bulk_applied.report)
    );
    assert_eq!(intranet(single), intranet(bulk));
    assert_eq!(
        audit_rows(&single_applied, &ids_of(single)),
        audit_rows(&bulk_applied, &ids_of(bulk))
    );
    assert!(single_site.plan().await.is_empty() && bulk_site.plan().await.is_empty());

    // Bulk off: single requests only. Bulk on: Bulk requests, and fewer requests in all.
    let (single_writes, single_bulks) = writes(single);
    let (bulk_writes, bulk_bulks) = writes(bulk);
    assert_eq!(
        single_bulks, before_single.1,
        "no Bulk request with bulk off"
    );
    assert!(bulk_bulks > before_bulk.1, "Bulk requests with bulk on");
    assert!(
        (bulk_writes - before_bulk.0) + (bulk_bulks - before_bulk.1)
            < single_writes - before_single.0,
        "bulk: {bulk_writes} + {bulk_bulks} requests, single: {single_writes}"
    );
    bulk_plan
}

/// A server holding `n` users titled Old (created one by one, not through Bulk, so that
/// every Bulk request the server logs is Roster's), and a site whose directory titles them New.
fn titles_site(server: &ScimServer, n: usize, scim_extra: &str) -> (Site, tempfile::TempDir) {
    for u in bulk_users(n, "Old") {
        let (status, body) = server.curl_send("POST", "Users", &u);
        assert_eq!(status, 201, "{body}");
    }
    let dir = tempfile::tempdir().unwrap();
    let ldif = bulk_ldif(dir.path(), n, "New");
    (Site::with_scim(server, &ldif, BULK_BODY, scim_extra), dir)
}

fn titles(server: &ScimServer) -> BTreeMap<String, String> {
    server
        .all_users()
        .iter()
        .map(|u| {
            (
                u["userName"].as_str().unwrap().to_string(),
                u["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_stale_version_fails_only_its_bulk_operation() {
    let server = ScimServer::start();
    let (site, _dir) = titles_site(&server, 20, "");
    let plan = site.plan().await;
    assert_eq!(plan.summary.update, 20);
    // An admin edits one user (an unmapped attribute): its ETag moves.
    server.replace_attribute("u00007", "nickName", "Seven");
    server.settled_writes();
    let patches = server.logged("PATCH");

    let applied = site.apply(&plan).await;
    let r = &applied.report;
    let Outcome::Stale { detail } = outcome_of(r, Action::Update, "u00007") else {
        panic!("{:?}", outcome_of(r, Action::Update, "u00007"))
    };
    assert!(!detail.is_empty());
    assert_eq!((r.count("stale"), r.count("applied")), (1, 19));
    assert_eq!(r.exit_code(), EXIT_PARTIAL);
    let csv = std::fs::read_to_string(&applied.audit.csv).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.contains("u00007") && l.contains("outcome: stale")),
        "{csv}"
    );
    let t = titles(&server);
    assert_eq!(t["u00007"], "Old");
    assert!(t.iter().all(|(u, v)| u == "u00007" || v == "New"), "{t:?}");
    // All in one Bulk request, no single PATCH.
    server.settled_writes();
    assert_eq!(server.logged_at("POST", "Bulk"), 1);
    assert_eq!(server.logged("PATCH"), patches);
    // Planning again converges.
    let rerun = site.plan().await;
    assert_eq!(kinds(&rerun), [(Action::Update, "u00007".to_string())]);
    assert!(site.apply(&rerun).await.report.is_complete());
    assert_eq!(titles(&server)["u00007"], "New");
}

/// Apply 10 title updates with `scim_extra` to `server`; every one must apply. Returns the
/// (single, Bulk) requests it took.
async fn ten_updates(server: &ScimServer, scim_extra: &str) -> (usize, usize) {
    let (site, _dir) = titles_site(server, 10, scim_extra);
    let plan = site.plan().await;
    assert_eq!(plan.summary.update, 10);
    let before = writes(server);
    let applied = site.apply(&plan).await;
    assert!(applied.report.is_complete(), "{:#?}", applied.report);
    assert!(titles(server).values().all(|t| t == "New"));
    let after = writes(server);
    (after.0 - before.0, after.1 - before.1)
}

#[tokio::test]
async fn bulk_requests_keep_to_the_batch_size_and_the_announced_limits() {
    // Batch of 3: 3 + 3 + 3 in Bulk requests; the lone last write goes on its own.
    let server = ScimServer::start();
    assert_eq!(
        ten_updates(&server, "    bulk: { batch: 3 }\n").await,
        (1, 3)
    );

    // The server's maxOperations (4) caps the default batch: 4 + 4 + 2.
    let server = ScimServer::start_with_bulk(
        json!({"supported": true, "maxOperations": 4, "maxPayloadSize": 1_048_576}),
    );
    assert_eq!(ten_updates(&server, "").await, (0, 3));

    // A maxPayloadSize of 600 bytes holds two of these operations (about 230 bytes each): a
    // request over it would be refused with 413 and its writes sent again one by one.
    let server = ScimServer::start_with_bulk(
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 600}),
    );
    assert_eq!(ten_updates(&server, "").await, (0, 5));
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(!log.contains("\" 413 "), "{log}");

    // Bulk not announced: single requests.
    let server = ScimServer::start_with_bulk(
        json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0}),
    );
    assert_eq!(ten_updates(&server, "").await, (10, 0));

    // Bulk off in the config, though announced: single requests.
    let server = ScimServer::start();
    assert_eq!(ten_updates(&server, SINGLE).await, (10, 0));
}

fn quick_client(url: &str) -> ScimClient {
    let opts = ClientOptions {
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    ScimClient::new(url, Token::new(TOKEN), &BTreeMap::new(), false, opts).expect("client")
}

/// Plan with `site`, then apply through `url` (a proxy in front of `server`) with the library's
/// `apply`: the report.
async fn apply_through(
    server: &ScimServer,
    site: &Site,
    url: &str,
) -> (Plan, roster::apply::ApplyReport) {
    let plan = site.plan().await;
    let direct = quick_client(&server.url());
    let caps = direct.discover().await.unwrap();
    let state = direct
        .read_state(&["job_title".to_string()], &caps)
        .await
        .unwrap();
    let client = quick_client(url);
    let target = ScimTarget::new(client, caps, vec!["job_title".to_string()]);
    let report = roster::apply::apply(&target, &plan, &state).await;
    (plan, report)
}

#[tokio::test]
async fn a_bulk_request_refused_whole_is_sent_again_as_single_requests() {
    // 501 (no Bulk after all) and 413 (too large): nothing ran, so each write goes on its own.
    for status in [501, 413] {
        let server = ScimServer::start();
        let (site, _dir) = titles_site(&server, 10, "");
        let url = flaky_proxy(server.port, 1, status, 0).await;
        let (_, report) = apply_through(&server, &site, &url).await;
        assert!(report.is_complete(), "{status}: {report:#?}");
        assert!(titles(&server).values().all(|t| t == "New"));
        // Applied once each: a second write with the same If-Match would have been stale.
        server.settled_writes();
        assert_eq!(server.logged_at("POST", "Bulk"), 0, "{status}");
        assert_eq!(server.logged("PATCH"), 10, "{status}");
    }
    // 503: the server took nothing; the Bulk request is sent again as it was.
    let server = ScimServer::start();
    let (site, _dir) = titles_site(&server, 10, "");
    let url = flaky_proxy(server.port, 1, 503, 0).await;
    let (_, report) = apply_through(&server, &site, &url).await;
    assert!(report.is_complete(), "{report:#?}");
    server.settled_writes();
    assert_eq!(server.logged_at("POST", "Bulk"), 1);
    assert_eq!(server.logged("PATCH"), 0);
}

#[tokio::test]
async fn a_bulk_request_cut_off_after_it_ran_is_not_sent_twice() {
    // Ten new users; the answer to the Bulk request that creates them is cut after one byte:
    // the server created them, Roster cannot know, and a POST is not sent twice.
    let server = ScimServer::start();
    let dir = tempfile::tempdir().unwrap();
    let ldif = bulk_ldif(dir.path(), 10, "New");
    let site = Site::new(&server, &ldif, BULK_BODY);
    let proxy = CuttingProxy::start(server.port, 1, 1);
    let url = format!("http://127.0.0.1:{}/v2", proxy.port);
    let (plan, report) = apply_through(&server, &site, &url).await;
    assert_eq!(plan.summary.create, 10);
    assert_eq!(report.count("failed"), 10, "{report:#?}");
    assert_eq!(report.exit_code(), EXIT_PARTIAL);
    let Outcome::Failed { detail, .. } = outcome_of(&report, Action::Create, "u00003") else {
        panic!()
    };
    assert!(detail.contains("Bulk request"), "{detail}");
    // (The server does not log a request whose answer it could not send.)
    assert_eq!(proxy.connections(), 1, "not resent");
    assert_eq!(server.all_users().len(), 10, "each created once");
    // The next plan finds them created: nothing is left to do.
    assert!(site.plan().await.is_empty());
}

#[tokio::test]
async fn server_killed_mid_bulk_apply_leaves_a_partial_audit_and_a_rerun_converges() {
    // Bulk requests of 20; interrupted after the service answered 3 of them. The answer to the
    // last may still be on its way when the service stops (seen under load), so at least 40 of
    // their 60 writes are reported applied, as the single-request twin allows for its last few.
    killed_mid_apply(
        "    bulk: { batch: 20 }\n",
        |s| s.logged_at("POST", "Bulk") >= 3,
        40,
    )
    .await;
}
