//! One focused test per action and per conflict, on small readable worlds.

use roster::plan::Action::{self, *};

use crate::support::world::{actions, World, ADMINS, STAFF};

fn only(plan: &roster::plan::Plan) -> (Action, String) {
    assert_eq!(plan.changes.len(), 1, "{:#?}", plan.changes);
    actions(plan).remove(0)
}

#[test]
fn in_sync_is_an_empty_plan() {
    let plan = World::default()
        .person("ada", "1")
        .account("ada", "1")
        .plan();
    assert!(plan.is_empty(), "{:#?}", plan.changes);
}

#[test]
fn create_for_an_enabled_syncing_user_without_account() {
    let plan = World::default().person("ada", "1").plan();
    assert_eq!(only(&plan), (Create, "ada".into()));
    let c = &plan.changes[0];
    assert_eq!(c.external_id.as_deref(), Some("1"));
    let names: Vec<_> = c
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.after.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("email", Some("ada@example.com")),
            ("first_name", Some("Ada"))
        ]
    );
}

#[test]
fn no_create_for_a_disabled_user_or_a_non_member() {
    let w = World::default()
        .person_with("ada", "1", |e| {
            e.add(
                "pwdAccountLockedTime",
                roster::model::AttrValue::Text("20240101000000Z".into()),
            )
        })
        .person("bob", "2")
        .leave(STAFF, "bob");
    assert!(w.plan().is_empty());
}

#[test]
fn update_reverts_a_local_override_field_by_field() {
    let plan = World::default()
        .person_with("ada", "1", |e| {
            e.add("title", roster::model::AttrValue::Text("Engineer".into()))
        })
        .account_with("ada", Some("1"), |a| {
            a.fields.insert("first_name", "Countess".into());
            a.fields.insert("job_title", "Engineer".into());
        });
    let plan = plan.plan();
    assert_eq!(only(&plan), (Update, "ada".into()));
    let f = &plan.changes[0].fields;
    assert_eq!(f.len(), 1);
    assert_eq!(
        (
            f[0].name.as_str(),
            f[0].before.as_deref(),
            f[0].after.as_deref()
        ),
        ("first_name", Some("Countess"), Some("Ada"))
    );
}

#[test]
fn update_clears_a_field_the_directory_no_longer_has() {
    let plan = World::default()
        .person("ada", "1")
        .account_with("ada", Some("1"), |a| {
            a.fields.insert("job_title", "Engineer".into());
        });
    let plan = plan.plan();
    let f = &plan.changes[0].fields[0];
    assert_eq!((f.name.as_str(), f.after.as_deref()), ("job_title", None));
}

#[test]
fn unmapped_fields_are_never_touched() {
    let plan = World::default()
        .person("ada", "1")
        .account_with("ada", Some("1"), |a| {
            a.fields.insert("phone", "+1 555".into());
        });
    assert!(plan.plan().is_empty());
}

#[test]
fn block_a_disabled_user_still_in_a_syncing_group() {
    let plan = World::default()
        .person_with("ada", "1", |e| {
            e.add(
                "pwdAccountLockedTime",
                roster::model::AttrValue::Text("20240101000000Z".into()),
            )
        })
        .account("ada", "1")
        .plan();
    assert_eq!(only(&plan), (Block, "ada".into()));
    assert!(plan.changes[0].reason.contains("disabled"));
}

#[test]
fn block_a_user_who_left_the_syncing_groups() {
    let plan = World::default()
        .person("ada", "1")
        .leave(STAFF, "ada")
        .account("ada", "1")
        .plan();
    assert_eq!(only(&plan), (Block, "ada".into()));
    assert_eq!(plan.changes[0].reason, "left the syncing groups");
}

#[test]
fn block_a_user_gone_from_the_directory() {
    let plan = World::default().account("ada", "1").plan();
    assert_eq!(only(&plan), (Block, "ada".into()));
    assert_eq!(plan.changes[0].reason, "gone from the directory");
}

#[test]
fn an_already_blocked_leaver_is_left_alone() {
    let plan = World::default()
        .account_with("ada", Some("1"), |a| a.active = false)
        .plan();
    assert!(plan.is_empty());
}

#[test]
fn reactivate_a_returning_user() {
    let plan = World::default()
        .person("ada", "1")
        .account_with("ada", Some("1"), |a| a.active = false)
        .plan();
    assert_eq!(only(&plan), (Reactivate, "ada".into()));
}

