//! Active Directory, for real: `roster` end to end against Samba's AD DC (tests/support/samba.rs)
//! over LDAPS and StartTLS. objectGUID as the ID, userAccountControl's disabled bit,
//! sAMAccountName and userPrincipalName usernames, nested groups checked against the server's
//! own `LDAP_MATCHING_RULE_IN_CHAIN`, large groups, primary groups (Domain Users), names with
//! commas and accents, moves, continuation references, the global catalog, and the AD data codes
//! of failed binds. Each test has its own OU in the one shared domain.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};

use crate::support::samba::{
    ad, group, password, user, Ad, ADMIN_DN, ADMIN_PW, DOMAIN_DN, DOMAIN_USERS, LOCKOUT_THRESHOLD,
    REALM, USER_PW,
};
use crate::support::world::json_actions as actions;

/// `LDAP_MATCHING_RULE_IN_CHAIN`: AD's own transitive membership.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// What a test's config reads and from where.
struct Setup {
    dir: tempfile::TempDir,
    url: String,
    start_tls: bool,
    base_dn: String,
    ldap_extra: String,
    username_attribute: &'static str,
    syncing: Vec<String>,
    accounts: Vec<Value>,
    bind_dn: String,
    password: String,
    /// `directory.disabled`, if written (objectGUID implies `active_directory`).
    disabled: Option<&'static str>,
}

impl Setup {
    fn new(ad: &Ad) -> Setup {
        Setup {
            dir: tempfile::tempdir().expect("tempdir"),
            url: ad.server.ldaps_url(636),
            start_tls: false,
            base_dn: ad.ou.clone(),
            ldap_extra: String::new(),
            username_attribute: "sAMAccountName",
            syncing: Vec::new(),
            accounts: Vec::new(),
            bind_dn: ADMIN_DN.to_owned(),
            password: ADMIN_PW.to_owned(),
            disabled: Some("active_directory"),
        }
    }

    fn write(&self, ad: &Ad) -> PathBuf {
        let dir = self.dir.path();
        std::fs::write(dir.join("bind.pw"), &self.password).expect("password file");
        let list = |r: &[Value]| {
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": r.len(), "startIndex": 1, "itemsPerPage": r.len(), "Resources": r,
            })
        };
        let intranet = json!({ "users": list(&self.accounts), "groups": list(&[]) });
        std::fs::write(dir.join("intranet.json"), intranet.to_string()).expect("intranet");
        let syncing: Vec<String> = self.syncing.iter().map(|g| format!("{g:?}")).collect();
        let config = format!(
            "version: 1\n\
             directory:\n  ldap:\n    url: {url}\n    start_tls: {tls}\n    bind_dn: {bind:?}\n    password: {{ file: bind.pw }}\n    base_dn: {base:?}\n    ca_file: {ca:?}\n{extra}\
             \x20 id_attribute: objectGUID\n  username_attribute: {username}\n{disabled}\
             intranet:\n  snapshot: intranet.json\n\
             syncing_groups: [{syncing}]\n\
             field_mappings:\n  display_name: cn\n",
            url = self.url,
            tls = self.start_tls,
            bind = self.bind_dn,
            base = self.base_dn,
            ca = ad.server.ca_file().display().to_string(),
            extra = self.ldap_extra,
            username = self.username_attribute,
            disabled = self
                .disabled
                .map(|d| format!("  disabled: {d}\n"))
                .unwrap_or_default(),
            syncing = syncing.join(", "),
        );
        let path = dir.join("roster.yaml");
        std::fs::write(&path, config).expect("config");
        path
    }
}

fn roster(args: &[&str], config: &Path) -> std::process::Output {
    Command::cargo_bin("roster")
        .expect("the roster binary")
        .args(args)
        .arg("-c")
        .arg(config)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "400")
        .output()
        .expect("run roster")
}

/// `roster plan --format json`: it must plan (exit 0 or 2).
fn plan(config: &Path) -> Value {
    let out = roster(&["plan", "--format", "json"], config);
    assert!(
        out.status.code().is_some_and(|c| c != 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON plan")
}

/// `roster plan`'s diagnostic: it must fail (exit 1).
fn plan_fails(config: &Path) -> String {
    let out = roster(&["plan"], config);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// The external IDs of the plan's changes of `action`.
fn external_ids(plan: &Value, action: &str) -> BTreeSet<String> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] == action)
        .map(|c| c["external_id"].as_str().expect("external_id").to_owned())
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, u)| ((*a).to_owned(), (*u).to_owned()))
        .collect()
}

