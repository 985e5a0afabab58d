//! The SCIM client, apply and audit against a real scim2-server.

use std::collections::BTreeMap;
use std::time::Duration;

use roster::intranet::scim::{ClientOptions, Endpoint, ScimClient, ScimError, Token};
use serde_json::json;

use crate::support::scim::{user, ScimServer, ENTERPRISE, TOKEN};

fn client_for(url: &str, token: &str) -> ScimClient {
    let opts = ClientOptions {
        retries: 1,
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    ScimClient::new(url, Token::new(token), &BTreeMap::new(), false, opts).expect("client")
}

fn client(server: &ScimServer) -> ScimClient {
    client_for(&server.url(), TOKEN)
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn discovery_reads_service_provider_config() {
    let server = ScimServer::start();
    let caps = client(&server).discover().await.expect("discover");
    assert!(caps.patch && caps.etag && caps.bulk && caps.filter && caps.enterprise);
    assert_eq!(caps.max_results, Some(1000));
}

#[tokio::test]
async fn reads_past_the_page_cap_completely() {
    let server = ScimServer::start();
    let users: Vec<_> = (0..2345)
        .map(|i| {
            let mut u = user(&format!("user{i:05}"), Some(&format!("ext-{i}")));
            u["emails"] = json!([{"type": "work", "value": format!("u{i}@example.org")}]);
            u
        })
        .collect();
    server.seed_users(&users);
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    // Ask for more than the cap: paging must follow the server's real page size.
    let all = c
        .list_all(Endpoint::Users, &[], Some(5000))
        .await
        .expect("list");
    assert_eq!(all.len(), 2345);
    let state = c
        .read_state(&fields(&["email"]), &caps)
        .await
        .expect("state");
    assert_eq!(state.accounts.len(), 2345);
    let mut names: Vec<_> = state.accounts.iter().map(|a| a.username.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2345);
    let a = state
        .accounts
        .iter()
        .find(|a| a.username == "user01234")
        .unwrap();
    assert_eq!(a.fields.get("email"), Some("u1234@example.org"));
    assert_eq!(a.external_id.as_deref(), Some("ext-1234"));
    assert!(a.etag.as_deref().is_some_and(|e| e.starts_with("W/")));
}

#[tokio::test]
async fn wrong_token_is_a_diagnostic_without_the_token() {
    let server = ScimServer::start();
    let err = client_for(&server.url(), "not-the-token-9z")
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScimError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("not-the-token-9z") && !shown.contains(TOKEN));
    let d: &dyn miette::Diagnostic = &err;
    assert_eq!(d.code().unwrap().to_string(), "roster::scim::unauthorized");
    assert!(d.help().unwrap().to_string().contains("token"));
}

#[tokio::test]
async fn unreachable_server_is_a_diagnostic() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v2");
    let err = client_for(&url, "t").discover().await.unwrap_err();
    let ScimError::Unreachable { url: u, what } = &err else {
        panic!("{err:?}")
    };
    assert!(u.contains(&port.to_string()));
    assert!(what.contains("connect"), "{what}");
    let d: &dyn miette::Diagnostic = &err;
    assert_eq!(d.code().unwrap().to_string(), "roster::scim::unreachable");
}

#[tokio::test]
async fn missing_enterprise_schema_is_a_diagnostic() {
    let server = ScimServer::start_without_enterprise();
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    assert!(!caps.enterprise);
    let err = c
        .read_state(&fields(&["email", "department"]), &caps)
        .await
        .unwrap_err();
    assert!(matches!(err, ScimError::SchemaMissing { .. }), "{err:?}");
    assert!(err.to_string().contains(ENTERPRISE) && err.to_string().contains("department"));
    // Without enterprise fields the same server reads fine.
    assert!(c.read_state(&fields(&["email"]), &caps).await.is_ok());
}

#[tokio::test]
async fn snapshot_form_round_trips_through_the_snapshot_reader() {
    let server = ScimServer::start();
    let ids = server.seed_users(&[user("ada", Some("e1")), user("bob", None)]);
    server.create_group("admins", &[&ids[0]]);
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    let snap = c.snapshot(&caps).await.unwrap();
    let src = roster::diag::Source::new(std::path::Path::new("intranet.json"), snap.to_string());
    let res = roster::intranet::snapshot::parse_snapshot(&src).expect("snapshot parses");
    let from_file = roster::intranet::snapshot::state_from_resources(&res.users, &res.groups, &[]);
    let live = c.read_state(&[], &caps).await.unwrap();
    assert_eq!(from_file, live);
    assert_eq!(live.groups[0].members, vec![ids[0].clone()]);
}

