//! Properties of reconcile over random directories and intranets:
//! a plan converges (apply it in memory, plan again: empty), never removes an account, never
//! changes an unmanaged account it does not link, and never blocks, renames or revokes a
//! protected one.

use proptest::prelude::*;

use roster::intranet::memory;
use roster::model::AttrValue;
use roster::plan::{Action, Inputs, Plan};
use roster::reconcile;

use crate::support::world::{World, STAFF};

#[derive(Debug, Clone)]
enum Acct {
    None,
    /// Managed: username variant (0 same, 1 old name, 2 upper case), active, title drift.
    Managed(u8, bool, bool),
    /// Unmanaged with the same username.
    Unmanaged(bool),
}

#[derive(Debug, Clone)]
struct Person {
    syncing: bool,
    disabled: bool,
    admin: bool,
    title: Option<u8>,
    acct: Acct,
    sysadmin: bool,
}

fn person() -> impl Strategy<Value = Person> {
    let acct = prop_oneof![
        Just(Acct::None),
        (0u8..3, any::<bool>(), any::<bool>()).prop_map(|(n, a, t)| Acct::Managed(n, a, t)),
        any::<bool>().prop_map(Acct::Unmanaged),
    ];
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        prop::option::of(0u8..3),
        acct,
        prop::bool::weighted(0.3),
    )
        .prop_map(|(syncing, disabled, admin, title, acct, sysadmin)| Person {
            syncing,
            disabled,
            admin,
            title,
            acct,
            sysadmin,
        })
}

#[derive(Debug, Clone)]
struct Case {
    people: Vec<Person>,
    /// Managed accounts whose users are gone; unmanaged local accounts.
    gone: Vec<(bool, bool)>,
    locals: Vec<(bool, bool)>,
    protected: Vec<usize>,
    adopt: bool,
    reactivate: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(person(), 0..10),
        prop::collection::vec((any::<bool>(), any::<bool>()), 0..3),
        prop::collection::vec((any::<bool>(), any::<bool>()), 0..3),
        prop::collection::vec(0usize..16, 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(people, gone, locals, protected, adopt, reactivate)| Case {
                people,
                gone,
                locals,
                protected,
                adopt,
                reactivate,
            },
        )
}

fn build(case: &Case) -> World {
    let mut w = World::default().policy(|p| {
        p.adopt = case.adopt;
        p.reactivate = case.reactivate;
    });
    let mut names = Vec::new();
    for (i, p) in case.people.iter().enumerate() {
        let uid = format!("u{i}");
        let id = format!("id-{i}");
        let (disabled, title) = (p.disabled, p.title);
        w = w.person_with(&uid, &id, |e| {
            if disabled {
                e.add(
                    "pwdAccountLockedTime",
                    AttrValue::Text("20240101000000Z".into()),
                );
            }
            if let Some(t) = title {
                // Some titles are only white space: no value, like a missing one.
                let text = if t % 4 == 0 {
                    " ".repeat(usize::from(t % 3))
                } else {
                    format!("title {t}")
                };
                e.add("title", AttrValue::Text(text));
            }
        });
        if !p.syncing {
            w = w.leave(STAFF, &uid);
        }
        if p.admin {
            w = w.admin(&uid);
        }
        let account_name = match &p.acct {
            Acct::None => None,
            Acct::Managed(variant, active, drift) => {
                let name = match variant {
                    0 => uid.clone(),
                    1 => format!("old{i}"),
                    _ => uid.to_uppercase(),
                };
                let (active, drift) = (*active, *drift);
                w = w.account_with(&name, Some(&id), |a| {
                    a.active = active;
                    if drift {
                        a.fields.insert("job_title", "local edit".into());
                    } else if variant % 2 == 1 {
                        // Left by a run before white space counted as no value.
                        a.fields.insert("job_title", "   ".into());
                    }
                });
                Some(name)
            }
            Acct::Unmanaged(active) => {
                let active = *active;
                w = w.account_with(&uid, None, |a| a.active = active);
                Some(uid.clone())
            }
        };
        if let Some(name) = account_name {
            if p.sysadmin {
                w = w.sysadmin(&name);
            }
            names.push(name);
        }
    }
    for (k, (active, sysadmin)) in case.gone.iter().enumerate() {
        let name = format!("gone{k}");
        let active = *active;
        w = w.account_with(&name, Some(&format!("gone-id-{k}")), |a| a.active = active);
        if *sysadmin {
            w = w.sysadmin(&name);
        }
        names.push(name);
    }
    for (k, (active, sysadmin)) in case.locals.iter().enumerate() {
        let name = format!("local{k}");
        let active = *active;
        w = w.account_with(&name, None, |a| a.active = active);
        if *sysadmin {
            w = w.sysadmin(&name);
        }
        names.push(name);
    }
    let protected: Vec<String> = case
        .protected
        .iter()
        .filter_map(|&i| names.get(i).cloned())
        .collect();
    w.policy(|p| p.protected = protected)
}

fn plan_of(w: &World) -> Option<Plan> {
    let desired = reconcile::desired::compute(&w.config, &w.dir);
    let out = reconcile::reconcile(&desired, &w.intranet, None, &w.config.policy).ok()?;
    Some(Plan::new(Inputs::default(), out.warnings, out.changes))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_plan_applied_then_planned_again_is_empty(case in case()) {
        let w = build(&case);
        let Some(plan) = plan_of(&w) else { return Ok(()) };
        let mut after = World { config: w.config.clone(), dir: w.dir.clone(), intranet: w.intranet.clone() };
        memory::apply(&mut after.intranet, &plan);
        let again = plan_of(&after).expect("a converged state has no conflicts");
        prop_assert!(again.is_empty(), "first plan: {:#?}\nsecond plan: {:#?}", plan.changes, again.changes);
    }

    #[test]
    fn no_plan_removes_an_account(case in case()) {
        let w = build(&case);
        let Some(plan) = plan_of(&w) else { return Ok(()) };
        let mut state = w.intranet.clone();
        memory::apply(&mut state, &plan);
        for a in &w.intranet.accounts {
            prop_assert!(state.accounts.iter().any(|b| b.id == a.id), "{} disappeared", a.username);
        }
    }

    #[test]
    fn unmanaged_accounts_change_only_when_linked(case in case()) {
        let w = build(&case);
        let Some(plan) = plan_of(&w) else { return Ok(()) };
        let linked: Vec<&str> = plan.changes.iter().filter(|c| c.action == Action::Link).filter_map(|c| c.intranet_id.as_deref()).collect();
        let mut state = w.intranet.clone();
        memory::apply(&mut state, &plan);
        for before in w.intranet.accounts.iter().filter(|a| !a.is_managed() && !linked.contains(&a.id.as_str())) {
            let after = state.accounts.iter().find(|b| b.id == before.id).unwrap();
            prop_assert_eq!(before, after);
        }
    }

    #[test]
    fn protected_accounts_are_never_blocked_renamed_or_revoked(case in case()) {
        let w = build(&case);
        let Some(plan) = plan_of(&w) else { return Ok(()) };
        let protected: Vec<String> = w.config.policy.protected.iter().map(|p| p.to_lowercase()).collect();
        for c in &plan.changes {
            let acct = c.intranet_id.as_ref().and_then(|id| w.intranet.accounts.iter().find(|a| &a.id == id));
            let Some(acct) = acct else { continue };
            if protected.contains(&acct.username.to_lowercase()) {
                prop_assert!(!matches!(c.action, Action::Block | Action::Rename | Action::Revoke), "{:?} on protected {}", c.action, acct.username);
            }
        }
    }
}