fn account(username: &str, external_id: &str, active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": format!("scim-{username}"), "userName": username, "externalId": external_id,
        "active": active, "displayName": username,
    })
}

/// AD's canonical GUID string of 16 objectGUID bytes (the first three parts little-endian),
/// written out here rather than taken from Roster.
fn guid_text(b: &[u8]) -> String {
    // The LDIF reader behind `search` already turns `objectGUID:: <base64>` into this string.
    if b.len() == 36 {
        return String::from_utf8_lossy(b).to_ascii_lowercase();
    }
    assert_eq!(b.len(), 16, "objectGUID is 16 bytes");
    let hex = |r: &[u8]| r.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rev = |r: &[u8]| r.iter().rev().copied().collect::<Vec<u8>>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(&rev(&b[0..4])),
        hex(&rev(&b[4..6])),
        hex(&rev(&b[6..8])),
        hex(&b[8..10]),
        hex(&b[10..16])
    )
}

/// The objectGUIDs of the entries Samba answers for `filter` under `base`.
fn guids(ad: &Ad, base: &str, filter: &str) -> BTreeSet<String> {
    ad.server
        .search(base, filter, &["objectGUID"])
        .iter()
        .map(|e| {
            guid_text(
                e.values("objectGUID")
                    .get(0)
                    .expect("objectGUID")
                    .as_bytes(),
            )
        })
        .collect()
}

fn guid(ad: &Ad, dn: &str) -> String {
    let found = guids(ad, dn, "(objectClass=*)");
    assert_eq!(found.len(), 1, "{dn}");
    found.into_iter().next().unwrap_or_default()
}

#[test]
fn ad_object_guid_is_the_id_and_user_account_control_s_bit_decides_disabled() {
    let ad = ad("uac");
    let ou = &ad.ou;
    let mut ldif = String::new();
    for (name, uac) in [
        ("ada", 512),
        ("bob", 514),
        ("cy", 66050),
        ("dee", 66048),
        ("eve", 66048),
    ] {
        ldif.push_str(&user(ou, name, name, uac, &password()));
    }
    let members: Vec<String> = ["ada", "bob", "cy", "dee", "eve"]
        .iter()
        .map(|n| ad.dn(n))
        .collect();
    ldif.push_str(&group(ou, "staff", &members));
    ad.modify(&ldif);

    let mut s = Setup::new(&ad);
    s.syncing = vec![ad.dn("staff")];
    s.accounts = vec![
        account("bob", &guid(&ad, &ad.dn("bob")), true),
        account("cy", &guid(&ad, &ad.dn("cy")), true),
        account("dee", &guid(&ad, &ad.dn("dee")), false),
        // 66048 with an active account: nothing to do.
        account("eve", &guid(&ad, &ad.dn("eve")), true),
    ];
    let p = plan(&s.write(&ad));
    // Without `disabled:`, objectGUID (Active Directory) implies `active_directory`.
    s.disabled = None;
    assert_eq!(actions(&plan(&s.write(&ad))), actions(&p));
    assert_eq!(
        actions(&p),
        pairs(&[
            ("block", "bob"),
            ("block", "cy"),
            ("create", "ada"),
            ("reactivate", "dee")
        ]),
        "514 and 66050 are disabled, 512 and 66048 enabled: {p:#}"
    );
    // The created account's ID is ada's objectGUID: Samba finds her by it.
    let created = external_ids(&p, "create");
    let id = created.iter().next().expect("one create");
    assert_eq!(
        guids(&ad, ou, &format!("(objectGUID={id})")),
        BTreeSet::from([guid(&ad, &ad.dn("ada"))])
    );

    // bob re-enabled (66048) is reactivated once his account is blocked.
    ad.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 66048\n",
        ad.dn("bob")
    ));
    s.accounts[0] = account("bob", &guid(&ad, &ad.dn("bob")), false);
    let p = plan(&s.write(&ad));
    assert!(
        actions(&p).contains(&("reactivate".into(), "bob".into())),
        "{p:#}"
    );
}

