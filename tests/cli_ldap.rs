//! `roster` end to end against a private slapd: snapshot the live directory, and plan a block and
//! a rename from what the live directory holds.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

use roster::directory::ldif;
use roster::model::DirectoryState;

use crate::support::proxy::CuttingProxy;
use crate::support::slapd::{Slapd, BASE_DN, GROUPS, LIMITED_DN, LIMITED_PW, PEOPLE};

const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=org";

fn person(uid: &str) -> String {
    format!(
        "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: Núñez\nmail: {uid}@example.org\n\n"
    )
}

fn directory() -> String {
    let mut s: String = ["ada", "bob", "cy"].iter().map(|u| person(u)).collect();
    s.push_str(&format!(
        "dn: {STAFF}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,{PEOPLE}\nmember: uid=bob,{PEOPLE}\nmember: cn=nested,{GROUPS}\n\n\
         dn: cn=nested,{GROUPS}\nobjectClass: groupOfNames\ncn: nested\nmember: uid=cy,{PEOPLE}\nmember: {STAFF}\n\n"
    ));
    s
}

/// A config next to `dir` reading `server` live, with an intranet snapshot holding `accounts`.
fn write_config(server: &Slapd, dir: &Path, accounts: &[Value]) -> std::path::PathBuf {
    std::fs::write(dir.join("bind.pw"), LIMITED_PW).expect("password file");
    let list = |r: &[Value]| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": r.len(), "startIndex": 1, "itemsPerPage": r.len(), "Resources": r,
        })
    };
    let intranet = json!({ "users": list(accounts), "groups": list(&[]) });
    std::fs::write(dir.join("intranet.json"), intranet.to_string()).expect("intranet snapshot");
    let config = format!(
        "version: 1\n\
         directory:\n  ldap:\n    url: {url}\n    bind_dn: \"{LIMITED_DN}\"\n    password: {{ file: bind.pw }}\n    base_dn: \"{BASE_DN}\"\n\
         intranet:\n  snapshot: intranet.json\n\
         syncing_groups: [\"{STAFF}\"]\n\
         field_mappings:\n  email: mail\n",
        url = server.url
    );
    let path = dir.join("roster.yaml");
    std::fs::write(&path, config).expect("config");
    path
}

fn account(id: &str, username: &str, external_id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id, "userName": username, "externalId": external_id, "active": true,
        "emails": [{ "value": format!("{username}@example.org"), "type": "work", "primary": true }],
    })
}

/// `roster snapshot directory -c CONFIG -o OUT`, its stderr; it must succeed.
fn run_snapshot(config: &Path, out: &Path) -> String {
    let run = Command::cargo_bin("roster")
        .expect("the roster binary")
        .args(["snapshot", "directory", "-c"])
        .arg(config)
        .arg("-o")
        .arg(out)
        .assert()
        .success();
    String::from_utf8_lossy(&run.get_output().stderr).into_owned()
}

fn snapshot(config: &Path, out: &Path) -> DirectoryState {
    run_snapshot(config, out);
    let src = roster::diag::read_source(out).expect("read the snapshot");
    ldif::classify(ldif::parse(&src).expect("the snapshot reads back"))
}