// ---- apply and audit, end to end through the library (config → observe → plan → apply) ----

use std::path::{Path, PathBuf};
use std::process::Command;

use roster::apply::Outcome;
use roster::commands::apply::{apply_saved, check_fresh, ApplyOptions};
use roster::exit::{OK as EXIT_OK, PARTIAL as EXIT_PARTIAL};
use roster::plan::{Action, Plan};
use serde_json::Value;

pub(crate) const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart");

/// A git work tree holding a config that points at `server`, with one committed file and
/// uncommitted changes of the user's own.
pub(crate) struct Site {
    dir: tempfile::TempDir,
    /// More `intranet.scim` settings (YAML lines indented by four spaces).
    scim_extra: String,
}

impl Site {
    pub(crate) fn new(server: &ScimServer, ldif: &Path, config_body: &str) -> Site {
        Site::with_scim(server, ldif, config_body, "")
    }

    pub(crate) fn with_scim(
        server: &ScimServer,
        ldif: &Path,
        config_body: &str,
        scim_extra: &str,
    ) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let site = Site {
            dir,
            scim_extra: scim_extra.to_string(),
        };
        site.git(&["init", "-q"]);
        site.git(&["config", "user.name", "Site Owner"]);
        site.git(&["config", "user.email", "owner@example.org"]);
        std::fs::write(site.path("notes.txt"), "committed\n").unwrap();
        site.git(&["add", "notes.txt"]);
        site.git(&["commit", "-qm", "init"]);
        std::fs::write(site.path("notes.txt"), "edited, not committed\n").unwrap();
        std::fs::write(site.path("scratch.txt"), "untracked\n").unwrap();
        std::fs::write(site.path("token.txt"), format!("{TOKEN}\n")).unwrap();
        site.point_at(server, ldif, config_body);
        site
    }

    pub(crate) fn point_at(&self, server: &ScimServer, ldif: &Path, config_body: &str) {
        let scim = format!(
            "intranet:\n  scim:\n    url: {}\n    token: {{ file: token.txt }}\n    concurrency: 4\n{}",
            server.url(),
            self.scim_extra
        );
        let yaml = format!(
            "version: 1\ndirectory:\n  ldif: {}\n  id_attribute: entryUUID\n  username_attribute: uid\n  disabled: {{ attribute: pwdAccountLockedTime }}\n{scim}{config_body}",
            ldif.display()
        );
        std::fs::write(self.path("roster.yaml"), yaml).unwrap();
    }

    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn loaded(&self) -> roster::config::Loaded {
        roster::config::load(&self.path("roster.yaml")).expect("config loads")
    }

    pub(crate) async fn plan(&self) -> Plan {
        let cfg = self.loaded();
        let observed = roster::observe::observe(&cfg).await.expect("observe");
        roster::reconcile::plan(&cfg, &observed).expect("plan")
    }

    pub(crate) async fn apply(&self, plan: &Plan) -> roster::commands::apply::Applied {
        let opts = ApplyOptions {
            audit_dir: self.path("audit"),
            no_commit: false,
            now: std::time::UNIX_EPOCH + Duration::from_secs(1_795_655_984),
            runner: "ci-runner <ci@example.org>".into(),
            author: None,
            refresh: roster::intranet::scim::cache::Refresh::Auto,
            allow_dirty: false,
            unattended: false,
            approved_by: None,
            interrupt: Default::default(),
        };
        apply_saved(&self.loaded(), plan, &opts)
            .await
            .expect("apply runs")
    }
}

/// The quickstart's config body (everything after `intranet:`), reused against a live server.
pub(crate) fn quickstart_body() -> String {
    let text = std::fs::read_to_string(format!("{QUICKSTART}/roster.yaml")).unwrap();
    let start = text.find("syncing_groups:").unwrap();
    text[start..].to_string()
}

pub(crate) fn seed_quickstart(server: &ScimServer) {
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{QUICKSTART}/intranet.json")).unwrap(),
    )
    .unwrap();
    let users = snap["users"]["Resources"].as_array().unwrap().clone();
    let groups = snap["groups"]["Resources"].as_array().unwrap().clone();
    server.seed_snapshot(&users, &groups);
}

fn quickstart_site(server: &ScimServer) -> Site {
    quickstart_site_with(server, "")
}

/// The quickstart seeded into `server`, with more `intranet.scim` settings.
pub(crate) fn quickstart_site_with(server: &ScimServer, scim_extra: &str) -> Site {
    seed_quickstart(server);
    Site::with_scim(
        server,
        &PathBuf::from(format!("{QUICKSTART}/directory.ldif")),
        &quickstart_body(),
        scim_extra,
    )
}

