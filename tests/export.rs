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
    let r = roster(
        dir.path(),
        &["export", "--config", "connect.yaml", "-o", "roster.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
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