fn plan_json(config: &Path) -> Value {
    let out = Command::cargo_bin("roster")
        .expect("the roster binary")
        .args(["plan", "--format", "json", "-c"])
        .arg(config)
        .output()
        .expect("run roster plan");
    assert!(
        out.status.code().is_some_and(|c| c != 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON plan")
}

fn uuid_of(state: &DirectoryState, uid: &str) -> String {
    let u = state
        .users
        .iter()
        .find(|u| u.first_text("uid") == Some(uid))
        .expect("user");
    u.first_text("entryuuid").expect("entryUUID").to_owned()
}

#[test]
fn snapshot_directory_writes_the_live_read_as_ldif_that_reads_back() {
    let server = Slapd::start(&directory());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[]);
    let out = dir.path().join("dir.ldif");
    let state = snapshot(&config, &out);
    assert_eq!(state.users.len(), 3);
    assert_eq!(state.groups.len(), 2);
    let ada = state
        .users
        .iter()
        .find(|u| u.first_text("uid") == Some("ada"))
        .expect("ada");
    assert_eq!(ada.first_text("sn"), None, "sn is not mapped, so not read");
    assert_eq!(ada.first_text("mail"), Some("ada@example.org"));
    assert_eq!(uuid_of(&state, "ada").len(), 36);
    let text = std::fs::read_to_string(&out).expect("snapshot text");
    assert!(
        !text.contains(LIMITED_PW),
        "the password is never in a snapshot"
    );
    assert!(text.starts_with("version: 1\n"));
}

#[test]
fn plan_against_live_ldap_blocks_a_removed_user_and_renames_a_renamed_one() {
    let server = Slapd::start(&directory());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[]);
    let before = snapshot(&config, &dir.path().join("before.ldif"));
    let accounts: Vec<Value> = ["ada", "bob", "cy"]
        .iter()
        .enumerate()
        .map(|(i, u)| account(&format!("scim-{i}"), u, &uuid_of(&before, u)))
        .collect();
    let config = write_config(&server, dir.path(), &accounts);

    server.modify(&format!(
        "dn: uid=ada,{PEOPLE}\nchangetype: modrdn\nnewrdn: uid=ada.lovelace\ndeleteoldrdn: 1\n"
    ));
    server.modify(&format!(
        "dn: {STAFF}\nchangetype: modify\ndelete: member\nmember: uid=bob,{PEOPLE}\n"
    ));

    let plan = plan_json(&config);
    assert_eq!(
        crate::support::world::json_actions(&plan),
        [
            ("block".to_owned(), "bob".to_owned()),
            ("rename".to_owned(), "ada.lovelace".to_owned())
        ],
        "{plan:#}"
    );
}

#[test]
fn a_mistyped_syncing_group_against_live_ldap_plans_nothing_and_says_which_was_meant() {
    let server = Slapd::start(&directory());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[account("scim-0", "ada", "old-id")]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("cn=staff,", "cn=staf,")).expect("typo");
    for args in [&["plan"][..], &["validate"][..]] {
        let out = Command::cargo_bin("roster")
            .expect("the roster binary")
            .args(args)
            .arg("-c")
            .arg(&config)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "200")
            .output()
            .expect("run roster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty() || args == ["validate"],
            "nothing is planned"
        );
        assert!(
            stderr.contains(&format!(
                "syncing group `cn=staf,{GROUPS}` is not in the directory"
            )) && stderr.contains(&format!("did you mean `{STAFF}`?")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(LIMITED_PW));
    }
}

#[test]
fn validate_finds_the_attribute_a_live_mapping_meant_on_a_whole_entry() {
    let server = Slapd::start(&directory());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("email: mail", "email: mial")).expect("typo");
    let run = |cmd: &str| {
        let out = Command::cargo_bin("roster")
            .expect("the roster binary")
            .args([cmd, "-c"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "400")
            .output()
            .expect("run roster");
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains(LIMITED_PW));
        assert!(
            stderr.contains("no syncing user has the attribute `mial` that `email` is mapped from"),
            "{cmd}: {stderr}"
        );
        stderr
    };
    // The plan's read asked only for `mial`: it says so, and where to look.
    let plan = run("plan");
    assert!(
        plan.contains("a live read asks the directory only for the attributes the config names")
            && !plan.contains("did you mean `mail`"),
        "{plan}"
    );
    // validate looks at the names on a whole entry (names only: typesOnly).
    let validate = run("validate");
    assert!(
        validate.contains("did you mean `mail`?")
            && validate.contains("`ada`'s whole entry")
            && !validate.contains("userpassword"),
        "{validate}"
    );
}