pub(crate) fn outcome_of<'a>(
    r: &'a roster::apply::ApplyReport,
    action: Action,
    username: &str,
) -> &'a Outcome {
    &r.outcomes
        .iter()
        .find(|o| o.change.action == action && o.change.username == username)
        .expect("change")
        .outcome
}

#[tokio::test]
async fn every_action_applies_and_a_second_plan_is_empty() {
    let server = ScimServer::start();
    let site = quickstart_site(&server);
    let plan = site.plan().await;
    for a in Action::ALL {
        assert!(
            plan.changes.iter().any(|c| c.action == a),
            "the quickstart plan has no {a:?}"
        );
    }
    let applied = site.apply(&plan).await;
    let failed: Vec<_> = applied
        .report
        .outcomes
        .iter()
        .filter(|o| o.outcome != Outcome::Applied)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(applied.report.exit_code(), EXIT_OK);

    let again = site.plan().await;
    assert!(again.is_empty(), "second plan: {:#?}", again.changes);

    // Independent check with curl.
    let nina = server.user_by_name("nina.new").expect("nina.new created");
    assert_eq!(nina["emails"][0]["value"], "nina.new@example.com");
    assert_eq!(nina[ENTERPRISE]["department"], "Engineering");
    assert!(nina["externalId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(server.user_by_name("jsmith").is_none());
    let jane = server.user_by_name("jane.smith").expect("renamed");
    assert_eq!(jane["emails"][0]["value"], "jane.smith@example.com");
    assert_eq!(server.user_by_name("carl.former").unwrap()["active"], false);
    assert_eq!(server.user_by_name("rita.return").unwrap()["active"], true);
    assert!(server.user_by_name("ivan.petrov").unwrap()["externalId"].is_string());
    let groups = server.curl_get("Groups");
    let sysadmins = groups["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == "Sysadmins")
        .unwrap();
    let members: Vec<&str> = sysadmins["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    let id = |n: &str| {
        server.user_by_name(n).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(members.contains(&id("bob.ops").as_str()));
    assert!(!members.contains(&id("carl.former").as_str()));
    assert!(
        members.contains(&id("breakglass").as_str()),
        "protected member kept"
    );

    // The audit commit holds only the audit files (report and state file); the user's own
    // changes stay uncommitted.
    let commit = applied.audit.commit.clone().expect("committed");
    let files = site.git(&["show", "--name-only", "--format=", &commit]);
    let mut files: Vec<&str> = files.lines().filter(|l| !l.is_empty()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "audit/20261126T011944Z-".to_string() + &short(&plan) + ".csv",
            "audit/20261126T011944Z-".to_string() + &short(&plan) + ".md",
            "roster.state.json".to_string(),
        ]
    );
    let message = site.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.contains(&format!(
            "Plan-Digest: {}",
            roster::audit::plan_digest(&plan)
        )),
        "{message}"
    );
    // Plain text, not the Markdown report's escapes.
    assert!(
        message.contains("- Run by: ci-runner <ci@example.org> as ") && !message.contains("&lt;"),
        "{message}"
    );
    assert_eq!(
        site.git(&["log", "-1", "--format=%an <%ae>"]).trim(),
        "Site Owner <owner@example.org>"
    );
    let status = site.git(&["status", "--porcelain"]);
    assert!(
        status.contains(" M notes.txt") && status.contains("?? scratch.txt"),
        "{status}"
    );
    assert!(!status.contains("audit/"), "{status}");

    // The CSV: exactly the audit log's columns, one row per change.
    let mut r = csv::Reader::from_path(&applied.audit.csv).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "Date/Time",
            "User name",
            "Impersonated user",
            "IP address / Proxy IP",
            "Type",
            "Category",
            "Subcategory",
            "Object",
            "Details"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), plan.changes.len());
    assert!(rows.iter().all(|row| row.len() == 9
        && &row[1] == "ci-runner <ci@example.org>"
        && &row[5] == "Sync"
        && &row[3] == "127.0.0.1"));
    let grant = rows.iter().find(|row| &row[6] == "grant").unwrap();
    assert_eq!(&grant[4], "Groups");
    assert!(grant[8].ends_with("outcome: applied"));
    let md = std::fs::read_to_string(&applied.audit.markdown).unwrap();
    assert!(
        md.contains(&format!(
            "{} applied, 0 failed, 0 stale",
            plan.changes.len()
        )),
        "{md}"
    );
    // The token never reaches the report.
    assert!(
        !std::fs::read_to_string(&applied.audit.csv)
            .unwrap()
            .contains(TOKEN)
            && !md.contains(TOKEN)
    );
}

