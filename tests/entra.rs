//! The Entra ID source, end to end with the `roster` binary, against a local Graph-shaped server
//! (tests/support/graph_server.py, whose answers follow Microsoft's published examples: there is
//! no Entra ID emulator). Paging, nested groups, disabled and renamed users, hybrid immutable
//! IDs, throttling, an expired secret, a missing permission, a truncated read, the snapshot that
//! plans without network, and a real apply against scim2-server.

use std::path::Path;

use serde_json::{json, Value};

use crate::cli::{flat, roster, Run};
use crate::support::graph::{user, GraphServer, SECRET};

const ADA: &str = "0a1b2c3d-0000-4000-8000-00000000000a";
const BOB: &str = "0a1b2c3d-0000-4000-8000-00000000000b";
const CY: &str = "0a1b2c3d-0000-4000-8000-00000000000c";
const DEE: &str = "0a1b2c3d-0000-4000-8000-00000000000d";
const STAFF: &str = "5e6f7a8b-0000-4000-8000-0000000000a1";
const ENG: &str = "5e6f7a8b-0000-4000-8000-0000000000a2";
const ADMINS: &str = "5e6f7a8b-0000-4000-8000-0000000000a3";

/// Ada directly in Staff; Bob and Cy (disabled) in Engineering, nested in Staff; Dee in no
/// group; Bob in Admins. Two users a page, so every read pages.
fn tenant() -> Value {
    let mut dee = user(DEE, "dee@contoso.com", true);
    dee["onPremisesImmutableId"] = json!("ZGVlLWltbXV0YWJsZQ==");
    json!({
        "users": [
            user(ADA, "ada@contoso.com", true),
            user(BOB, "bob@contoso.com", true),
            user(CY, "cy@contoso.com", false),
            dee,
        ],
        "groups": [
            { "id": STAFF, "displayName": "Staff", "members": [ADA, ENG] },
            { "id": ENG, "displayName": "Engineering", "members": [BOB, CY] },
            { "id": ADMINS, "displayName": "Admins", "members": [BOB] },
        ],
        "faults": { "page_size": 2 },
    })
}

const EMPTY_INTRANET: &str = r#"{"users":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"startIndex":1,"itemsPerPage":0,"Resources":[]},
 "groups":{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"startIndex":1,"itemsPerPage":1,"Resources":[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"grp-1","displayName":"Sysadmins","members":[]}]}}"#;

