//! `roster explain USER`: one test per rule it reports, against the quickstart (offline), and
//! one against a live slapd and scim2-server.

use serde_json::Value;

use crate::cli::{flat, roster, Run};
use crate::policy::quickstart_with_policy;

const CONFIG: &str = "examples/quickstart/roster.yaml";

fn explain(user: &str) -> Run {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    roster(&root, &["explain", user, "-c", CONFIG])
}

fn text(user: &str) -> String {
    let run = explain(user);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

fn json(user: &str) -> Value {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let run = roster(&root, &["explain", user, "-c", CONFIG, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn actions(e: &Value) -> Vec<&str> {
    e["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect()
}

#[test]
fn syncing_group_nesting_path() {
    let out = text("nina.new");
    assert!(
        out.contains("cn=intranet-users,ou=groups,dc=example,dc=com ⊃ cn=engineering,ou=groups,dc=example,dc=com ⊃ cn=platform,ou=groups,dc=example,dc=com ∋ nina.new"),
        "{out}"
    );
    let e = json("nina.new");
    assert_eq!(e["syncing"]["member"], true);
    assert_eq!(
        e["syncing"]["groups"][0]["path"],
        serde_json::json!([
            "cn=intranet-users,ou=groups,dc=example,dc=com",
            "cn=engineering,ou=groups,dc=example,dc=com",
            "cn=platform,ou=groups,dc=example,dc=com"
        ])
    );
}

#[test]
fn no_syncing_group_says_why() {
    let out = text("lena.left");
    assert!(
        out.contains("none: no syncing group (cn=intranet-users,ou=groups,dc=example,dc=com) holds uid=lena.left,ou=people,dc=example,dc=com"),
        "{out}"
    );
    let e = json("lena.left");
    assert_eq!(e["syncing"]["member"], false);
    assert_eq!(e["syncing"]["groups"], serde_json::json!([]));
}

#[test]
fn disabled_rule_and_the_value_it_matched() {
    let out = text("derek.stone");
    assert!(
        out.contains("Disabled rule: attribute `pwdAccountLockedTime` present and not FALSE"),
        "{out}"
    );
    assert!(
        out.contains("disabled: matched pwdAccountLockedTime: 000001010000Z"),
        "{out}"
    );
    let e = json("ada.lovelace");
    assert_eq!(e["disabled"]["disabled"], false);
    assert!(e["disabled"].get("matched").is_none());
}

#[test]
fn username_and_id_attributes() {
    let out = text("ada.lovelace");
    assert!(
        out.contains("username:  ada.lovelace (from uid)")
            && out.contains("ID:        1f28fbb3-0b59-5ecb-91a9-103a8022efb1 (from entryUUID)"),
        "{out}"
    );
    // Found by DN (any case) and by immutable ID (a GUID, any case) too.
    for query in [
        "UID=Ada.Lovelace, OU=People,DC=example,DC=com",
        "1F28FBB3-0B59-5ECB-91A9-103A8022EFB1",
        "ADA.LOVELACE",
    ] {
        assert_eq!(
            json(query)["directory"]["username"],
            "ada.lovelace",
            "{query}"
        );
    }
}

#[test]
fn mapped_field_with_template_both_sides_and_provenance() {
    let out = text("ken.thompson");
    assert!(
        out.contains(
            "display_name ← {givenName} {sn}\n      directory:    \"Ken Thompson\"\n      intranet:     \"ken\"\n      last applied: \"Ken Thompson\"\n      → edited in the intranet"
        ),
        "{out}"
    );
    let e = json("grace.hopper");
    let title = e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "job_title")
        .unwrap();
    assert_eq!(title["mapping"], "title");
    assert_eq!(title["directory"], "Rear Admiral");
    assert_eq!(title["intranet"], "Commodore");
    assert_eq!(title["provenance"], "changed in the directory");
    let email = e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "email")
        .unwrap();
    assert_eq!(email["provenance"], "in sync");
}

#[test]
fn role_membership_paths() {
    let out = text("bob.ops");
    assert!(
        out.contains("people_admin (People administrators): should hold, via cn=people-admins,ou=groups,dc=example,dc=com ⊃ cn=it-admins,ou=groups,dc=example,dc=com ∋ bob.ops; does not hold it"),
        "{out}"
    );
    assert_eq!(actions(&json("bob.ops")), ["grant", "grant"]);
    // Listed by username.
    let e = json("breakglass");
    let sysadmin = e["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "sysadmin")
        .unwrap();
    assert_eq!(
        (
            &sysadmin["should_hold"],
            &sysadmin["listed"],
            &sysadmin["holds"]
        ),
        (&Value::Bool(true), &Value::Bool(true), &Value::Bool(true))
    );
}

#[test]
fn protected_rule() {
    let out = text("breakglass");
    assert!(
        out.contains(
            "Protected: listed in policy.protected: never blocked, renamed or stripped of roles"
        ),
        "{out}"
    );
    assert_eq!(json("ada.lovelace")["protected"]["protected"], false);
}

#[test]
fn adopt_rule_links_an_unmanaged_account() {
    let out = text("ivan.petrov");
    assert!(out.contains("(unmanaged, active)"), "{out}");
    assert!(
        out.contains(
            "Adopt: policy.adopt is on: this unmanaged account has the username of a syncing user"
        ),
        "{out}"
    );
    assert!(out.contains("& link ivan.petrov"), "{out}");
}

#[test]
fn resulting_action_is_the_plans() {
    for (user, want) in [
        ("nina.new", vec!["create"]),
        ("derek.stone", vec!["block"]),
        ("jsmith", vec!["rename", "update"]),
        ("jane.smith", vec!["rename", "update"]),
        ("rita.return", vec!["reactivate"]),
        ("carl.former", vec!["revoke", "block"]),
        ("ada.lovelace", vec![]),
    ] {
        assert_eq!(actions(&json(user)), want, "{user}");
    }
    let out = text("ada.lovelace");
    assert!(
        out.contains("Action: none: the account matches the directory and the config"),
        "{out}"
    );
    let out = text("nina.new");
    assert!(
        out.contains("+ create nina.new  # enabled member of syncing group"),
        "{out}"
    );
}

/// The action lines read as the plan's own lines for the same changes, word for word (a rename
/// names both usernames, a role its intranet group, a link the directory ID); the JSON outcome
/// says the same.
#[test]
fn action_lines_are_the_plans_lines() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let plan = roster(&root, &["plan", "-c", CONFIG]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan_lines: Vec<&str> = plan.stdout.lines().collect();
    for (user, want) in [
        ("jsmith", "  → rename jsmith → jane.smith  # the directory user's username changed (same immutable ID)"),
        ("carl.former", "  - revoke sysadmin from carl.former (Sysadmins)  # not among the configured holders of sysadmin (and blocked)"),
        ("bob.ops", "  + grant people_admin to bob.ops (People administrators)  # should hold people_admin"),
        ("ivan.petrov", "  & link ivan.petrov to directory ID c7b9b41f-b19f-501a-a36f-cfa564e77614  # unmanaged account with the username of a syncing user (policy.adopt)"),
    ] {
        let out = text(user);
        let actions: Vec<&str> = out
            .split("Action (from the plan):\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{user}: no action lines in\n{out}"))
            .lines()
            .collect();
        assert!(actions.contains(&want), "{user}: {want:?} not in\n{out}");
        for line in &actions {
            assert!(plan_lines.contains(line), "{user}: {line:?} is not a line of the plan\n{}", plan.stdout);
        }
        let outcome = json(user)["outcome"].as_str().unwrap().to_owned();
        assert!(outcome.contains(want.trim()), "{user}: {outcome}");
    }
}

#[test]
fn intranet_only_accounts() {
    // Orphaned: managed, but no directory user has its ID.
    let e = json("gary.gone");
    assert_eq!(e["directory"], Value::Null);
    assert_eq!(e["account"]["kind"], "orphaned");
    assert_eq!(actions(&e), ["block"]);
    assert!(e["syncing"]["why"]
        .as_str()
        .unwrap()
        .contains("gone from the directory"));
    // Unmanaged: no externalId, no syncing user of that name.
    let out = text("breakglass");
    assert!(out.contains("no directory user"), "{out}");
    assert!(out.contains("(unmanaged, active)"), "{out}");
    assert!(
        out.contains(
            "Action: none: an unmanaged account no syncing user claims: Roster never changes it"
        ),
        "{out}"
    );
}

#[test]
fn not_found_says_did_you_mean() {
    let run = explain("ada");
    assert_eq!(run.code, 1);
    let err = flat(&run.stderr);
    assert!(err.contains("roster::explain::not_found"), "{err}");
    assert!(
        err.contains("no directory user or intranet account is ada"),
        "{err}"
    );
    assert!(err.contains("did you mean `ada.lovelace`?"), "{err}");
    assert!(run.stdout.is_empty());
    // A DN is compared with DNs.
    let run = explain("uid=ada.lovelace,ou=people,dc=example,dc=org");
    assert!(
        flat(&run.stderr).contains("did you mean `uid=ada.lovelace,ou=people,dc=example,dc=com`?"),
        "{}",
        run.stderr
    );
    let run = explain("nobody-at-all-here");
    assert_eq!(run.code, 1);
    assert!(
        !flat(&run.stderr).contains("did you mean"),
        "{}",
        run.stderr
    );
}

/// The files in `dir` with their contents, to tell that a run wrote nothing.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// A plan the safety policy refuses (`plan` exits 4) is explained with its refusals right under
/// the action, one line per rule in the refusal's own words: nothing would be applied. Explain
/// itself succeeds (exit 0), and writes nothing; the JSON says it in `refused`.
#[test]
fn a_refused_plan_says_nothing_would_be_applied() {
    let dir = quickstart_with_policy("  max_blocks: 2\n");
    let plan = roster(dir.path(), &["plan"]);
    assert_eq!(plan.code, 4, "{}", plan.stderr);
    let before = files(dir.path());
    let run = roster(dir.path(), &["explain", "derek.stone"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.ends_with(
            "Action (from the plan):\n  ⊘ block derek.stone  # disabled in the directory while still in a syncing group\n\
             The plan is refused by the safety policy (policy.max_blocks: the plan blocks 5 accounts, over policy.max_blocks (2)): nothing would be applied\n"
        ),
        "{}",
        run.stdout
    );
    // The refusal is the plan's, not this person's: said under "none" too.
    let run = roster(dir.path(), &["explain", "ada.lovelace"]);
    assert!(
        run.stdout.ends_with(
            "Action: none: the account matches the directory and the config\n\
             The plan is refused by the safety policy (policy.max_blocks: the plan blocks 5 accounts, over policy.max_blocks (2)): nothing would be applied\n"
        ),
        "{}",
        run.stdout
    );
    let run = roster(dir.path(), &["explain", "derek.stone", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let e: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        e["refused"],
        serde_json::json!([{
            "rule": "max_blocks",
            "message": "the plan blocks 5 accounts, over policy.max_blocks (2)"
        }])
    );
    assert_eq!(actions(&e), ["block"]);
    assert_eq!(files(dir.path()), before, "explain wrote a file");

    // Two rules, two lines, in the policy's order.
    let dir = quickstart_with_policy("  max_blocks: 2\n  licences: 3\n");
    let run = roster(dir.path(), &["explain", "rita.return"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let refused: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("The plan is refused"))
        .collect();
    assert_eq!(
        refused,
        [
            "The plan is refused by the safety policy (policy.max_blocks: the plan blocks 5 accounts, over policy.max_blocks (2)): nothing would be applied",
            "The plan is refused by the safety policy (policy.licences: after the plan 25 accounts would be active, over policy.licences (3); 27 are active now): nothing would be applied",
        ],
        "{}",
        run.stdout
    );

    // A plan the policy lets through says nothing of it, and its JSON has no `refused`.
    assert!(!text("derek.stone").contains("refused"));
    assert!(json("derek.stone").get("refused").is_none());
}

/// Each mapped field's `origin` is the plan's machine value for it (the same key and values as
/// the JSON plan's field changes), next to the wording for people in `provenance`.
#[test]
fn field_origin_is_the_plans() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let run = roster(&root, &["plan", "-c", CONFIG, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut seen = 0;
    for c in plan["changes"].as_array().unwrap() {
        if c["action"] != "update" {
            continue;
        }
        let e = json(c["username"].as_str().unwrap());
        for f in c["fields"].as_array().unwrap() {
            let rule = e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["field"] == f["name"])
                .unwrap_or_else(|| panic!("{}: no field {}", c["username"], f["name"]));
            assert_eq!(
                rule["origin"], f["origin"],
                "{}: {}",
                c["username"], f["name"]
            );
            seen += 1;
        }
    }
    assert!(seen >= 6, "{seen} fields compared");
    let field = |who: &str, name: &str| {
        json(who)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"] == name)
            .unwrap()
            .clone()
    };
    let ken = field("ken.thompson", "display_name");
    assert_eq!(
        (&ken["origin"], &ken["provenance"]),
        (
            &Value::from("intranet"),
            &Value::from("edited in the intranet")
        )
    );
    let grace = field("grace.hopper", "job_title");
    assert_eq!(
        (&grace["origin"], &grace["provenance"]),
        (
            &Value::from("directory"),
            &Value::from("changed in the directory")
        )
    );
    // In sync: no origin, as the plan has no change to give one to.
    let email = field("grace.hopper", "email");
    assert!(email.get("origin").is_none(), "{email}");
    assert_eq!(email["provenance"], "in sync");
}

#[test]
fn json_shape() {
    let e = json("jsmith");
    // (serde_json's map sorts keys.)
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "query",
        "directory",
        "account",
        "syncing",
        "disabled",
        "fields",
        "roles",
        "protected",
        "adopt",
        "changes",
        "warnings",
        "outcome",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(e["query"], "jsmith");
    assert_eq!(e["directory"]["username"], "jane.smith");
    assert_eq!(e["account"]["username"], "jsmith");
    assert_eq!(e["fields"].as_array().unwrap().len(), 7);
    assert_eq!(e["roles"].as_array().unwrap().len(), 2);
    assert_eq!(e["changes"][0]["fields"][0]["after"], "jane.smith");
}

/// Live: a real slapd and scim2-server, the same rules read over LDAP and SCIM.
#[test]
fn live_slapd_and_scim() {
    use crate::support::git::roster as run;
    use crate::support::scim::{user, ScimServer, TOKEN};
    use crate::support::slapd::{Slapd, BASE_DN, GROUPS, LIMITED_DN, LIMITED_PW, PEOPLE};

    let person = |uid: &str| {
        format!("dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\ngivenName: {uid}\nmail: {uid}@example.org\ntitle: Analyst\n\n")
    };
    let mut ldif: String = ["ada", "bob", "cy"].iter().map(|u| person(u)).collect();
    ldif.push_str(&format!(
        "dn: cn=staff,{GROUPS}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,{PEOPLE}\nmember: cn=analysts,{GROUPS}\n\n\
         dn: cn=analysts,{GROUPS}\nobjectClass: groupOfNames\ncn: analysts\nmember: uid=cy,{PEOPLE}\n\n\
         dn: cn=admins,{GROUPS}\nobjectClass: groupOfNames\ncn: admins\nmember: uid=bob,{PEOPLE}\n\n"
    ));
    let slapd = Slapd::start(&ldif);
    let scim = ScimServer::start();
    scim.create_group("Sysadmins", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bind.pw"), LIMITED_PW).unwrap();
    std::fs::write(
        dir.path().join("roster.yaml"),
        format!(
            "version: 1\n\
             directory:\n  ldap:\n    url: {ldap}\n    bind_dn: \"{LIMITED_DN}\"\n    password: {{ file: bind.pw }}\n    base_dn: \"{BASE_DN}\"\n\
             intranet:\n  scim:\n    url: {scim}\n    token: {{ env: ROSTER_SCIM_TOKEN }}\n\
             syncing_groups:\n  - \"cn=staff,{GROUPS}\"\n\
             field_mappings:\n  email: mail\n  job_title: title\n\
             admin_roles:\n  sysadmin:\n    intranet_group: Sysadmins\n    members:\n      groups: [\"cn=admins,{GROUPS}\"]\n",
            ldap = slapd.url,
            scim = scim.url(),
        ),
    )
    .unwrap();
    let explain = |who: &str| -> Value {
        let (code, out, err) = run(dir.path(), TOKEN, &["explain", who, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };

    // A nested member with no account yet: created.
    let cy = explain("CY");
    assert_eq!(
        cy["syncing"]["groups"][0]["path"],
        serde_json::json!([
            format!("cn=staff,{GROUPS}"),
            format!("cn=analysts,{GROUPS}")
        ])
    );
    assert_eq!(actions(&cy), ["create"]);
    // Not in a syncing group: no account is made, and the role path still shows.
    let bob = explain("bob");
    assert_eq!(bob["syncing"]["member"], false);
    assert_eq!(
        bob["roles"][0]["paths"],
        serde_json::json!([[format!("cn=admins,{GROUPS}")]])
    );
    assert_eq!(
        bob["outcome"],
        "none: not in a syncing group: no account is made"
    );

    // ada's account, edited in the intranet; and an account only the intranet has.
    let ada = explain("ada");
    let id = ada["directory"]["id"].as_str().unwrap().to_owned();
    assert_eq!(ada["directory"]["id_attribute"], "entryUUID");
    let mut body = user("ada", Some(&id));
    body["title"] = "Chief Everything".into();
    scim.seed_users(&[body, user("zed", None)]);
    let ada = explain(&id.to_uppercase());
    assert_eq!(ada["account"]["kind"], "managed");
    let title = ada["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "job_title")
        .unwrap();
    assert_eq!(
        (
            &title["directory"],
            &title["intranet"],
            &title["provenance"]
        ),
        (
            &Value::from("Analyst"),
            &Value::from("Chief Everything"),
            &Value::from("differs")
        )
    );
    // No state file: no origin, as the plan gives none.
    assert!(title.get("origin").is_none(), "{title}");
    assert_eq!(actions(&ada), ["update"]);
    let zed = explain("zed");
    assert_eq!(zed["directory"], Value::Null);
    assert_eq!(zed["account"]["kind"], "unmanaged");
    assert_eq!(actions(&zed), Vec::<&str>::new());

    // Not found, live too.
    let (code, _, err) = run(dir.path(), TOKEN, &["explain", "zedd"]);
    assert_eq!(code, 1);
    assert!(flat(&err).contains("did you mean `zed`?"), "{err}");
}

#[test]
fn readme_sample_is_the_real_output() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let out = text("ken.thompson");
    assert!(
        readme.contains(&format!(
            "$ roster explain ken.thompson --config examples/quickstart/roster.yaml\n{out}```"
        )),
        "README's explain sample differs from:\n{out}"
    );
}
