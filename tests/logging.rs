//! `-v`, `-vv` and `ROSTER_LOG`: the exchanges with a live slapd, a live SCIM service and a local
//! Graph on stderr, the plan alone on stdout, and no secret anywhere.

use std::path::Path;

use serde_json::{json, Value};

use crate::cli::{roster_env, Run};
use crate::support::graph::{user, GraphServer, SECRET};
use crate::support::scim::{ScimServer, TOKEN};
use crate::support::slapd::{Slapd, BASE_DN, LIMITED_DN, LIMITED_PW, PEOPLE};

const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=org";

/// `roster ARGS` in `dir`, the SCIM token in the environment, `ROSTER_LOG` as given.
fn roster(dir: &Path, args: &[&str], log: Option<&str>) -> Run {
    let token = ("ROSTER_SCIM_TOKEN", TOKEN);
    match log {
        Some(l) => roster_env(dir, args, &[token, ("ROSTER_LOG", l)]),
        None => roster_env(dir, args, &[token]),
    }
}

/// A live slapd (bound with a password) and a live SCIM service holding one account.
fn live_site() -> (tempfile::TempDir, Slapd, ScimServer) {
    let ldif = format!(
        "dn: uid=ada,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: ada\ncn: Ada\nsn: L\nmail: ada@example.org\n\n\
         dn: uid=bob,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob\nsn: M\nmail: bob@example.org\n\n\
         dn: {STAFF}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,{PEOPLE}\nmember: uid=bob,{PEOPLE}\n\n"
    );
    let slapd = Slapd::start(&ldif);
    let scim = ScimServer::start();
    scim.seed_users(&[crate::support::scim::user("ada", None)]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bind.pw"), LIMITED_PW).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        format!(
            "version: 1\n\
             directory:\n  ldap:\n    url: {ldap}\n    bind_dn: \"{LIMITED_DN}\"\n    password: {{ file: bind.pw }}\n    base_dn: \"{BASE_DN}\"\n    page_size: 1\n\
             intranet:\n  scim:\n    url: {scim}\n    token: {{ env: ROSTER_SCIM_TOKEN }}\n\
             syncing_groups: [\"{STAFF}\"]\n\
             field_mappings:\n  email: mail\n\
             policy:\n  max_vanished: 100%\n",
            ldap = slapd.url,
            scim = scim.url(),
        ),
    )
    .unwrap();
    (dir, slapd, scim)
}