fn short(plan: &Plan) -> String {
    roster::audit::plan_digest(plan).trim_start_matches("sha256:")[..12].to_string()
}

#[tokio::test]
async fn edit_between_plan_and_apply_is_stale_and_a_rerun_converges() {
    let server = ScimServer::start();
    let site = quickstart_site(&server);
    let plan = site.plan().await;
    // Someone edits alan.turing (an attribute Roster does not map): the plan still does the
    // same, but alan's ETag moved.
    server.replace_attribute("alan.turing", "nickName", "Al");
    let applied = site.apply(&plan).await;
    assert!(matches!(
        outcome_of(&applied.report, Action::Update, "alan.turing"),
        Outcome::Stale { .. }
    ));
    assert_eq!(applied.report.count("stale"), 1);
    assert_eq!(applied.report.count("applied"), plan.changes.len() - 1);
    assert_eq!(applied.report.exit_code(), EXIT_PARTIAL);
    let csv = std::fs::read_to_string(&applied.audit.csv).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.contains("alan.turing") && l.contains("stale")),
        "{csv}"
    );
    // The department was not written.
    assert_eq!(
        server.user_by_name("alan.turing").unwrap()[ENTERPRISE]["department"],
        "Research"
    );

    let rerun = site.plan().await;
    assert_eq!(rerun.changes.len(), 1);
    assert_eq!(
        (rerun.changes[0].action, rerun.changes[0].username.as_str()),
        (Action::Update, "alan.turing")
    );
    assert!(site.apply(&rerun).await.report.is_complete());
    assert!(site.plan().await.is_empty());
    assert_eq!(
        server.user_by_name("alan.turing").unwrap()[ENTERPRISE]["department"],
        "Engineering"
    );
}

#[tokio::test]
async fn a_plan_the_intranet_no_longer_matches_is_refused_before_any_write() {
    let server = ScimServer::start();
    let site = quickstart_site(&server);
    let plan = site.plan().await;
    // A mapped field edited by hand: the fresh plan differs, so nothing may be applied.
    server.replace_attribute("grace.hopper", "title", "Rear Admiral");
    let before = server.settled_writes();
    let opts = ApplyOptions {
        audit_dir: site.path("audit"),
        no_commit: true,
        now: std::time::UNIX_EPOCH,
        runner: "ci".into(),
        author: None,
        refresh: roster::intranet::scim::cache::Refresh::Auto,
        allow_dirty: false,
        unattended: false,
        approved_by: None,
        interrupt: Default::default(),
    };
    let err = apply_saved(&site.loaded(), &plan, &opts).await.unwrap_err();
    let stale = err
        .downcast_ref::<roster::commands::apply::StalePlan>()
        .expect("a StalePlan diagnostic");
    assert_eq!(
        stale.differences,
        ["- no longer needed: update grace.hopper"]
    );
    assert_eq!(
        server.settled_writes(),
        before,
        "no write after the refusal"
    );
    assert!(!site.path("audit").exists());
    // A changed config is refused as well.
    let fresh = site.plan().await;
    let e = check_fresh(&fresh, "sha256:other", &fresh).unwrap_err();
    assert!(e.differences[0].contains("config changed"));
}

/// A directory of `n` syncing users whose title is `title`.
pub(crate) fn bulk_ldif(dir: &Path, n: usize, title: &str) -> PathBuf {
    let mut s = String::from("version: 1\n\ndn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n\n");
    for i in 0..n {
        s.push_str(&format!(
            "dn: uid=u{i:05},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: u{i:05}\ncn: U {i}\nsn: U\ntitle: {title}\nentryUUID: 00000000-0000-4000-8000-{i:012}\n\n"
        ));
    }
    s.push_str("dn: cn=staff,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: staff\n");
    for i in 0..n {
        s.push_str(&format!(
            "member: uid=u{i:05},ou=people,dc=example,dc=com\n"
        ));
    }
    let path = dir.join("directory.ldif");
    std::fs::write(&path, s).unwrap();
    path
}

pub(crate) fn bulk_users(n: usize, title: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut u = user(
                &format!("u{i:05}"),
                Some(&format!("00000000-0000-4000-8000-{i:012}")),
            );
            u["title"] = json!(title);
            u
        })
        .collect()
}

pub(crate) const BULK_BODY: &str = "syncing_groups: [\"cn=staff,ou=groups,dc=example,dc=com\"]\nfield_mappings:\n  job_title: title\n";