#[test]
fn no_reactivation_when_the_policy_says_no() {
    let plan = World::default()
        .person("ada", "1")
        .account_with("ada", Some("1"), |a| a.active = false)
        .policy(|p| p.reactivate = false)
        .plan();
    assert!(plan.is_empty());
    assert!(
        plan.warnings[0].contains("stays blocked"),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn rename_matches_by_immutable_id_never_creates() {
    let plan = World::default()
        .person("ada.lovelace", "1")
        .account_with("ada", Some("1"), |a| {
            a.fields = crate::support::world::fields_of("ada.lovelace")
        })
        .plan();
    assert_eq!(only(&plan), (Rename, "ada.lovelace".into()));
    let f = &plan.changes[0].fields[0];
    assert_eq!(
        (f.name.as_str(), f.before.as_deref(), f.after.as_deref()),
        ("username", Some("ada"), Some("ada.lovelace"))
    );
}

#[test]
fn rename_on_a_change_of_case_only() {
    let plan = World::default()
        .person("Ada", "1")
        .account_with("ada", Some("1"), |a| {
            a.fields = crate::support::world::fields_of("Ada")
        })
        .plan();
    assert_eq!(only(&plan), (Rename, "Ada".into()));
}

#[test]
fn rename_chain_runs_in_an_order_that_never_collides() {
    // b → c must run before a → b.
    let w = World::default()
        .person("b", "1")
        .person("c", "2")
        .account_with("a", Some("1"), |a| {
            a.fields = crate::support::world::fields_of("b")
        })
        .account_with("b", Some("2"), |a| {
            a.fields = crate::support::world::fields_of("c")
        });
    let plan = w.plan();
    assert_eq!(actions(&plan), [(Rename, "c".into()), (Rename, "b".into())]);
}

#[test]
fn link_adopts_an_unmanaged_account_and_shows_its_field_updates() {
    let plan = World::default()
        .person("ada", "1")
        .account_with("ADA", None, |a| {
            a.fields
                .insert("first_name", "A.".into())
                .map(drop)
                .unwrap_or(())
        })
        .plan();
    let acts = actions(&plan);
    assert_eq!(acts[0], (Link, "ada".into()));
    assert_eq!(plan.changes[0].external_id.as_deref(), Some("1"));
    assert_eq!(
        plan.changes[0].fields.len(),
        2,
        "first_name and email differ"
    );
    assert_eq!(
        acts[1],
        (Rename, "ada".into()),
        "the case of the username follows the directory"
    );
}

#[test]
fn unmanaged_accounts_are_never_changed() {
    let plan = World::default()
        .account_with("kiosk", None, |a| a.active = true)
        .plan();
    assert!(plan.is_empty());
}

#[test]
fn grant_and_revoke_admin_roles() {
    let plan = World::default()
        .person("ada", "1")
        .person("bob", "2")
        .admin("ada")
        .account("ada", "1")
        .account("bob", "2")
        .sysadmin("bob")
        .plan();
    assert_eq!(
        actions(&plan),
        [(Grant, "ada".into()), (Revoke, "bob".into())],
        "grants before revokes"
    );
    assert_eq!(
        plan.changes[0].role.as_ref().unwrap().group_id,
        crate::support::world::SYSADMINS_ID
    );
}

#[test]
fn grant_to_an_account_this_plan_creates() {
    let plan = World::default().person("ada", "1").admin("ada").plan();
    assert_eq!(
        actions(&plan),
        [(Create, "ada".into()), (Grant, "ada".into())]
    );
    assert_eq!(plan.changes[1].intranet_id, None);
}

#[test]
fn a_role_member_without_an_active_account_is_a_warning_and_no_grant() {
    let plan = World::default()
        .person("ada", "1")
        .leave(STAFF, "ada")
        .admin("ada")
        .plan();
    assert!(plan.is_empty(), "{:#?}", plan.changes);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("ada") && w.contains("grant is left out")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn blocked_accounts_lose_their_roles() {
    let plan = World::default().account("ada", "1").sysadmin("ada").plan();
    assert_eq!(
        actions(&plan),
        [(Revoke, "ada".into()), (Block, "ada".into())]
    );
}

#[test]
fn protected_accounts_are_never_blocked_renamed_or_revoked() {
    let w = World::default()
        .person("breakglass2", "9")
        .account_with("breakglass", Some("9"), |a| {
            a.fields = crate::support::world::fields_of("breakglass2")
        })
        .account("root", "8")
        .sysadmin("root")
        .policy(|p| p.protected = vec!["breakglass".into(), "ROOT".into()]);
    let plan = w.plan();
    assert!(plan.is_empty(), "{:#?}", plan.changes);
    assert_eq!(plan.warnings.len(), 3, "{:?}", plan.warnings);
}

#[test]
fn role_users_may_be_local_accounts() {
    let mut w = World::default().account_with("breakglass", None, |_| {});
    w.config
        .admin_roles
        .get_mut("sysadmin")
        .unwrap()
        .members
        .users = vec!["breakglass".into()];
    assert_eq!(actions(&w.plan()), [(Grant, "breakglass".into())]);
}

#[test]
fn nested_groups_with_a_cycle_are_resolved() {
    let mut w = World::default().person("ada", "1").leave(STAFF, "ada");
    let mut team = roster::model::Entry::new("cn=team,ou=groups,dc=example,dc=com");
    team.add(
        "objectClass",
        roster::model::AttrValue::Text("groupOfNames".into()),
    );
    team.add(
        "member",
        roster::model::AttrValue::Text(crate::support::world::dn("ada")),
    );
    team.add("member", roster::model::AttrValue::Text(STAFF.into()));
    w.dir.groups.push(team);
    w.member_of(STAFF, "CN=Team, OU=groups, DC=example, DC=com");
    assert_eq!(actions(&w.plan()), [(Create, "ada".into())]);
}

// --- conflicts ---------------------------------------------------------------------------------

#[test]
fn conflict_two_directory_users_with_one_username() {
    let c = World::default()
        .person("ada", "1")
        .person_with("x", "2", |e| {
            e.remove("uid");
            e.add("uid", roster::model::AttrValue::Text("ADA".into()));
        })
        .conflicts();
    assert_eq!(c.len(), 1, "{c:#?}");
    assert!(c[0].message.contains("two directory users"));
}

#[test]
fn conflict_create_onto_a_username_held_by_another_account() {
    // ada's username is taken by a managed account of someone else who is not renamed away.
    let c = World::default()
        .person("ada", "1")
        .account_with("ada", Some("99"), |a| a.active = false)
        .conflicts();
    assert!(c[0].message.contains("would be held by"), "{c:#?}");
}

#[test]
fn conflict_rename_onto_a_username_held_by_another_account() {
    let c = World::default()
        .person("bob", "1")
        .account("ada", "1")
        .account_with("bob", None, |_| {})
        .policy(|p| p.adopt = false)
        .conflicts();
    assert!(
        c.iter()
            .any(|c| c.subject == "bob" && c.message.contains("would be held by")),
        "{c:#?}"
    );
}

#[test]
fn conflict_unmanaged_account_without_adopt() {
    let c = World::default()
        .person("ada", "1")
        .account_with("ada", None, |_| {})
        .policy(|p| p.adopt = false)
        .conflicts();
    assert!(c[0].message.contains("unmanaged"), "{c:#?}");
}

#[test]
fn conflict_a_syncing_user_without_id_or_username() {
    let c = World::default()
        .person_with("ada", "1", |e| e.remove("entryuuid"))
        .conflicts();
    assert!(c[0].message.contains("has no `entryUUID`"), "{c:#?}");
    let c = World::default()
        .person_with("ada", "1", |e| e.remove("uid"))
        .conflicts();
    assert!(c[0].message.contains("has no `uid`"), "{c:#?}");
}

#[test]
fn conflict_a_rename_cycle() {
    let c = World::default()
        .person("a", "1")
        .person("b", "2")
        .account_with("b", Some("1"), |a| {
            a.fields = crate::support::world::fields_of("a")
        })
        .account_with("a", Some("2"), |a| {
            a.fields = crate::support::world::fields_of("b")
        })
        .conflicts();
    assert!(c.iter().any(|c| c.message.contains("cycle")), "{c:#?}");
}

#[test]
fn conflict_a_role_group_missing_in_the_intranet() {
    let mut w = World::default();
    w.intranet.groups.clear();
    let c = w.conflicts();
    assert!(
        c[0].message.contains("no group named `Sysadmins`"),
        "{c:#?}"
    );
}

#[test]
fn all_conflicts_are_reported_together() {
    let mut w = World::default()
        .person("ada", "1")
        .account_with("ada", None, |_| {})
        .policy(|p| p.adopt = false)
        .person_with("x", "2", |e| e.remove("uid"));
    w.intranet.groups.clear();
    assert_eq!(w.conflicts().len(), 3);
}

#[test]
fn admins_group_alone_does_not_sync() {
    let w = World::default().person("ada", "1").leave(STAFF, "ada");
    let mut w = w;
    w.member_of(ADMINS, &crate::support::world::dn("ada"));
    assert!(w.plan().is_empty());
}

// --- provenance -----------------------------------------------------------------------------

#[test]
fn the_state_file_tells_overrides_from_directory_changes() {
    use roster::plan::Origin;
    let w = World::default()
        .person_with("ada", "1", |e| {
            e.add("title", roster::model::AttrValue::Text("Director".into()))
        })
        .account_with("ada", Some("1"), |a| {
            a.fields.insert("first_name", "Countess".into());
            a.fields.insert("job_title", "Engineer".into());
        });
    let desired = roster::reconcile::desired::compute(&w.config, &w.dir);
    let origins = |state: Option<&roster::state::State>| -> Vec<(String, Option<Origin>)> {
        let out =
            roster::reconcile::reconcile(&desired, &w.intranet, state, &w.config.policy).unwrap();
        out.changes[0]
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.origin))
            .collect()
    };
    // No state file: the values just differ.
    assert_eq!(
        origins(None),
        [("first_name".into(), None), ("job_title".into(), None)]
    );
    // Last applied: first_name "Ada" (so "Countess" is an intranet edit), job_title "Engineer"
    // (so "Director" came from the directory).
    let mut state = roster::state::State::default();
    state.accounts.insert(
        "1".into(),
        [
            ("first_name".to_owned(), "Ada".to_owned()),
            ("job_title".to_owned(), "Engineer".to_owned()),
        ]
        .into(),
    );
    assert_eq!(
        origins(Some(&state)),
        [
            ("first_name".into(), Some(Origin::Intranet)),
            ("job_title".into(), Some(Origin::Directory))
        ]
    );
    let plan = roster::plan::Plan::new(
        Default::default(),
        vec![],
        roster::reconcile::reconcile(&desired, &w.intranet, Some(&state), &w.config.policy)
            .unwrap()
            .changes,
    );
    assert_eq!(
        (plan.summary.overrides, plan.summary.directory_changes),
        (1, 1)
    );
    assert!(roster::render::summary_line(&plan.summary)
        .contains("1 override to revert, 1 changed in the directory"));
}

#[test]
fn md_a_changed_mapping_is_told_from_a_directory_change_and_an_intranet_edit() {
    use roster::config::Mapping;
    use roster::plan::Origin;
    // Applied with `job_title: title` and `first_name: givenName`: Ada's title was "Engineer",
    // her first name "Ada"; the state file says so, with the mappings' digests.
    let world = |title: &str| {
        let title = title.to_owned();
        World::default()
            .person_with("ada", "1", |e| {
                e.add("title", roster::model::AttrValue::Text(title))
            })
            .account_with("ada", Some("1"), |a| {
                a.fields.insert("job_title", "Engineer".into());
            })
    };
    let applied = world("Engineer");
    let mut state = roster::state::State {
        mappings: roster::reconcile::mapping::digests(&applied.config),
        ..Default::default()
    };
    state.accounts.insert(
        "1".into(),
        [
            ("first_name".to_owned(), "Ada".to_owned()),
            ("email".to_owned(), "ada@example.com".to_owned()),
            ("job_title".to_owned(), "Engineer".to_owned()),
        ]
        .into(),
    );
    let origins = |w: &World, state: &roster::state::State| -> Vec<(String, Option<Origin>)> {
        let desired = roster::reconcile::desired::compute(&w.config, &w.dir);
        let out =
            roster::reconcile::reconcile(&desired, &w.intranet, Some(state), &w.config.policy)
                .unwrap();
        out.changes
            .iter()
            .flat_map(|c| c.fields.iter().map(|f| (f.name.clone(), f.origin)))
            .collect()
    };
    // Converged: nothing to do.
    assert_eq!(origins(&applied, &state), []);

    // The template of job_title is edited: the config changed it.
    let templated = || {
        let mut w = world("Engineer");
        w.config.field_mappings.insert(
            "job_title".into(),
            Mapping::Simple("{title} ({uid})".into()),
        );
        w
    };
    let edited = templated();
    assert_eq!(
        origins(&edited, &state),
        [("job_title".into(), Some(Origin::Config))]
    );
    let plan = {
        let desired = roster::reconcile::desired::compute(&edited.config, &edited.dir);
        roster::plan::Plan::new(
            Default::default(),
            vec![],
            roster::reconcile::reconcile(
                &desired,
                &edited.intranet,
                Some(&state),
                &edited.config.policy,
            )
            .unwrap()
            .changes,
        )
    };
    assert_eq!(plan.summary.config_changes, 1);
    assert!(
        roster::render::summary_line(&plan.summary).contains("(1 from a config change)"),
        "{}",
        roster::render::summary_line(&plan.summary)
    );

    // The same mapping, the directory's value changed: changed in the directory.
    assert_eq!(
        origins(&world("Director"), &state),
        [("job_title".into(), Some(Origin::Directory))]
    );

    // The intranet edited, the mapping changed too: an edit to revert, not the config's.
    let mut overridden = edited;
    overridden.intranet.accounts[0]
        .fields
        .insert("job_title", "Boss".into());
    assert_eq!(
        origins(&overridden, &state),
        [("job_title".into(), Some(Origin::Both))]
    );

    // A state file from before the digests: today's labels.
    let old = roster::state::State {
        mappings: Default::default(),
        ..state.clone()
    };
    assert_eq!(
        origins(&templated(), &old),
        [("job_title".into(), Some(Origin::Directory))]
    );
}