#[test]
fn vv_logs_every_exchange_with_bodies_on_stderr_and_never_a_secret() {
    let (dir, _slapd, scim) = live_site();
    let quiet = roster(dir.path(), &["plan", "--format", "json"], None);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("scim exchange"), "{}", quiet.stderr);

    let run = roster(dir.path(), &["-vv", "plan", "--format", "json"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // stdout is exactly the plan (`| jq` keeps working): one JSON document, the same plan.
    let plan: Value = serde_json::from_str(&run.stdout).expect("stdout is the JSON plan alone");
    let quiet_plan: Value = serde_json::from_str(&quiet.stdout).unwrap();
    assert_eq!(plan["changes"], quiet_plan["changes"]);
    assert_eq!(plan["summary"], quiet_plan["summary"]);

    let err = &run.stderr;
    // The LDAP side: connect, bind (the DN), each search with base, scope, filter and the
    // result code, and the entries at -vv.
    assert!(err.contains("ldap bind"), "{err}");
    assert!(err.contains(&format!("bind_dn={LIMITED_DN}")), "{err}");
    assert!(err.contains("ldap search"), "{err}");
    assert!(err.contains(&format!("base={BASE_DN}")), "{err}");
    assert!(err.contains("scope=Subtree"), "{err}");
    assert!(
        err.contains("filter=(|(objectClass=inetOrgPerson)"),
        "{err}"
    );
    assert!(err.contains("rc=0"), "{err}");
    // page_size 1: the two users come in pages, each page counted.
    assert!(err.contains("page_size=1 pages=2 entries=2"), "{err}");
    assert!(err.contains("ldap entry"), "{err}");
    assert!(err.contains("ada@example.org"), "{err}");
    // The SCIM side: method, URL, status and time, and the bodies.
    assert!(err.contains("scim exchange"), "{err}");
    assert!(err.contains("method=GET"), "{err}");
    assert!(err.contains(&format!("url={}/Users", scim.url())), "{err}");
    assert!(err.contains("status=200"), "{err}");
    assert!(err.contains(" ms="), "{err}");
    assert!(err.contains("scim response body"), "{err}");
    assert!(err.contains(r#""userName":"ada""#), "{err}");
    // Never the token, the bind password or an Authorization header.
    assert!(!err.contains(TOKEN), "the token is on stderr");
    assert!(!err.contains(LIMITED_PW), "the bind password is on stderr");
    assert!(!err.to_ascii_lowercase().contains("authorization"), "{err}");
}

#[test]
fn one_v_logs_exchanges_without_bodies_and_roster_log_overrides() {
    let (dir, _slapd, _scim) = live_site();
    let run = roster(dir.path(), &["plan", "-v"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("scim exchange"), "{}", run.stderr);
    assert!(run.stderr.contains("ldap search"), "{}", run.stderr);
    assert!(!run.stderr.contains("scim response body"), "{}", run.stderr);
    assert!(!run.stderr.contains("ldap entry"), "{}", run.stderr);
    assert!(!run.stdout.contains("scim exchange"), "{}", run.stdout);

    // ROSTER_LOG picks what is logged, whatever -v says: here the LDAP side only.
    let run = roster(
        dir.path(),
        &["plan", "-vv"],
        Some("roster::directory=debug"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("ldap search"), "{}", run.stderr);
    assert!(!run.stderr.contains("scim exchange"), "{}", run.stderr);

    let run = roster(dir.path(), &["plan"], Some("roster=loud"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let flat = crate::cli::flat(&run.stderr);
    assert!(
        flat.contains("ROSTER_LOG=roster=loud is not a log filter"),
        "{flat}"
    );
    assert!(flat.contains("roster::log"), "{flat}");
}

#[test]
fn vv_against_graph_logs_the_sign_in_and_retries_but_never_the_secret_or_token() {
    let server = GraphServer::start(json!({
        "users": [user("11111111-0000-4000-8000-000000000001", "ada@contoso.com", true)],
        "groups": [{ "id": "5e6f7a8b-0000-4000-8000-0000000000a1", "displayName": "Staff",
                     "members": ["11111111-0000-4000-8000-000000000001"] }],
        "faults": { "throttle": 1 },
    }));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("entra.secret"), SECRET).unwrap();
    std::fs::write(
        dir.path().join("intranet.json"),
        r#"{"users":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]},
 "groups":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        format!(
            "version: 1\n{}intranet:\n  snapshot: intranet.json\nsyncing_groups:\n  - Staff\nfield_mappings:\n  email: mail\n",
            server
                .directory_yaml()
                .replace("{ env: ROSTER_ENTRA_SECRET }", "{ file: entra.secret }")
        ),
    )
    .unwrap();
    let run = roster(dir.path(), &["-vv", "plan", "--format", "json"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str::<Value>(&run.stdout).expect("stdout is the JSON plan alone");
    let err = &run.stderr;
    assert!(err.contains("graph exchange"), "{err}");
    assert!(err.contains("method=POST"), "{err}");
    assert!(err.contains("oauth2/v2.0/token"), "{err}");
    assert!(err.contains("graph retry"), "{err}");
    assert!(err.contains("reason=HTTP 429"), "{err}");
    assert!(err.contains("graph request body"), "{err}");
    assert!(err.contains("client_secret=%3Credacted%3E"), "{err}");
    assert!(err.contains(r#""access_token":"<redacted>""#), "{err}");
    assert!(!err.contains(SECRET), "the client secret is on stderr");
    assert!(!err.contains("Bearer "), "{err}");
}
