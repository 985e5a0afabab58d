//! Git: `plan --base` (the impact of a config change) and `plan --rev`, on repositories made in
//! temp dirs with a base and a head commit.

use crate::cli::roster;
use crate::support::git::git;
use std::path::Path;

/// A config repo holding the quickstart, committed as `base`; `edit` makes the head commit.
pub fn repo(edit: impl FnOnce(&str) -> String) -> tempfile::TempDir {
    repo_from(str::to_owned, edit)
}

/// A config repo holding the quickstart, its config edited by `base` in the base commit and by
/// `head` in the head commit.
pub fn repo_from(
    base: impl FnOnce(&str) -> String,
    head: impl FnOnce(&str) -> String,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for f in ["roster.yaml", "directory.ldif", "intranet.json"] {
        std::fs::copy(ex.join(f), dir.path().join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    std::fs::write(dir.path().join("roster.yaml"), base(&cfg)).unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "base"]);
    std::fs::write(dir.path().join("roster.yaml"), head(&cfg)).unwrap();
    git(dir.path(), &["commit", "-qam", "head"]);
    dir
}

fn impact(dir: &Path) -> serde_json::Value {
    impact_with(dir, &[])
}

/// The impact, with more arguments (one-run allowances).
fn impact_with(dir: &Path, more: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--base", "HEAD~1", "--format", "json"];
    args.extend(more);
    let r = roster(dir, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn effects(i: &serde_json::Value) -> Vec<String> {
    i["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn removing_a_syncing_group_blocks_its_members() {
    // Sales is reached through intranet-users; make it the only way, then drop it.
    let dir = repo(|c| {
        c.replace("  - cn=intranet-users,ou=groups,dc=example,dc=com", "  - cn=engineering,ou=groups,dc=example,dc=com\n  - cn=it-admins,ou=groups,dc=example,dc=com")
    });
    // 13 blocks in all: over the default limit (5), so refused, with the impact still shown...
    let r = roster(
        dir.path(),
        &["plan", "--base", "HEAD~1", "--format", "json"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("--allow-blocks 13"), "{}", r.stderr);
    assert!(r.stdout.contains("blocks 8 accounts"), "{}", r.stdout);
    // ... and allowed for one run.
    let i = impact_with(dir.path(), &["--allow-blocks", "13"]);
    assert!(
        i["config_changes"]
            .to_string()
            .contains("removes syncing group cn=intranet-users"),
        "{}",
        i["config_changes"]
    );
    let e = effects(&i);
    // sofia.garcia is blocked but still named for people_admin: no revoke.
    assert_eq!(e, ["blocks 8 accounts"]);
    let avoided = i["avoided"].to_string();
    assert!(
        avoided.contains("no longer creates 1 account"),
        "omar.new is in sales: {avoided}"
    );
    // Drift (present in both plans) is shown apart: grace.hopper's title is reverted either way.
    assert!(i["drift"].to_string().contains("grace.hopper"));
    assert!(!i["caused"].to_string().contains("grace.hopper"));
}

#[test]
fn an_impact_says_which_refusals_the_change_causes_and_lifts() {
    // Base: refused by a block limit of 1 and a revoke limit of 1; head: lifts the block limit
    // only. The revoke refusal stands in both plans: drift, not this change.
    let dir = repo_from(
        |c| {
            c.replace(
                "  adopt: true",
                "  adopt: true\n  max_blocks: 1\n  max_revokes: 1",
            )
        },
        |c| c.replace("  adopt: true", "  adopt: true\n  max_revokes: 1"),
    );
    let r = roster(
        dir.path(),
        &["plan", "--base", "HEAD~1", "--format", "json"],
    );
    assert_eq!(r.code, 4, "still refused by max_revokes: {}", r.stderr);
    let i: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let lifts = i["lifts"].to_string();
    assert!(lifts.contains("policy.max_blocks (1)"), "{lifts}");
    assert!(!lifts.contains("max_revokes"), "{lifts}");
    assert!(i.get("refuses").is_none(), "{i}");
}

#[test]
fn remapping_a_field_rewrites_it_for_every_account() {
    let dir = repo(|c| c.replace("  department: departmentNumber", "  department: title"));
    let i = impact(dir.path());
    assert!(i["config_changes"]
        .to_string()
        .contains("maps department to `title` (was `departmentNumber`)"));
    let e = effects(&i);
    assert!(
        e.iter()
            .any(|e| e.starts_with("rewrites department for 2") && e.ends_with("accounts")),
        "{e:?}"
    );
}

#[test]
fn adding_a_role_member_grants_it() {
    let dir = repo(|c| {
        c.replace(
            "      users: [breakglass]",
            "      users: [breakglass, ada.lovelace]",
        )
    });
    let i = impact(dir.path());
    assert_eq!(effects(&i), ["grants sysadmin to 1 account"]);
    let r = roster(dir.path(), &["plan", "--base", "HEAD~1"]);
    assert!(
        r.stdout.contains("gives sysadmin to ada.lovelace")
            && r.stdout.contains("+ grants sysadmin to 1 account"),
        "{}",
        r.stdout
    );
    let r = roster(
        dir.path(),
        &["plan", "--base", "HEAD~1", "--format", "markdown"],
    );
    assert!(
        r.stdout.contains("| + grants sysadmin to 1 account | 1 |"),
        "{}",
        r.stdout
    );
}

#[test]
fn plan_at_a_revision_reads_git_not_the_work_tree() {
    let dir = repo(|c| {
        c.replace(
            "      users: [breakglass]",
            "      users: [breakglass, ada.lovelace]",
        )
    });
    // An uncommitted edit in the work tree is ignored by --rev.
    std::fs::write(dir.path().join("roster.yaml"), "garbage: [").unwrap();
    let r = roster(dir.path(), &["plan", "--rev", "HEAD", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["inputs"]["config_revision"]["dirty"], false);
    assert_eq!(plan["summary"]["grant"], 3);
    let r = roster(dir.path(), &["plan", "--rev", "no-such-branch"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot resolve `no-such-branch`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_plan_records_its_config_commit_and_whether_it_was_dirty() {
    let dir = repo(|c| c.to_owned() + "\n");
    let r = roster(dir.path(), &["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["inputs"]["config_revision"]["dirty"], false);
    assert_eq!(
        plan["inputs"]["config_revision"]["commit"]
            .as_str()
            .unwrap()
            .len(),
        40
    );
    std::fs::write(
        dir.path().join("roster.yaml"),
        std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap() + "\n",
    )
    .unwrap();
    let r = roster(dir.path(), &["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["inputs"]["config_revision"]["dirty"], true);
}

#[test]
fn a_refused_impact_plan_is_not_saved() {
    // The head commit drops a syncing group (8 blocks) and caps blocks at 2.
    let dir = repo(|c| {
        c.replace("  - cn=intranet-users,ou=groups,dc=example,dc=com", "  - cn=engineering,ou=groups,dc=example,dc=com\n  - cn=it-admins,ou=groups,dc=example,dc=com")
            .replace("policy:\n", "policy:\n  max_blocks: 2\n")
    });
    let r = roster(dir.path(), &["plan", "--base", "HEAD~1", "-o", "plan.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("policy.max_blocks"), "{}", r.stderr);
    assert!(
        !dir.path().join("plan.json").exists(),
        "a refused plan must not be saved for apply"
    );
}

#[test]
fn a_change_that_fixes_a_base_config_which_cannot_plan_shows_the_whole_plan() {
    // The base names a group that does not exist (the typo); the change fixes it.
    let dir = tempfile::tempdir().unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for f in ["roster.yaml", "directory.ldif", "intranet.json"] {
        std::fs::copy(ex.join(f), dir.path().join(f)).unwrap();
    }
    let good = std::fs::read_to_string(dir.path().join("roster.yaml")).unwrap();
    let typo = good.replace("cn=intranet-users,", "cn=intranet-user,");
    assert_ne!(good, typo);
    std::fs::write(dir.path().join("roster.yaml"), &typo).unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "base with a typo"]);
    std::fs::write(dir.path().join("roster.yaml"), &good).unwrap();
    git(dir.path(), &["commit", "-qam", "fix the typo"]);

    let r = roster(dir.path(), &["plan", "--base", "HEAD~1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("the config at HEAD~1 cannot be planned"),
        "{}",
        r.stderr
    );
    let whole = roster(dir.path(), &["plan"]);
    assert_eq!(r.stdout, whole.stdout, "the whole plan of the fixed config");
    // A base that does not resolve is a mistake, never a silent whole plan.
    let r = roster(dir.path(), &["plan", "--base", "origin/mian"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot resolve `origin/mian`"),
        "{}",
        r.stderr
    );
}