#[test]
fn ad_a_sam_account_name_rename_is_planned_as_a_rename_over_start_tls() {
    let ad = ad("rename");
    let ou = &ad.ou;
    ad.modify(&(user(ou, "ren", "ren", 544, "") + &group(ou, "staff", &[ad.dn("ren")])));
    let id = guid(&ad, &ad.dn("ren"));
    ad.modify(&format!(
        "dn: {}\nchangetype: modify\nreplace: sAMAccountName\nsAMAccountName: ren.lovelace\n",
        ad.dn("ren")
    ));
    let mut s = Setup::new(&ad);
    s.url = "ldap://127.0.0.1:389".into();
    s.start_tls = true;
    s.syncing = vec![ad.dn("staff")];
    s.accounts = vec![account("ren", &id, true)];
    let p = plan(&s.write(&ad));
    assert_eq!(actions(&p), pairs(&[("rename", "ren.lovelace")]), "{p:#}");
    assert_eq!(p["changes"][0]["external_id"], id.as_str());
}

#[test]
fn ad_user_principal_name_is_a_username_too() {
    let ad = ad("upn");
    let ou = &ad.ou;
    ad.modify(&(user(ou, "upn1", "upn1", 544, "") + &group(ou, "staff", &[ad.dn("upn1")])));
    let mut s = Setup::new(&ad);
    s.username_attribute = "userPrincipalName";
    s.syncing = vec![ad.dn("staff")];
    let p = plan(&s.write(&ad));
    assert_eq!(
        actions(&p),
        pairs(&[("create", &format!("upn1@{REALM}"))]),
        "{p:#}"
    );
}

#[test]
fn ad_plain_ldap_binds_are_refused_by_the_server_and_the_help_says_use_tls() {
    let ad = ad("plain");
    let mut s = Setup::new(&ad);
    s.url = "ldap://127.0.0.1:389".into();
    s.syncing = vec![DOMAIN_USERS.to_owned()];
    let stderr = plan_fails(&s.write(&ad));
    assert!(
        stderr.contains("use ldaps:// or `start_tls: true`"),
        "{stderr}"
    );
    assert!(!stderr.contains(ADMIN_PW));
}

#[test]
fn ad_nested_groups_three_deep_with_a_cycle_match_the_servers_in_chain_answer() {
    let ad = ad("nested");
    let ou = &ad.ou;
    let mut ldif = String::new();
    for u in ["u1", "u2", "u3", "u4", "outsider"] {
        ldif.push_str(&user(ou, u, u, 544, ""));
    }
    // top ⊃ middle ⊃ bottom ⊃ top: a cycle three deep.
    ldif.push_str(&group(ou, "bottom", &[ad.dn("u3"), ad.dn("u4")]));
    ldif.push_str(&group(ou, "middle", &[ad.dn("u2"), ad.dn("bottom")]));
    ldif.push_str(&group(ou, "top", &[ad.dn("u1"), ad.dn("middle")]));
    ldif.push_str(&group(ou, "other", &[ad.dn("outsider")]));
    ldif.push_str(&format!(
        "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n\n",
        ad.dn("bottom"),
        ad.dn("top")
    ));
    ad.modify(&ldif);

    for start in ["top", "middle", "bottom"] {
        let mut s = Setup::new(&ad);
        s.syncing = vec![ad.dn(start)];
        let p = plan(&s.write(&ad));
        let server = guids(
            &ad,
            ou,
            &format!(
                "(&(objectClass=user)(memberOf:{IN_CHAIN}:={}))",
                ad.dn(start)
            ),
        );
        assert_eq!(
            server.len(),
            4,
            "the cycle makes every group reach all four"
        );
        assert_eq!(external_ids(&p, "create"), server, "from {start}: {p:#}");
    }
}

#[test]
fn ad_a_group_of_more_than_1500_members_is_read_whole() {
    let ad = ad("big");
    let ou = &ad.ou;
    let n = 1510;
    let mut ldif = String::new();
    let mut members = Vec::new();
    for i in 0..n {
        // 544: enabled, no password required (hashing 1,600 passwords would be slow).
        ldif.push_str(&user(ou, &format!("p{i:04}"), &format!("p{i:04}"), 544, ""));
        members.push(ad.dn(&format!("p{i:04}")));
    }
    ldif.push_str(&group(ou, "everyone", &members));
    ad.modify(&ldif);
    let mut s = Setup::new(&ad);
    s.syncing = vec![ad.dn("everyone")];
    let p = plan(&s.write(&ad));
    let server = guids(
        &ad,
        ou,
        &format!(
            "(&(objectClass=user)(memberOf:{IN_CHAIN}:={}))",
            ad.dn("everyone")
        ),
    );
    assert_eq!(server.len(), n);
    assert_eq!(external_ids(&p, "create"), server);
}

