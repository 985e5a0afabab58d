//! `roster export`: a starting config from what the systems hold; planning it right away shows
//! no role changes.

use std::path::Path;

use crate::cli::roster;

#[test]
fn exported_config_validates_and_plans_with_no_role_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for f in ["directory.ldif", "intranet.json"] {
        std::fs::copy(ex.join(f), dir.path().join(f)).unwrap();
    }
    // Only where to read from: export writes the rest.
    std::fs::write(dir.path().join("connect.yaml"), "directory:\n  ldif: directory.ldif\n  disabled: { attribute: pwdAccountLockedTime }\nintranet:\n  snapshot: intranet.json\n").unwrap();
    let r = roster(
        dir.path(),
        &["export", "--config", "connect.yaml", "-o", "roster.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Elsewhere, its relative paths would not resolve: refused, nothing written.
    let other = tempfile::tempdir().unwrap();
    let elsewhere = other.path().join("roster.yaml");
    let r = roster(
        dir.path(),
        &[
            "export",
            "--config",
            "connect.yaml",
            "-o",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("the config's folder"), "{}", r.stderr);
    assert!(!elsewhere.exists());
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    assert!(
        yaml.contains("intranet_group: \"Sysadmins\"")
            && yaml.contains("users: [\"alice.admin\", \"breakglass\", \"carl.former\"]"),
        "{yaml}"
    );
    assert!(
        yaml.contains("# - \"cn=engineering,ou=groups,dc=example,dc=com\""),
        "other groups as comments: {yaml}"
    );
    assert!(yaml.contains("protected: [\"breakglass\", \"kiosk\"]"));
    // The limits it plans with, written out: the defaults for 24 active managed accounts and
    // the 7 holders of the intranet's groups.
    assert!(
        yaml.contains("the larger of 5 and 10% of 24 active managed accounts")
            && yaml
                .contains("  max_blocks: 5\n  max_clears: 5\n  max_revokes: 5\n  max_renames: 5\n")
            && yaml.contains("  max_vanished: 20%\n"),
        "{yaml}"
    );

    let r = roster(dir.path(), &["validate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = roster(dir.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["summary"]["grant"], 0, "{}", r.stdout);
    assert_eq!(plan["summary"]["revoke"], 0, "{}", r.stdout);

    // Export never overwrites.
    let r = roster(
        dir.path(),
        &["export", "--config", "connect.yaml", "-o", "roster.yaml"],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"));
}

#[test]
fn export_picks_the_group_that_matches_the_accounts_not_the_largest_that_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    // 1,730 staff; the 28 in cn=intranet have accounts, but one of them (p27) has none yet and
    // one account holder (p28) is in all-staff only.
    let mut ldif = String::new();
    for i in 0..1730 {
        ldif.push_str(&format!(
            "dn: uid=p{i},ou=people,dc=x\nobjectClass: inetOrgPerson\nuid: p{i}\nentryUUID: 00000000-0000-4000-8000-{i:012}\n\n"
        ));
    }
    let members = |range: std::ops::Range<usize>| -> String {
        range
            .map(|i| format!("member: uid=p{i},ou=people,dc=x\n"))
            .collect()
    };
    ldif.push_str(&format!(
        "dn: cn=all-staff,ou=groups,dc=x\nobjectClass: groupOfNames\n{}\n",
        members(0..1730)
    ));
    ldif.push_str(&format!(
        "dn: cn=intranet,ou=groups,dc=x\nobjectClass: groupOfNames\n{}\n",
        members(0..28)
    ));
    std::fs::write(dir.path().join("directory.ldif"), ldif).unwrap();
    let accounts: Vec<serde_json::Value> = (0..29)
        .filter(|i| *i != 27)
        .map(|i| {
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": format!("a{i}"), "userName": format!("p{i}"), "active": true,
                // As another tool may have written it: upper case.
                "externalId": format!("00000000-0000-4000-8000-{i:012}").to_uppercase(),
            })
        })
        .collect();
    let list = |r: &[serde_json::Value]| {
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": r.len(), "startIndex": 1, "itemsPerPage": r.len(), "Resources": r,
        })
    };
    std::fs::write(
        dir.path().join("intranet.json"),
        serde_json::json!({ "users": list(&accounts), "groups": list(&[]) }).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("connect.yaml"),
        "directory:\n  ldif: directory.ldif\nintranet:\n  snapshot: intranet.json\n",
    )
    .unwrap();
    let yaml = exported(dir.path());
    assert!(
        yaml.contains(
            "  - \"cn=intranet,ou=groups,dc=x\"  # covers 27 of the 28 active accounts, 1 member without an account\n"
        ),
        "{yaml}"
    );
    assert!(
        yaml.contains("  # - \"cn=all-staff,ou=groups,dc=x\"  # 1730 members, 28 with an active intranet account: not picked, it would cover 1 more account and give 1701 members without one an account\n")
            && yaml.contains("  # 1 active account belongs to users in none of the picked groups\n"),
        "{yaml}"
    );
}