/// A config folder reading `server`, with an intranet snapshot.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(server: &GraphServer, directory_extra: &str, rest: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("entra.secret"), SECRET).unwrap();
        std::fs::write(dir.path().join("intranet.json"), EMPTY_INTRANET).unwrap();
        let site = Site { dir };
        site.config(
            &server
                .directory_yaml()
                .replace("{ env: ROSTER_ENTRA_SECRET }", "{ file: entra.secret }"),
            directory_extra,
            rest,
        );
        site
    }

    fn config(&self, directory: &str, directory_extra: &str, rest: &str) {
        let rest = if rest.is_empty() {
            "syncing_groups:\n  - Staff\nadmin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members:\n      groups: [\"5e6f7a8b-0000-4000-8000-0000000000a3\"]\n"
        } else {
            rest
        };
        std::fs::write(
            self.dir.path().join("roster.yaml"),
            format!(
                "version: 1\n{directory}{directory_extra}intranet:\n  snapshot: intranet.json\n{rest}field_mappings:\n  email: mail\n  first_name: givenName\n  department: department\npolicy:\n  max_vanished: 100%\n"
            ),
        )
        .unwrap();
    }

    /// Replace `from` with `to` in the config.
    fn edit(&self, from: &str, to: &str) {
        let path = self.dir.path().join("roster.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        assert!(yaml.contains(from), "{yaml}");
        std::fs::write(path, yaml.replace(from, to)).unwrap();
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Run {
        roster(self.path(), args)
    }

    /// `roster plan --format json`, which must succeed and say `words` on stderr.
    fn plan_saying(&self, words: &str) -> Value {
        let r = self.run(&["plan", "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains(words), "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    }

    /// `roster plan --format json`, which must succeed.
    fn plan(&self) -> Value {
        let r = self.run(&["plan", "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    }
}

fn changes<'p>(plan: &'p Value, action: &str) -> Vec<&'p str> {
    let mut out: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == action)
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    out.sort_unstable();
    out
}

fn user_requests(server: &GraphServer) -> Vec<Value> {
    server
        .requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/v1.0/users?"))
        .collect()
}

#[test]
fn plan_pages_through_users_and_resolves_a_nested_group_by_display_name() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    let plan = site.plan();
    // Ada directly, Bob through Engineering nested in Staff; Cy is disabled, Dee in no group.
    assert_eq!(
        changes(&plan, "create"),
        ["ada@contoso.com", "bob@contoso.com"]
    );
    let created = &plan["changes"][0];
    assert_eq!(created["external_id"], ADA);
    // The role group named by object ID.
    assert_eq!(changes(&plan, "grant"), ["bob@contoso.com"]);

    let users = user_requests(&server);
    // Four users two a page: two pages, the second through @odata.nextLink.
    assert_eq!(users.len(), 2, "{users:?}");
    let first = users[0]["path"].as_str().unwrap();
    assert!(first.contains("$top=999"), "{first}");
    assert!(first.contains("$count=true"), "{first}");
    assert_eq!(users[0]["consistency"], "eventual");
    // Only the properties the config maps or keys on.
    assert!(
        first.contains("$select=id,userPrincipalName,accountEnabled,department,mail,givenName")
            || first
                .contains("$select=id,userPrincipalName,accountEnabled,department,givenName,mail"),
        "{first}"
    );
    assert!(users[1]["path"].as_str().unwrap().contains("$skiptoken="));
    // Members only of the groups the config names, through transitiveMembers.
    let members: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r["path"].as_str())
        .filter(|p| p.contains("/transitiveMembers/microsoft.graph.user"))
        .map(|p| p.split('/').nth(3).unwrap().to_owned())
        .collect();
    assert!(
        members.iter().all(|g| g == STAFF || g == ADMINS),
        "{members:?}"
    );
    assert!(!members.iter().any(|g| g == ENG), "{members:?}");
}

#[test]
fn a_disabled_user_is_blocked_and_a_rename_keeps_the_account() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    // The intranet already has Ada and Bob, linked by object ID.
    let account = |id: &str, username: &str, external: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": id, "userName": username, "externalId": external, "active": true,
            "emails": [{ "value": username, "type": "work", "primary": true }],
            "name": { "givenName": username.split('@').next().unwrap() },
            "meta": { "resourceType": "User", "version": "W/\"1\"" }
        })
    };
    let mut intranet: Value = serde_json::from_str(EMPTY_INTRANET).unwrap();
    intranet["users"]["Resources"] = json!([
        account("acc-ada", "ada@contoso.com", ADA),
        account("acc-bob", "bob@contoso.com", BOB),
    ]);
    intranet["users"]["totalResults"] = json!(2);
    intranet["users"]["itemsPerPage"] = json!(2);
    std::fs::write(site.path().join("intranet.json"), intranet.to_string()).unwrap();

    // Bob is disabled in Entra ID, and Ada's UPN changes (same object ID).
    let mut t = tenant();
    t["users"][0]["userPrincipalName"] = json!("ada.lovelace@contoso.com");
    t["users"][1]["accountEnabled"] = json!(false);
    server.set(t);
    let plan = site.plan();
    assert_eq!(changes(&plan, "block"), ["bob@contoso.com"], "{plan:#}");
    assert_eq!(changes(&plan, "rename"), ["ada.lovelace@contoso.com"]);
    let rename = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "rename")
        .unwrap();
    assert_eq!(rename["intranet_id"], "acc-ada");
    assert!(changes(&plan, "create").is_empty(), "{plan:#}");
}

