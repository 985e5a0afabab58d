//! The safety policy: each rule refuses with its figures and passes when raised.

use roster::config::Limit;
use roster::config::Loaded;
use roster::model::Entry;
use roster::observe::Observed;
use roster::policy::{self, Refusal};

use crate::cli::roster;
use crate::support::world::{World, STAFF};

fn check(w: &World, allow_blocks: Option<usize>) -> Result<(), Vec<Refusal>> {
    let observed = Observed {
        directory: w.dir.clone(),
        intranet: w.intranet.clone(),
        state: None,
        directory_digest: String::new(),
        intranet_digest: String::new(),
        intranet_read: None,
    };
    let mut plan = roster::reconcile::plan(&Loaded::from_config(w.config.clone()), &observed)
        .expect("no conflicts");
    plan.allowances.allow_blocks = allow_blocks;
    policy::check(&plan, &w.config, &w.dir, &w.intranet).map_err(|r| r.refusals)
}

fn rules(r: Result<(), Vec<Refusal>>) -> Vec<&'static str> {
    r.err().unwrap_or_default().iter().map(|r| r.rule).collect()
}

/// Ten people with accounts; `leavers` of them left the syncing group.
fn company(leavers: usize) -> World {
    let mut w = World::default();
    for i in 0..10 {
        w = w
            .person(&format!("u{i}"), &format!("{i}"))
            .account(&format!("u{i}"), &format!("{i}"));
    }
    for i in 0..leavers {
        w = w.leave(STAFF, &format!("u{i}"));
    }
    w
}

#[test]
fn max_blocks_refuses_then_passes_when_raised_or_allowed_once() {
    let mut w = company(3).policy(|p| p.max_blocks = Some(Limit::Share("20%".into())));
    let r = check(&w, None);
    let refusal = &r.as_ref().unwrap_err()[0];
    assert_eq!(refusal.rule, "max_blocks");
    assert!(
        refusal.message.contains("blocks 3 accounts")
            && refusal
                .message
                .contains("20% of 10 active managed accounts = 2"),
        "{}",
        refusal.message
    );
    assert!(refusal.help.contains("--allow-blocks 3"));
    assert!(check(&w, Some(3)).is_ok(), "allowed for one run");
    w.config.policy.max_blocks = Some(Limit::Count(3));
    assert!(check(&w, None).is_ok());
}

#[test]
fn max_vanished_refuses_a_directory_that_lost_its_users() {
    let mut w = company(0);
    w.dir.users.truncate(5); // half the people vanished from the read
    assert_eq!(rules(check(&w, None)), ["max_vanished"]);
    w.config.policy.max_vanished = Limit::Share("50%".into());
    assert!(check(&w, None).is_ok());
}

#[test]
fn an_empty_directory_is_refused() {
    let mut w = company(0);
    w.dir.users.clear();
    let r = rules(check(&w, None));
    assert!(
        r.contains(&"empty_directory") && r.contains(&"max_vanished"),
        "{r:?}"
    );
}

#[test]
fn min_sysadmins_refuses_then_passes() {
    let mut w = company(0)
        .admin("u1")
        .sysadmin("u1")
        .policy(|p| p.min_sysadmins = Some(2));
    assert_eq!(rules(check(&w, None)), ["min_sysadmins"]);
    w = w.admin("u2");
    assert!(check(&w, None).is_ok(), "a grant brings it to 2");
    // Blocking a holder counts.
    let w = w.leave(STAFF, "u1");
    assert_eq!(rules(check(&w, None)), ["min_sysadmins"]);
}

#[test]
fn licences_refuses_then_passes() {
    let mut w = company(0)
        .person("new", "99")
        .policy(|p| p.licences = Some(10));
    assert_eq!(rules(check(&w, None)), ["licences"]);
    w.config.policy.licences = Some(11);
    assert!(check(&w, None).is_ok());
}

#[test]
fn the_apply_identity_keeps_its_account_and_roles() {
    let mut w = company(0)
        .account_with("sync-bot", None, |_| {})
        .sysadmin("sync-bot")
        .policy(|p| p.apply_as = Some("sync-bot".into()));
    assert_eq!(
        rules(check(&w, None)),
        ["apply_as"],
        "its sysadmin role would be revoked"
    );
    w.config.policy.protected = vec!["sync-bot".into()];
    assert!(check(&w, None).is_ok());
}

#[test]
fn refused_plan_exits_4_is_shown_and_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for f in ["directory.ldif", "intranet.json"] {
        std::fs::copy(ex.join(f), dir.path().join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(ex.join("roster.yaml"))
        .unwrap()
        .replace(
            "  protected: [breakglass]",
            "  protected: [breakglass]\n  max_blocks: 2\n  licences: 1000",
        );
    std::fs::write(dir.path().join("roster.yaml"), cfg).unwrap();
    let r = roster(dir.path(), &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stdout.contains("⊘ block"),
        "the refused plan is still shown"
    );
    assert!(
        r.stdout
            .contains("Licences: 27 → 25 active accounts (limit 1000)."),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("policy.max_blocks") && r.stderr.contains("--allow-blocks 5"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("plan.json").exists());
    let r = roster(
        dir.path(),
        &["plan", "-o", "plan.json", "--allow-blocks", "5"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["allowances"]["allow_blocks"], 5);
}

#[test]
fn entries_without_a_username_do_not_count_as_users() {
    let mut w = company(0);
    w.dir.users = vec![Entry::new("ou=people,dc=example,dc=com")];
    assert!(rules(check(&w, None)).contains(&"empty_directory"));
}