#[test]
fn a_read_that_had_to_be_retried_says_so_in_the_plan() {
    let server = Slapd::start(&directory());
    let proxy = CuttingProxy::start(server.port, 1, 600);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace(&server.url, &proxy.url()))
        .expect("config through the relay");
    let plan = plan_json(&config);
    assert_eq!(proxy.connections(), 2);
    let warnings = plan["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("dropped") && w.contains(&proxy.url()))),
        "{plan:#}"
    );
}

#[test]
fn a_password_over_plain_ldap_to_loopback_is_a_warning_in_every_plan_format() {
    let server = Slapd::start(&directory());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[]);
    let said = |w: &str| {
        w.contains("clear text")
            && w.contains("loopback")
            && w.contains(LIMITED_DN)
            && w.contains(&server.url)
    };
    let plan = plan_json(&config);
    let warnings = plan["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .filter_map(|w| w.as_str())
            .all(|w| !w.contains("  ")),
        "a warning's text has no runs of spaces: {warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.as_str().is_some_and(said)),
        "{plan:#}"
    );
    for format in ["text", "markdown"] {
        let out = Command::cargo_bin("roster")
            .expect("the roster binary")
            .args(["plan", "--color", "never", "--format", format, "-c"])
            .arg(&config)
            .output()
            .expect("run roster plan");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(said(&shown.replace('\n', " ")), "{format}:\n{shown}");
        assert!(!shown.contains(LIMITED_PW), "{format}: {shown}");
    }
}

/// `staff` (in `ou=groups`) holds ada, a group in another OU holding cy (and staff: a cycle), a
/// person outside `ou=people` and a DN no entry has.
fn directory_with_members_elsewhere() -> String {
    let mut s: String = ["ada", "cy"].iter().map(|u| person(u)).collect();
    s.push_str(&format!(
        "dn: ou=projects,{BASE_DN}\nobjectClass: organizationalUnit\nou: projects\n\n\
         dn: ou=partners,{BASE_DN}\nobjectClass: organizationalUnit\nou: partners\n\n\
         dn: uid=ext,ou=partners,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: ext\ncn: ext\nsn: ext\n\n\
         dn: cn=apollo,ou=projects,{BASE_DN}\nobjectClass: groupOfNames\ncn: apollo\nmember: uid=cy,{PEOPLE}\nmember: {STAFF}\n\n\
         dn: {STAFF}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,{PEOPLE}\n\
         member: cn=apollo,ou=projects,{BASE_DN}\nmember: uid=ext,ou=partners,{BASE_DN}\nmember: uid=ghost,{PEOPLE}\n\n"
    ));
    s
}