#[test]
fn a_hybrid_tenant_keys_on_the_on_premises_immutable_id() {
    let server = GraphServer::start(tenant());
    let site = Site::new(
        &server,
        "  id_attribute: onPremisesImmutableId\n",
        "syncing_groups:\n  - Everyone\n",
    );
    let mut t = tenant();
    t["groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "everyone-id", "displayName": "Everyone", "members": [DEE] }));
    server.set(t);
    let plan = site.plan();
    let create = &plan["changes"][0];
    assert_eq!(create["username"], "dee@contoso.com");
    assert_eq!(create["external_id"], "ZGVlLWltbXV0YWJsZQ==");
    let first = user_requests(&server)[0]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first.contains("onPremisesImmutableId"), "{first}");

    // A cloud-only user (no onPremisesImmutableId) in the group is a conflict, not an account
    // keyed on nothing.
    let mut t = tenant();
    t["groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "everyone-id", "displayName": "Everyone", "members": [DEE, ADA] }));
    server.set(t);
    let r = site.run(&["plan"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        flat(&r.stderr).contains("has no `onPremisesImmutableId`"),
        "{}",
        r.stderr
    );
}

#[test]
fn throttling_is_retried_after_retry_after() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    let mut t = tenant();
    t["faults"]["throttle"] = json!(2);
    server.set(t);
    let plan = site.plan();
    assert_eq!(
        changes(&plan, "create"),
        ["ada@contoso.com", "bob@contoso.com"]
    );
    // Two answers were 429: the same requests went out again.
    let gets = server
        .requests()
        .iter()
        .filter(|r| r["method"] == "GET")
        .count();
    assert!(gets >= 2 + 7, "{gets}");

    // 503 too, and a service that never stops throttling is an error, not a partial read.
    let mut t = tenant();
    t["faults"]["throttle"] = json!(1000);
    t["faults"]["throttle_status"] = json!(503);
    server.set(t);
    let r = site.run(&["plan"]);
    assert_ne!(r.code, 0);
    assert!(
        flat(&r.stderr).contains("is still throttling (HTTP 503) after 6 attempts"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_expired_or_wrong_secret_says_so_and_never_shows_it() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    let mut t = tenant();
    t["faults"]["expired_secret"] = json!(true);
    server.set(t);
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let err = flat(&r.stderr);
    assert!(
        err.contains("the client secret is wrong or expired (AADSTS7000222)"),
        "{err}"
    );
    assert!(err.contains("New client secret"), "{err}");
    assert!(!r.stderr.contains(SECRET) && !r.stdout.contains(SECRET));

    server.set(tenant());
    std::fs::write(site.path().join("entra.secret"), "not-the-secret").unwrap();
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    assert!(
        flat(&r.stderr).contains("the client secret is wrong or expired (AADSTS7000215)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-the-secret"));

    // A secret that cannot be read names where it was looked for, before any traffic.
    std::fs::remove_file(site.path().join("entra.secret")).unwrap();
    let before = server.requests().len();
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    assert!(
        flat(&r.stderr).contains("could not read the Entra ID client secret from the file"),
        "{}",
        r.stderr
    );
    assert_eq!(server.requests().len(), before);
}

#[test]
fn a_missing_permission_names_the_one_to_grant() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    for (denied, permission) in [
        ("users", "User.Read.All"),
        ("members", "GroupMember.Read.All"),
    ] {
        let mut t = tenant();
        t["faults"]["deny"] = json!([denied]);
        server.set(t);
        let r = site.run(&["plan"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let err = flat(&r.stderr);
        assert!(err.contains("Authorization_RequestDenied"), "{err}");
        assert!(
            err.contains(&format!("application permission {permission}")),
            "{denied}: {err}"
        );
        assert!(err.contains("Grant admin consent"), "{err}");
    }
}

#[test]
fn a_truncated_read_is_an_error_and_nothing_is_planned() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    let mut t = tenant();
    // Paging stops after the first page, while @odata.count says four.
    t["faults"]["truncate"] = json!(true);
    server.set(t);
    let r = site.run(&["plan", "--format", "json"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        flat(&r.stderr).contains("the read of users is short: Graph counted 4 users but listed 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn groups_by_display_name_suggest_and_refuse_ambiguity() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "syncing_groups:\n  - Staf\n");
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    let err = flat(&r.stderr);
    assert!(
        err.contains("syncing group `Staf` is not in the directory"),
        "{err}"
    );
    assert!(err.contains("did you mean `Staff`?"), "{err}");

    let mut t = tenant();
    t["groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "other-staff", "displayName": "staff", "members": [DEE] }));
    server.set(t);
    let site = Site::new(&server, "", "syncing_groups:\n  - Staff\n");
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    let err = flat(&r.stderr);
    assert!(err.contains("names 2 groups of that name"), "{err}");
    assert!(err.contains("other-staff"), "{err}");
    // By object ID it is fine.
    let site = Site::new(&server, "", &format!("syncing_groups:\n  - \"{STAFF}\"\n"));
    assert_eq!(
        changes(&site.plan(), "create"),
        ["ada@contoso.com", "bob@contoso.com"]
    );
}

#[test]
fn a_snapshot_plans_to_the_same_plan_without_network() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    let live = site.plan();
    let r = site.run(&["snapshot", "directory", "-o", "entra.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("Wrote 4 users and 3 groups"),
        "{}",
        r.stderr
    );
    drop(server);
    site.config("directory:\n  entra_snapshot: entra.json\n", "", "");
    let offline = site.plan();
    assert_eq!(offline["changes"], live["changes"]);
    assert_eq!(
        offline["inputs"]["directory"], live["inputs"]["directory"],
        "the same directory digest"
    );
}

#[test]
fn a_group_whose_members_the_snapshot_did_not_read_is_refused_not_called_empty() {
    let server = GraphServer::start(tenant());
    // The config names Staff and Admins: only their members are read.
    let site = Site::new(&server, "", "");
    let r = site.run(&["snapshot", "directory", "-o", "entra.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop(server);
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(site.path().join("entra.json")).unwrap())
            .unwrap();
    let members = |name: &str| {
        snapshot["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["displayName"] == name)
            .unwrap()["members"]
            .clone()
    };
    assert_eq!(members("Engineering"), Value::Null, "{snapshot}");
    assert_eq!(members("Admins"), json!([BOB]));

    for engineering in ["Engineering", "{ group: Engineering, allow_empty: true }"] {
        site.config(
            "directory:\n  entra_snapshot: entra.json\n",
            "",
            &format!("syncing_groups:\n  - {engineering}\n"),
        );
        let r = site.run(&["plan"]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let err = flat(&r.stderr);
        assert!(err.contains("roster::resolve::group_not_read"), "{err}");
        assert!(
            err.contains(
                "syncing group `Engineering`: the members of this group were not read into this snapshot"
            ),
            "{err}"
        );
        assert!(
            err.contains("take the snapshot again with this group in the config"),
            "{err}"
        );
        // Never the advice to mark it empty (the config's own text aside).
        assert!(
            !err.contains("allow_empty") || engineering.contains("allow_empty"),
            "{err}"
        );
        assert!(!err.contains("write it as"), "{err}");
        assert!(!err.contains("no members"), "{err}");
    }
}

/// A self-signed RSA key and certificate, as one PEM file, made with the openssl command.
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=roster-test", "-keyout"])
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap();
    let cert = std::fs::read_to_string(dir.join(format!("{name}.crt"))).unwrap();
    (key, cert)
}

#[test]
fn a_certificate_signs_in_with_a_client_assertion() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    let (key, cert) = certificate(site.path(), "app");
    std::fs::write(site.path().join("app.pem"), format!("{key}{cert}")).unwrap();
    let mut t = tenant();
    t["certificate"] = json!(cert);
    server.set(t.clone());
    site.edit(
        "client_secret: { file: entra.secret }",
        "certificate: { file: app.pem }",
    );
    let plan = site.plan();
    assert_eq!(
        changes(&plan, "create"),
        ["ada@contoso.com", "bob@contoso.com"]
    );
    let token = &server.requests()[0];
    assert_eq!(token["method"], "POST");
    assert_eq!(token["grant_type"], "client_credentials");

    // Another key than the registered certificate's: Entra ID's AADSTS700027, shown as such.
    let (other_key, _) = certificate(site.path(), "other");
    std::fs::write(site.path().join("app.pem"), format!("{other_key}{cert}")).unwrap();
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    let err = flat(&r.stderr);
    assert!(
        err.contains("AADSTS700027: Client assertion failed signature validation"),
        "{err}"
    );
    assert!(!r.stderr.contains("PRIVATE KEY"), "{err}");

    // A PEM without its key is a diagnostic before any traffic.
    std::fs::write(site.path().join("app.pem"), &cert).unwrap();
    let before = server.requests().len();
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    let err = flat(&r.stderr);
    assert!(err.contains("cannot use the certificate"), "{err}");
    assert!(err.contains("it holds no PRIVATE KEY"), "{err}");
    assert_eq!(server.requests().len(), before);

    // Both credentials at once is a config error.
    site.edit(
        "certificate: { file: app.pem }",
        "certificate: { file: app.pem }\n    client_secret: { file: entra.secret }",
    );
    let r = site.run(&["validate", "--config-only"]);
    assert_eq!(r.code, 1);
    assert!(
        flat(&r.stderr).contains("`directory.entra` has both `client_secret` and `certificate`"),
        "{}",
        r.stderr
    );
}

#[test]
fn plan_and_apply_from_entra_to_a_real_scim_server() {
    use crate::support::git::git;
    use crate::support::scim::{ScimServer, TOKEN};
    let graph = GraphServer::start(tenant());
    let scim = ScimServer::start();
    scim.create_group("Sysadmins", &[]);
    let site = Site::new(&graph, "", "");
    std::fs::write(site.path().join("scim.token"), TOKEN).unwrap();
    site.edit(
        "intranet:\n  snapshot: intranet.json\n",
        &format!(
            "intranet:\n  scim:\n    url: {}\n    token: {{ file: scim.token }}\n",
            scim.url()
        ),
    );
    // The config lives in git, as apply's audit commit needs.
    std::fs::write(
        site.path().join(".gitignore"),
        "*.secret\n*.token\nplan.json\nintranet.json\n",
    )
    .unwrap();
    git(site.path(), &["init", "-q", "-b", "main"]);
    git(site.path(), &["add", "."]);
    git(site.path(), &["commit", "-qm", "config"]);
    let r = site.run(&["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = site.run(&["apply", "plan.json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let committed = git(site.path(), &["log", "--format=%s", "-1"]);
    assert!(committed.contains("apply"), "{committed}");
    let ada = scim.user_by_name("ada@contoso.com").expect("ada created");
    assert_eq!(ada["externalId"], ADA);
    assert!(scim.user_by_name("bob@contoso.com").is_some());
    assert!(scim.user_by_name("cy@contoso.com").is_none());
    // Converged: planning again changes nothing.
    let plan = site.plan();
    assert_eq!(plan["changes"], json!([]), "{plan:#}");
}

#[test]
fn a_warm_read_asks_only_for_changes_and_reads_everything_on_any_doubt() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    site.plan_saying("Read all 4 Entra ID users (no cache yet)");
    let cache: Vec<_> = std::fs::read_dir(site.path().join(".roster"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(cache.len(), 1, "{cache:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the cache holds profile data");
    }

    // Ada renamed, Dee deleted, Eve created in Staff: three changes, five users a page apart.
    let mut t = tenant();
    t["users"][0]["userPrincipalName"] = json!("ada.lovelace@contoso.com");
    t["users"].as_array_mut().unwrap().remove(3);
    t["users"].as_array_mut().unwrap().push(user(
        "0a1b2c3d-0000-4000-8000-00000000000e",
        "eve@contoso.com",
        true,
    ));
    t["groups"][0]["members"]
        .as_array_mut()
        .unwrap()
        .push(json!("0a1b2c3d-0000-4000-8000-00000000000e"));
    server.set(t.clone());
    let before = server.requests().len();
    let r = site.run(&["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "Read 4 Entra ID users through the delta query (3 changed since the cached read)"
        ),
        "{}",
        r.stderr
    );
    let warm: Value = serde_json::from_str(&r.stdout).unwrap();
    let paths: Vec<String> = server.requests()[before..]
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("/v1.0/users?")),
        "no full read: {paths:?}"
    );
    assert!(paths
        .iter()
        .any(|p| p.starts_with("/v1.0/users/delta?$deltatoken=")));
    assert!(paths.iter().any(|p| p == "/v1.0/users/$count"));
    assert_eq!(
        changes(&warm, "create"),
        [
            "ada.lovelace@contoso.com",
            "bob@contoso.com",
            "eve@contoso.com"
        ]
    );
    // The same plan as a full read of the same tenant.
    std::fs::remove_dir_all(site.path().join(".roster")).unwrap();
    let full = site.plan();
    assert_eq!(full["changes"], warm["changes"]);
    assert_eq!(full["inputs"]["directory"], warm["inputs"]["directory"]);

    // Graph lost the delta state (410 syncStateNotFound): a full read, the same plan.
    let mut lost = t.clone();
    lost["faults"]["lose_delta"] = json!(true);
    server.set(lost);
    let again =
        site.plan_saying("Read all 4 Entra ID users (Graph no longer knows the delta link)");
    assert_eq!(again["changes"], full["changes"]);

    // A cache that lost a user (a count that does not add up): a full read, nothing missed.
    server.set(t);
    let cache = std::fs::read_dir(site.path().join(".roster"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    doc["users"].as_array_mut().unwrap().remove(0);
    std::fs::write(&cache, doc.to_string()).unwrap();
    let again = site.plan_saying("(the cache and its changes hold 3 users, Graph counts 4)");
    assert_eq!(again["changes"], full["changes"]);

    // Another $select (a new mapping): the cache is not used.
    site.edit(
        "  department: department\n",
        "  department: department\n  job_title: { from: jobTitle, allow_empty: true }\n",
    );
    site.plan_saying("Read all 4 Entra ID users (no cache yet)");
    // `--refresh full` reads everything even with a good cache, and rewrites it.
    let r = site.run(&["plan", "--refresh", "full"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Read all 4 Entra ID users (--refresh full)"),
        "{}",
        r.stderr
    );
    site.plan_saying("Read 4 Entra ID users through the delta query (0 changed");
}

#[test]
fn every_missing_secret_is_named_at_once() {
    let server = GraphServer::start(tenant());
    let site = Site::new(&server, "", "");
    site.edit(
        "intranet:\n  snapshot: intranet.json\n",
        "intranet:\n  scim: { url: \"http://127.0.0.1:1/v2\", token: { file: scim.token } }\n",
    );
    std::fs::remove_file(site.path().join("entra.secret")).unwrap();
    let r = site.run(&["plan"]);
    assert_eq!(r.code, 1);
    let err = flat(&r.stderr);
    assert!(err.contains("2 secrets cannot be read"), "{err}");
    assert!(
        err.contains("`directory.entra.client_secret` from the file"),
        "{err}"
    );
    assert!(err.contains("`intranet.scim.token` from the file"), "{err}");
    assert!(server.requests().is_empty(), "nothing is sent before");
}

#[test]
fn an_extension_attribute_is_selected_and_mapped() {
    let mut t = tenant();
    t["users"][0]["extension_0a1b2c3d_costCenter"] = json!("CC-42");
    let server = GraphServer::start(t);
    let site = Site::new(&server, "", "");
    site.edit(
        "  department: department\n",
        "  department: department\n  job_title: { from: \"{extension_0a1b2c3d_costCenter}\", allow_empty: true }\n",
    );
    let plan = site.plan();
    let ada = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["username"] == "ada@contoso.com")
        .unwrap();
    assert!(ada.to_string().contains("CC-42"), "{ada}");
    let requests = user_requests(&server);
    assert!(
        requests[0]["path"]
            .as_str()
            .unwrap()
            .contains("extension_0a1b2c3d_costCenter"),
        "{requests:?}"
    );
}
