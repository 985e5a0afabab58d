//! The safety policy: each rule refuses with its figures and passes when raised.

use roster::config::Loaded;
use roster::config::{Guard, Limit, Off, Policy};
use roster::model::Entry;
use roster::observe::Observed;
use roster::plan::Allowances;
use roster::policy::{self, Refusal};

use crate::cli::roster;
use crate::support::world::{fields_of, World, STAFF};

fn check(w: &World, allow_blocks: Option<usize>) -> Result<(), Vec<Refusal>> {
    check_with(
        w,
        Allowances {
            allow_blocks,
            ..Allowances::default()
        },
    )
}

fn check_with(w: &World, allowances: Allowances) -> Result<(), Vec<Refusal>> {
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
    plan.allowances = allowances;
    policy::check(&plan, &w.config, &w.dir, &w.intranet).map_err(|r| r.refusals)
}

fn rules(r: Result<(), Vec<Refusal>>) -> Vec<&'static str> {
    r.err().unwrap_or_default().iter().map(|r| r.rule).collect()
}

/// Ten people with accounts; `leavers` of them left the syncing group.
fn company(leavers: usize) -> World {
    company_of(10, leavers)
}

/// `size` people with accounts; `leavers` of them left the syncing group.
fn company_of(size: usize, leavers: usize) -> World {
    let mut w = World::default();
    for i in 0..size {
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
    let mut w =
        company(3).policy(|p| p.max_blocks = Some(Guard::Limit(Limit::Share("20%".into()))));
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
    w.config.policy.max_blocks = Some(Guard::Limit(Limit::Count(3)));
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

/// The quickstart in a temporary folder, with `lines` added to its policy.
pub fn quickstart_with_policy(lines: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ex = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for f in ["directory.ldif", "intranet.json"] {
        std::fs::copy(ex.join(f), dir.path().join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(ex.join("roster.yaml"))
        .unwrap()
        .replace(
            "  protected: [breakglass]",
            &format!("  protected: [breakglass]\n{lines}"),
        );
    std::fs::write(dir.path().join("roster.yaml"), cfg).unwrap();
    dir
}

#[test]
fn refused_plan_exits_4_is_shown_and_not_saved() {
    let dir = quickstart_with_policy("  max_blocks: 2\n  licences: 1000");
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

/// A limit on destructive changes, tried on worlds with `n` such changes among 10 accounts:
/// disabled, raised, lowered, and lifted for one run by its allowance (and not beyond it).
fn limit_settings_hold(
    rule: &str,
    world: impl Fn(usize) -> World,
    setting: impl Fn(&mut Policy) -> &mut Option<Guard>,
    allow: impl Fn(&mut Allowances) -> &mut Option<usize>,
) {
    let with = |g: Guard, n: usize| {
        let mut w = world(n);
        *setting(&mut w.config.policy) = Some(g);
        check(&w, None)
    };
    // 9 of 10: a syncing group that all members left is refused before the policy is asked.
    assert!(with(Guard::Off(Off), 9).is_ok(), "{rule}: disabled");
    assert!(
        with(Guard::Limit(Limit::Count(8)), 8).is_ok(),
        "{rule}: raised"
    );
    assert!(
        with(Guard::Limit(Limit::Share("80%".into())), 8).is_ok(),
        "{rule}: raised as a share"
    );
    assert_eq!(
        rules(with(Guard::Limit(Limit::Count(1)), 2)),
        [rule],
        "{rule}: lowered"
    );
    assert_eq!(
        rules(with(Guard::Limit(Limit::Share("10%".into())), 2)),
        [rule],
        "{rule}: lowered as a share"
    );
    let w = world(7);
    let once = |n| {
        let mut a = Allowances::default();
        *allow(&mut a) = Some(n);
        check_with(&w, a)
    };
    assert!(once(7).is_ok(), "{rule}: lifted for one run");
    assert_eq!(rules(once(6)), [rule], "{rule}: lifted too little");
}

#[test]
fn every_limit_can_be_disabled_raised_lowered_or_lifted_once() {
    limit_settings_hold(
        "max_blocks",
        |n| company_of(10, n),
        |p| &mut p.max_blocks,
        |a| &mut a.allow_blocks,
    );
    limit_settings_hold(
        "max_clears",
        |n| clearing(10, n),
        |p| &mut p.max_clears,
        |a| &mut a.allow_clears,
    );
    limit_settings_hold(
        "max_revokes",
        |n| revoking(10, n),
        |p| &mut p.max_revokes,
        |a| &mut a.allow_revokes,
    );
    limit_settings_hold(
        "max_renames",
        |n| renaming(10, n),
        |p| &mut p.max_renames,
        |a| &mut a.allow_renames,
    );
    let lowered = {
        let mut w = company_of(10, 2);
        w.config.policy.max_blocks = Some(Guard::Limit(Limit::Count(1)));
        refusal(check(&w, None), "max_blocks")
    };
    assert!(
        lowered
            .message
            .contains("blocks 2 accounts, over policy.max_blocks (1)"),
        "{}",
        lowered.message
    );
}

#[test]
fn an_update_to_another_value_is_no_clear() {
    let mut w = clearing(10, 0);
    for u in &mut w.dir.users {
        u.remove("mail");
        u.add(
            "mail",
            roster::model::AttrValue::Text("new@example.com".into()),
        );
    }
    assert_eq!(w.plan().summary.update, 10);
    assert!(check(&w, None).is_ok());
}

fn refusal(r: Result<(), Vec<Refusal>>, rule: &str) -> Refusal {
    let all = r.expect_err("refused");
    all.iter()
        .find(|x| x.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} refusal in {all:?}"))
        .clone()
}

#[test]
fn blocks_default_to_the_larger_of_5_and_10_percent() {
    // 10 accounts: 10% is 1, so 5 rules: 5 blocks pass, 6 are refused.
    assert!(check(&company_of(10, 5), None).is_ok());
    let r = refusal(check(&company_of(10, 6), None), "max_blocks");
    assert!(
        r.message.contains("blocks 6 accounts")
            && r.message
                .contains("by default the larger of 5 and 10% of 10 active managed accounts = 5"),
        "{}",
        r.message
    );
    assert!(r.help.contains("--allow-blocks 6") && r.help.contains("`false` for no limit"));
    // 80 accounts: 10% is 8, over 5: 8 blocks pass, 9 are refused.
    assert!(check(&company_of(80, 8), None).is_ok());
    let r = refusal(check(&company_of(80, 9), None), "max_blocks");
    assert!(
        r.message.contains("10% of 80 active managed accounts = 8"),
        "{}",
        r.message
    );
}

/// `size` people with accounts; `cleared` of them lost their `mail` in the directory.
fn clearing(size: usize, cleared: usize) -> World {
    let mut w = World::default();
    for i in 0..size {
        let uid = format!("u{i}");
        w = w
            .person_with(&uid, &format!("{i}"), |e| {
                if i < cleared {
                    e.remove("mail");
                }
            })
            .account(&uid, &format!("{i}"));
    }
    w
}

#[test]
fn field_clears_default_to_the_larger_of_5_and_10_percent() {
    assert!(check(&clearing(10, 5), None).is_ok());
    let r = refusal(check(&clearing(10, 6), None), "max_clears");
    assert!(
        r.message
            .contains("clears 6 mapped field values (email: 6), over policy.max_clears")
            && r.message.contains("= 5)"),
        "{}",
        r.message
    );
    assert!(r.help.contains("--allow-clears 6"), "{}", r.help);
    assert!(check(&clearing(70, 7), None).is_ok(), "10% of 70 is 7");
    assert_eq!(rules(check(&clearing(70, 8), None)), ["max_clears"]);
}

/// `holders` accounts hold sysadmin in the intranet; `revoked` of them are no longer admins in
/// the directory.
fn revoking(holders: usize, revoked: usize) -> World {
    let mut w = World::default();
    for i in 0..holders {
        let uid = format!("u{i}");
        w = w
            .person(&uid, &format!("{i}"))
            .account(&uid, &format!("{i}"));
        w = w.sysadmin(&uid);
        if i >= revoked {
            w = w.admin(&uid);
        }
    }
    w
}

#[test]
fn revokes_default_to_the_larger_of_5_and_10_percent_of_role_holders() {
    assert!(check(&revoking(10, 5), None).is_ok());
    let r = refusal(check(&revoking(10, 6), None), "max_revokes");
    assert!(
        r.message.contains("revokes 6 admin roles, over policy.max_revokes (by default the larger of 5 and 10% of 10 admin role holders = 5)"),
        "{}",
        r.message
    );
    assert!(r.help.contains("--allow-revokes 6"), "{}", r.help);
    assert!(check(&revoking(60, 6), None).is_ok(), "10% of 60 is 6");
    assert_eq!(rules(check(&revoking(60, 7), None)), ["max_revokes"]);
}

/// `size` people with accounts; the accounts of `renamed` of them still have an old username
/// (same immutable ID), so the plan renames them.
fn renaming(size: usize, renamed: usize) -> World {
    let mut w = World::default();
    for i in 0..size {
        let uid = format!("u{i}");
        let login = if i < renamed {
            format!("old{i}")
        } else {
            uid.clone()
        };
        w = w
            .person(&uid, &format!("{i}"))
            .account_with(&login, Some(&format!("{i}")), |a| {
                a.fields = fields_of(&uid)
            });
    }
    w
}

#[test]
fn renames_default_to_the_larger_of_5_and_10_percent() {
    assert_eq!(renaming(10, 6).plan().summary.rename, 6);
    assert!(check(&renaming(10, 5), None).is_ok());
    let r = refusal(check(&renaming(10, 6), None), "max_renames");
    assert!(
        r.message.contains("renames 6 accounts, over policy.max_renames (by default the larger of 5 and 10% of 10 active managed accounts = 5)"),
        "{}",
        r.message
    );
    assert!(r.help.contains("--allow-renames 6"), "{}", r.help);
    assert!(check(&renaming(70, 7), None).is_ok(), "10% of 70 is 7");
    assert_eq!(rules(check(&renaming(70, 8), None)), ["max_renames"]);
}

#[test]
fn limits_read_from_yaml_count_share_and_false() {
    let with = |lines: &str| {
        let dir = quickstart_with_policy(lines);
        roster(dir.path(), &["plan", "-o", "plan.json"])
    };
    // The quickstart's 5 blocks and 2 revokes sit within the defaults.
    let r = with("");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = with("  max_blocks: false\n  max_clears: 0\n  max_revokes: 1");
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("revokes 2 admin roles, over policy.max_revokes (1)")
            && !r.stderr.contains("max_blocks"),
        "{}",
        r.stderr
    );
    let r = with("  max_blocks: 4\n  max_revokes: 50%");
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("over policy.max_blocks (4)") && !r.stderr.contains("max_revokes"),
        "{}",
        r.stderr
    );
    let r = with("  max_blocks: true");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("policy.max_blocks"), "{}", r.stderr);
}

#[test]
fn one_run_allowances_are_recorded_in_the_saved_plan() {
    let dir = quickstart_with_policy("  max_revokes: 0");
    let r = roster(dir.path(), &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("--allow-revokes 2"), "{}", r.stderr);
    assert!(!dir.path().join("plan.json").exists());
    let r = roster(
        dir.path(),
        &[
            "plan",
            "-o",
            "plan.json",
            "--allow-revokes",
            "2",
            "--allow-clears",
            "3",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["allowances"]["allow_revokes"], 2);
    assert_eq!(plan["allowances"]["allow_clears"], 3);
}

#[test]
fn the_audit_names_each_one_run_exception() {
    let a = Allowances {
        allow_blocks: Some(6),
        allow_clears: None,
        allow_revokes: Some(2),
        allow_renames: Some(21),
    };
    assert_eq!(
        a.describe(),
        [
            "`--allow-blocks 6` lifted `policy.max_blocks` for this run",
            "`--allow-revokes 2` lifted `policy.max_revokes` for this run",
            "`--allow-renames 21` lifted `policy.max_renames` for this run",
        ]
    );
    assert!(Allowances::default().describe().is_empty());
}
