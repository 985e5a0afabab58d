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