fn warnings_of(plan: &Value) -> Vec<String> {
    plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_nested_group_outside_groups_base_is_followed_and_other_strays_are_named() {
    let server = Slapd::start(&directory_with_members_elsewhere());
    let dir = tempfile::tempdir().expect("tempdir");
    let bases = format!(
        "    users: {{ base: \"{PEOPLE}\" }}\n    groups: {{ base: \"{GROUPS}\" }}\nintranet:"
    );
    let limit = |config: &Path| {
        let text = std::fs::read_to_string(config).expect("config");
        std::fs::write(config, text.replacen("intranet:", &bases, 1)).expect("search bases");
    };
    let config = write_config(&server, dir.path(), &[]);
    limit(&config);
    let live = snapshot(&config, &dir.path().join("live.ldif"));
    assert!(
        live.groups
            .iter()
            .any(|g| g.dn() == format!("cn=apollo,ou=projects,{BASE_DN}")),
        "the group outside groups.base is read and written to the snapshot"
    );
    // ada and cy have accounts: cy's only way in is through cn=apollo, outside groups.base.
    let accounts = [
        account("scim-0", "ada", &uuid_of(&live, "ada")),
        account("scim-1", "cy", &uuid_of(&live, "cy")),
    ];
    let config = write_config(&server, dir.path(), &accounts);
    limit(&config);
    let plan = plan_json(&config);
    assert_eq!(
        crate::support::world::json_actions(&plan),
        [],
        "cy keeps the account: {plan:#}"
    );
    let warnings = warnings_of(&plan);
    let staff = format!("group `{STAFF}`");
    assert!(
        warnings.iter().any(|w| w.starts_with(&staff)
            && w.contains(&format!("member `uid=ext,ou=partners,{BASE_DN}`"))
            && w.contains("neither a group nor a user Roster read")
            && w.contains(&format!("base `{PEOPLE}`"))),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with(&staff)
            && w.contains(&format!(
                "member `uid=ghost,{PEOPLE}` is in no entry of the directory"
            ))),
        "{warnings:#?}"
    );

    // Offline, the snapshot the live read wrote plans the same; without cn=apollo in the file,
    // cy is blocked and the plan says which member of staff was not found.
    let offline = |ldif: &str| {
        std::fs::write(dir.path().join("offline.ldif"), ldif).expect("ldif");
        let text = std::fs::read_to_string(&config).expect("config");
        let start = text.find("directory:\n").expect("directory key") + "directory:\n".len();
        let end = text.find("intranet:").expect("intranet key");
        let offline = dir.path().join("offline.yaml");
        std::fs::write(
            &offline,
            format!("{}  ldif: offline.ldif\n{}", &text[..start], &text[end..]),
        )
        .expect("offline config");
        plan_json(&offline)
    };
    let written = std::fs::read_to_string(dir.path().join("live.ldif")).expect("snapshot");
    let plan = offline(&written);
    assert_eq!(crate::support::world::json_actions(&plan), [], "{plan:#}");
    let without: String = written
        .split("\n\n")
        .filter(|record| !record.starts_with("dn: cn=apollo,"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let plan = offline(&without);
    assert_eq!(
        crate::support::world::json_actions(&plan),
        [("block".to_owned(), "cy".to_owned())],
        "{plan:#}"
    );
    let warnings = warnings_of(&plan);
    assert!(
        warnings.iter().any(|w| w.starts_with(&staff)
            && w.contains(&format!("`cn=apollo,ou=projects,{BASE_DN}`"))
            && w.contains("`uid=ghost,")
            && w.contains("in no entry of the snapshot")),
        "{warnings:#?}"
    );
}

/// Run `roster` under a pseudo-terminal (`script`), returning what the terminal showed.
pub(crate) fn on_a_terminal(args: &str) -> String {
    let roster = assert_cmd::cargo::cargo_bin("roster");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", roster.display()), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script (bsdutils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_read_longer_than_a_second_shows_progress_on_a_terminal_only() {
    let server = Slapd::start(
        &(0..1200)
            .map(|i| person(&format!("p{i:04}")))
            .collect::<String>(),
    );
    let proxy = CuttingProxy::slow(server.port, std::time::Duration::from_millis(40));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&server, dir.path(), &[]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace(&server.url, &proxy.url()))
        .expect("config through the relay");
    let out = dir.path().join("dir.ldif");

    let shown = on_a_terminal(&format!(
        "snapshot directory -c {} -o {}",
        config.display(),
        out.display()
    ));
    assert!(
        shown.contains(&format!("reading users from {}", proxy.url())),
        "{shown}"
    );
    // The rate as a whole number per second: `1200 entries (97/s)`, never `97.3812/s`.
    let rate = shown
        .rsplit("entries (")
        .next()
        .and_then(|r| r.split("/s)").next())
        .unwrap_or_default();
    assert!(
        !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit()),
        "{rate:?} in {shown}"
    );

    let stderr = run_snapshot(&config, &out);
    assert!(
        !stderr.contains("entries"),
        "no progress when stderr is not a terminal: {stderr}"
    );
    assert!(stderr.contains("Wrote 1200 users"), "{stderr}");

    // Logging on a terminal: the log lines, and no bar redrawn over them.
    let logged = on_a_terminal(&format!(
        "-v snapshot directory -c {} -o {}",
        config.display(),
        out.display()
    ));
    assert!(logged.contains("ldap search"), "{logged}");
    assert!(!logged.contains("reading users from"), "{logged}");
}