#[tokio::test]
async fn server_killed_mid_apply_leaves_a_partial_audit_and_a_rerun_converges() {
    // Single requests (Bulk off); `scim_bulk` has the Bulk twin. Interrupted after 60 PATCHes.
    killed_mid_apply(
        "    bulk: { enabled: false }\n",
        |s| s.logged("PATCH") >= 60,
        50,
    )
    .await;
}

/// Apply 400 updates, interrupt the server once `taken` says it has taken enough writes: the
/// apply ends partial (at least `min_applied` applied, the rest failed), audited and committed;
/// against a server holding what the first one stored, a new plan and apply converge.
pub(crate) async fn killed_mid_apply(
    scim_extra: &str,
    taken: impl Fn(&ScimServer) -> bool,
    min_applied: usize,
) {
    const N: usize = 400;
    let mut server = ScimServer::start_dumping();
    server.seed_users(&bulk_users(N, "Old"));
    let ldif_dir = tempfile::tempdir().unwrap();
    let ldif = bulk_ldif(ldif_dir.path(), N, "New");
    let site = Site::with_scim(&server, &ldif, BULK_BODY, scim_extra);
    let plan = site.plan().await;
    assert_eq!(plan.summary.update, N);

    let apply = site.apply(&plan);
    let killer = async {
        while !taken(&server) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.interrupt()
    };
    let (applied, dump) = tokio::join!(apply, killer);
    let r = &applied.report;
    assert_eq!(r.outcomes.len(), N);
    assert!(
        r.count("applied") >= min_applied && r.count("failed") > 0,
        "applied {} failed {}",
        r.count("applied"),
        r.count("failed")
    );
    assert_eq!(r.count("applied") + r.count("failed"), N);
    assert_eq!(r.exit_code(), EXIT_PARTIAL);
    assert!(
        applied.audit.commit.is_some(),
        "a partial apply is audited and committed"
    );
    let csv = std::fs::read_to_string(&applied.audit.csv).unwrap();
    assert_eq!(csv.lines().count(), N + 1);
    assert!(csv.contains("outcome: failed"));
    let md = std::fs::read_to_string(&applied.audit.markdown).unwrap();
    assert!(md.contains("partial"), "{md}");

    // The service comes back with what it had stored; plan again and apply: converges.
    let users: Vec<Value> = dump
        .into_iter()
        .filter(|r| r["meta"]["resourceType"] == "User")
        .collect();
    assert_eq!(users.len(), N);
    let back = ScimServer::start();
    back.seed_snapshot(&users, &[]);
    site.point_at(&back, &ldif, BULK_BODY);
    let rerun = site.plan().await;
    assert!(
        !rerun.is_empty() && rerun.changes.len() <= N - min_applied,
        "rerun has {} changes",
        rerun.changes.len()
    );
    assert!(site.apply(&rerun).await.report.is_complete());
    assert!(site.plan().await.is_empty());
    assert!(back.all_users().iter().all(|u| u["title"] == "New"));
}

#[test]
fn no_delete_request_anywhere_in_the_code() {
    fn scan(dir: &Path, hits: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, hits);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for needle in ["Method::DELETE", ".delete(", "\"DELETE\""] {
                    if text.contains(needle) {
                        hits.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
    }
    let mut hits = Vec::new();
    scan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut hits,
    );
    assert!(hits.is_empty(), "{hits:?}");
}

#[tokio::test]
async fn busy_answers_are_retried_after_retry_after() {
    let server = ScimServer::start();
    let url = crate::support::scim::flaky_proxy(server.port, 2, 503, 1).await;
    let opts = ClientOptions {
        retries: 3,
        backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    };
    let c = ScimClient::new(&url, Token::new(TOKEN), &BTreeMap::new(), false, opts).unwrap();
    let started = std::time::Instant::now();
    let caps = c.discover().await.expect("succeeds after two 503s");
    assert!(caps.patch);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 honoured twice: {:?}",
        started.elapsed()
    );

    // Out of retries: the 429 is reported with its status.
    let url = crate::support::scim::flaky_proxy(server.port, 10, 429, 0).await;
    let opts = ClientOptions {
        retries: 2,
        backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    };
    let c = ScimClient::new(&url, Token::new(TOKEN), &BTreeMap::new(), false, opts).unwrap();
    assert_eq!(c.discover().await.unwrap_err().status(), Some(429));
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let server = ScimServer::start();
    server.seed_users(&[user("taken", None)]);
    let c = client(&server);
    let before = server.settled_writes();
    let err = c.create_user(&user("taken", None)).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(err.to_string().contains("uniqueness"), "{err}");
    assert_eq!(server.settled_writes(), before + 1, "one POST, no retry");
}