/// The quickstart's systems on the day before Roster: every intranet account still unmanaged
/// (no `externalId`), `rename` applied to each username; the config names only where to read.
fn fresh_intranet(rename: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    std::fs::copy(ex.join("directory.ldif"), dir.path().join("directory.ldif")).unwrap();
    let mut net: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("intranet.json")).unwrap()).unwrap();
    for u in net["users"]["Resources"].as_array_mut().unwrap() {
        let u = u.as_object_mut().unwrap();
        u.remove("externalId");
        let name = rename(u["userName"].as_str().unwrap());
        u.insert("userName".into(), name.into());
    }
    std::fs::write(dir.path().join("intranet.json"), net.to_string()).unwrap();
    std::fs::write(
        dir.path().join("connect.yaml"),
        "directory:\n  ldif: directory.ldif\n  disabled: { attribute: pwdAccountLockedTime }\nintranet:\n  snapshot: intranet.json\n",
    )
    .unwrap();
    dir
}

/// `roster export` of `connect.yaml` into `roster.yaml`, its text.
fn exported(dir: &Path) -> String {
    let r = roster(
        dir,
        &["export", "--config", "connect.yaml", "-o", "roster.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::read_to_string(dir.join("roster.yaml")).unwrap()
}

/// The exported config plans the 24 links of the quickstart's accounts, and no revoke.
fn plans_the_24_links(dir: &Path) {
    let r = roster(dir, &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["summary"]["link"], 24, "{}", r.stdout);
    assert_eq!(plan["summary"]["revoke"], 0, "{}", r.stdout);
}

/// Every commented candidate syncing group uncommented, as a person picking them would.
fn uncomment_groups(yaml: &str) -> String {
    yaml.lines()
        .map(|l| match l.strip_prefix("  # ") {
            Some(rest) if rest.starts_with("- \"") || rest.starts_with('"') => format!("  {rest}"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn first_export_on_a_fresh_intranet_links_by_username_and_protects_only_break_glass() {
    let dir = fresh_intranet(str::to_owned);
    let yaml = exported(dir.path());
    // Picked by the unmanaged accounts' usernames, each saying how many the first plan links.
    assert!(
        yaml.contains("  - \"cn=intranet-users,ou=groups,dc=example,dc=com\"  # covers 20 of the 23 active accounts (20 unmanaged, which the first plan links by username)"),
        "{yaml}"
    );
    assert!(
        yaml.contains("# - \"cn=sales,ou=groups,dc=example,dc=com\"  # 7 members, 4 with an active intranet account (4 unmanaged, which the first plan links by username)"),
        "{yaml}"
    );
    // Only the local accounts no directory user has, not every unmanaged holder.
    assert!(
        yaml.contains("  protected: [\"breakglass\", \"kiosk\"]\n"),
        "{yaml}"
    );
    // The administrators' group is the role `min_sysadmins` counts, and it is set.
    assert!(
        yaml.contains("  sysadmin:\n    intranet_group: \"Sysadmins\"")
            && yaml.contains("  min_sysadmins: 1\n"),
        "{yaml}"
    );
    // policy.unattended, written out with its defaults.
    assert!(
        yaml.contains("  unattended:\n    create: true\n    link: false\n")
            && yaml.contains("    block: 5\n"),
        "{yaml}"
    );
    // No account is managed yet: the limits say the floor applies, not "10% of 0".
    assert!(!yaml.contains("% of 0"), "{yaml}");
    assert!(
        yaml.contains(
            "  #   blocks, cleared field values, renames: 5, the floor, as there are no active managed accounts yet\n"
        ) && yaml.contains("  max_blocks: 5\n  max_clears: 5\n"),
        "{yaml}"
    );
    plans_the_24_links(dir.path());

    // Every candidate uncommented is still a valid config.
    let all = uncomment_groups(&yaml);
    assert!(
        all.contains("\n  - \"cn=sales,ou=groups,dc=example,dc=com\""),
        "{all}"
    );
    std::fs::write(dir.path().join("all.yaml"), all).unwrap();
    let r = roster(
        dir.path(),
        &["validate", "--config-only", "--config", "all.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = roster(dir.path(), &["plan", "--config", "all.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn first_export_with_no_account_to_match_lists_groups_that_uncomment_into_valid_yaml() {
    // No username matches a directory user: nothing is picked, every group is a comment.
    let dir = fresh_intranet(|u| format!("local-{u}"));
    let yaml = exported(dir.path());
    assert!(
        yaml.contains("syncing_groups: [ # no group holds a user with an active account")
            && yaml.contains("  # \"cn=alumni,ou=groups,dc=example,dc=com\",  # 1 member, 0 with"),
        "{yaml}"
    );
    // Their holders have no directory user: all protected.
    assert!(
        yaml.contains("  protected: [\"local-alice.admin\", \"local-breakglass\""),
        "{yaml}"
    );
    let picked = uncomment_groups(&yaml);
    std::fs::write(dir.path().join("picked.yaml"), &picked).unwrap();
    let r = roster(
        dir.path(),
        &["validate", "--config-only", "--config", "picked.yaml"],
    );
    assert_eq!(r.code, 0, "{}\n{picked}", r.stderr);
    let r = roster(
        dir.path(),
        &["plan", "--config", "picked.yaml", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["summary"]["create"], 26, "{}", r.stdout);
}

#[test]
fn first_export_from_a_live_fresh_intranet_links_by_username() {
    // The quickstart's intranet in a scim2-server, every account made by hand (no externalId).
    let server = crate::support::scim::ScimServer::start();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("intranet.json")).unwrap()).unwrap();
    let mut users = snap["users"]["Resources"].as_array().unwrap().clone();
    for u in &mut users {
        u.as_object_mut().unwrap().remove("externalId");
    }
    server.seed_snapshot(&users, snap["groups"]["Resources"].as_array().unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ex.join("directory.ldif"), dir.path().join("directory.ldif")).unwrap();
    std::fs::write(
        dir.path().join("token.txt"),
        format!("{}\n", crate::support::scim::TOKEN),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("connect.yaml"),
        format!("directory:\n  ldif: directory.ldif\n  disabled: {{ attribute: pwdAccountLockedTime }}\nintranet:\n  scim:\n    url: {}\n    token: {{ file: token.txt }}\n", server.url()),
    )
    .unwrap();
    let yaml = exported(dir.path());
    assert!(
        yaml.contains("  - \"cn=intranet-users,ou=groups,dc=example,dc=com\"  # covers 20 of the 23 active accounts (20 unmanaged, which the first plan links by username)")
            && yaml.contains("  protected: [\"breakglass\", \"kiosk\"]\n")
            && yaml.contains("  sysadmin:\n    intranet_group: \"Sysadmins\"")
            && yaml.contains("  min_sysadmins: 1\n"),
        "{yaml}"
    );
    plans_the_24_links(dir.path());
}