#[test]
fn ad_names_with_accents_and_a_cn_with_a_comma_resolve_and_map() {
    let ad = ad("names");
    let ou = &ad.ou;
    let comma = "Smith\\, John";
    let accents = "Zoë Ñúñez-Łukasz";
    ad.modify(
        &(user(ou, comma, "jsmith", 544, "")
            + &user(ou, accents, "zoë", 544, "")
            + &group(ou, "Équipe", &[ad.dn(comma), ad.dn(accents)])),
    );
    let mut s = Setup::new(&ad);
    s.syncing = vec![ad.dn("Équipe")];
    let p = plan(&s.write(&ad));
    assert_eq!(
        actions(&p),
        pairs(&[("create", "jsmith"), ("create", "zoë")]),
        "{p:#}"
    );
    let shown: BTreeSet<&str> = p["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .flat_map(|c| c["fields"].as_array().into_iter().flatten())
        .filter(|f| f["name"] == "display_name")
        .filter_map(|f| f["after"].as_str())
        .collect();
    assert_eq!(shown, BTreeSet::from(["Smith, John", accents]), "{p:#}");
}

#[test]
fn ad_a_user_moved_to_another_ou_keeps_their_account() {
    let ad = ad("move");
    let ou = &ad.ou;
    let moved = format!("OU=moved,{ou}");
    ad.modify(
        &(user(ou, "mover", "mover", 544, "")
            + &group(ou, "staff", &[ad.dn("mover")])
            + &format!("dn: {moved}\nchangetype: add\nobjectClass: organizationalUnit\n\n")),
    );
    let id = guid(&ad, &ad.dn("mover"));
    ad.modify(&format!(
        "dn: {}\nchangetype: modrdn\nnewrdn: CN=mover\ndeleteoldrdn: 1\nnewsuperior: {moved}\n",
        ad.dn("mover")
    ));
    // AD carries the move into the group's member.
    assert_eq!(guid(&ad, &format!("CN=mover,{moved}")), id);
    let mut s = Setup::new(&ad);
    s.syncing = vec![ad.dn("staff")];
    s.accounts = vec![account("mover", &id, true)];
    let p = plan(&s.write(&ad));
    assert_eq!(actions(&p), pairs(&[]), "nothing to do: {p:#}");
}

#[test]
fn ad_continuation_references_from_the_domain_root_are_no_entries() {
    let ad = ad("refs");
    let ou = &ad.ou;
    ad.modify(
        &(user(ou, "refuser", "refuser", 512, "department: refs-test\n")
            + &group(ou, "staff", &[ad.dn("refuser")])),
    );
    let mut s = Setup::new(&ad);
    // From the domain root, Samba answers with references to the configuration partition.
    s.base_dn = DOMAIN_DN.to_owned();
    s.ldap_extra = format!(
        "    users: {{ filter: \"(&(objectClass=user)(department=refs-test))\" }}\n    groups: {{ base: {ou:?} }}\n"
    );
    s.syncing = vec![ad.dn("staff")];
    let p = plan(&s.write(&ad));
    assert_eq!(actions(&p), pairs(&[("create", "refuser")]), "{p:#}");
    assert_eq!(p["warnings"].as_array().map(Vec::len), Some(0), "{p:#}");
}

#[test]
fn ad_the_global_catalog_port_serves_the_read() {
    let ad = ad("gc");
    let ou = &ad.ou;
    ad.modify(
        &(user(ou, "gca", "gca", 544, "")
            + &user(ou, "gcb", "gcb", 514, "")
            + &group(ou, "staff", &[ad.dn("gca"), ad.dn("gcb")])),
    );
    let mut s = Setup::new(&ad);
    s.url = ad.server.ldaps_url(3269);
    s.syncing = vec![ad.dn("staff")];
    s.accounts = vec![account("gcb", &guid(&ad, &ad.dn("gcb")), true)];
    let p = plan(&s.write(&ad));
    assert_eq!(
        actions(&p),
        pairs(&[("block", "gcb"), ("create", "gca")]),
        "{p:#}"
    );
    // The plain global catalog port with StartTLS.
    s.url = "ldap://127.0.0.1:3268".into();
    s.start_tls = true;
    assert_eq!(actions(&plan(&s.write(&ad))), actions(&p));
}

#[test]
fn ad_domain_users_as_a_syncing_group_holds_its_primary_members_live_and_in_a_snapshot() {
    let ad = ad("primary");
    let ou = &ad.ou;
    ad.modify(
        &(user(ou, "pa", "pa", 544, "")
            + &user(ou, "pb", "pb", 544, "")
            + &user(ou, "pc", "pc", 544, "")),
    );
    let mut s = Setup::new(&ad);
    // Domain Users is under CN=Users: groups are read from the domain root.
    s.ldap_extra = format!("    groups: {{ base: {DOMAIN_DN:?} }}\n");
    s.syncing = vec![DOMAIN_USERS.to_owned()];
    s.accounts = vec![
        account("pa", &guid(&ad, &ad.dn("pa")), true),
        account("pb", &guid(&ad, &ad.dn("pb")), true),
    ];
    // The server lists no one in Domain Users' member: they are there by primaryGroupID.
    assert!(guids(&ad, ou, &format!("(memberOf={DOMAIN_USERS})")).is_empty());
    let config = s.write(&ad);
    let p = plan(&config);
    assert_eq!(
        actions(&p),
        pairs(&[("create", "pc")]),
        "no one blocked: {p:#}"
    );

    // The snapshot of that read plans the same offline.
    let snapshot = s.dir.path().join("ad.ldif");
    let out = Command::cargo_bin("roster")
        .expect("the roster binary")
        .args(["snapshot", "directory", "-c"])
        .arg(&config)
        .arg("-o")
        .arg(&snapshot)
        .output()
        .expect("run roster snapshot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&config).expect("config");
    let start = text.find("  ldap:").expect("ldap");
    let end = text.find("  id_attribute").expect("id_attribute");
    let offline = format!("{}  ldif: ad.ldif\n{}", &text[..start], &text[end..]);
    std::fs::write(&config, offline).expect("offline config");
    assert_eq!(actions(&plan(&config)), pairs(&[("create", "pc")]));
}

#[test]
fn ad_an_ldif_export_with_only_object_sids_resolves_primary_groups() {
    // tests/fixtures/ad/: Domain Users carries its objectSid (RID 513) and no primaryGroupToken;
    // ada and bob are in it only by their primaryGroupID, cy by member, dan's primary group is
    // another.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ad");
    let p = plan(&dir.join("roster.yaml"));
    assert_eq!(
        actions(&p),
        pairs(&[("block", "dan"), ("create", "cy")]),
        "ada and bob keep their accounts: {p:#}"
    );
}

/// `roster plan` binding as `dn` with `password`: its diagnostic.
fn bind_failure(ad: &Ad, dn: &str, password: &str) -> String {
    let mut s = Setup::new(ad);
    s.bind_dn = dn.to_owned();
    s.password = password.to_owned();
    s.syncing = vec![DOMAIN_USERS.to_owned()];
    let stderr = plan_fails(&s.write(ad));
    assert!(!stderr.contains(password), "{stderr}");
    stderr
}

#[test]
fn ad_bind_failures_say_what_the_ad_data_code_means() {
    let ad = ad("binds");
    let ou = &ad.ou;
    ad.modify(
        &(user(ou, "svc", "svc", 512, &password())
            + &user(ou, "off", "off", 514, &password())
            + &user(ou, "locked", "locked", 512, &password())),
    );
    let wrong = bind_failure(&ad, &ad.dn("svc"), "not-the-password");
    assert!(
        wrong.contains("data 52e") && wrong.contains("invalid credentials: the password is wrong"),
        "{wrong}"
    );
    let disabled = bind_failure(&ad, &ad.dn("off"), USER_PW);
    assert!(
        disabled.contains("data 533") && disabled.contains("the account is disabled"),
        "{disabled}"
    );
    for _ in 0..LOCKOUT_THRESHOLD {
        bind_failure(&ad, &ad.dn("locked"), "not-the-password");
    }
    let locked = bind_failure(&ad, &ad.dn("locked"), USER_PW);
    assert!(
        locked.contains("data 775") && locked.contains("the account is locked out"),
        "{locked}"
    );
}
