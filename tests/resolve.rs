//! Nothing resolves to nobody: a mistyped or empty group, a mapped attribute no syncing user
//! has, two fields on one SCIM attribute and a directory rebuilt with new IDs are each one clear
//! error that plans nothing, never a mass change.

use std::path::{Path, PathBuf};

use roster::model::AttrValue;

use crate::cli::{roster, Run};
use crate::support::world::World;

const SYNCING: &str = "cn=intranet-users,ou=groups,dc=example,dc=com";
const PEOPLE_ADMINS: &str = "cn=people-admins,ou=groups,dc=example,dc=com";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The quickstart in a folder of its own, its config edited by `edit`.
fn quickstart_with(edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(root().join("examples/quickstart")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let path = dir.path().join("roster.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&path, edited).unwrap();
    dir
}

fn replace(from: &'static str, to: &'static str) -> impl FnOnce(String) -> String {
    move |t| t.replace(from, to)
}

/// Does the diagnostic say `text`, however miette wrapped its lines?
fn says(stderr: &str, text: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    squash(stderr).contains(&squash(text))
}

/// `plan -o plan.json` in `dir`: it must fail with exit 1, show no plan and save none.
fn plan_fails(dir: &Path) -> Run {
    let r = roster(dir, &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "nothing is planned: {}", r.stdout);
    assert!(!dir.join("plan.json").exists(), "no plan is saved");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

#[test]
fn a_one_letter_typo_in_the_syncing_group_plans_nothing_and_says_which_group_was_meant() {
    let dir = quickstart_with(replace(
        "- cn=intranet-users,ou=groups",
        "- cn=intranet-user,ou=groups",
    ));
    let r = plan_fails(dir.path());
    assert!(
        says(
            &r.stderr,
            "syncing group `cn=intranet-user,ou=groups,dc=example,dc=com` is not in the directory"
        ),
        "{}",
        r.stderr
    );
    assert!(
        says(&r.stderr, &format!("did you mean `{SYNCING}`?")),
        "{}",
        r.stderr
    );
    assert!(says(&r.stderr, "roster.yaml:18:5"), "{}", r.stderr);
    assert!(!says(&r.stderr, "to block"), "{}", r.stderr);
    // validate reads the directory too, and says the same.
    let v = roster(dir.path(), &["validate"]);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        says(&v.stderr, &format!("did you mean `{SYNCING}`?")),
        "{}",
        v.stderr
    );
    // --config-only checks the file alone, and says what it did not check.
    let v = roster(dir.path(), &["validate", "--config-only"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("config only: the directory was not read"),
        "{}",
        v.stdout
    );
}

#[test]
fn a_typo_in_a_role_group_is_listed_with_every_other_problem() {
    let dir = quickstart_with(|t| {
        t.replace(
            "- cn=people-admins,ou=groups",
            "- CN=People-Admin, ou=groups",
        )
        .replace("job_title: title", "job_title: titel")
    });
    let r = plan_fails(dir.path());
    assert!(says(&r.stderr, "2 names in the config"), "{}", r.stderr);
    assert!(
        says(&r.stderr, "role `people_admin`'s group `CN=People-Admin, ou=groups,dc=example,dc=com` is not in the directory"),
        "{}",
        r.stderr
    );
    assert!(
        says(&r.stderr, &format!("did you mean `{PEOPLE_ADMINS}`?")),
        "{}",
        r.stderr
    );
    assert!(says(&r.stderr, "did you mean `title`?"), "{}", r.stderr);
    insta::assert_snapshot!("diag_unresolved", r.stderr);
}

#[test]
fn group_dns_compare_without_case_or_spacing() {
    let dir = quickstart_with(replace(
        "- cn=intranet-users,ou=groups,dc=example,dc=com",
        "- CN=Intranet-Users , OU=Groups,DC=example,DC=com",
    ));
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn an_empty_group_is_an_error_unless_allowed() {
    // `cn=sales` holds people; emptied, it holds nobody.
    let empty = |t: String| {
        t.replace(
            "  - cn=intranet-users,ou=groups,dc=example,dc=com\n",
            "  - cn=intranet-users,ou=groups,dc=example,dc=com\n  - cn=contractors,ou=groups,dc=example,dc=com\n",
        )
    };
    let add_group = |dir: &Path| {
        let ldif = dir.join("directory.ldif");
        let mut text = std::fs::read_to_string(&ldif).unwrap();
        text.push_str("\ndn: cn=contractors,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: contractors\nmember: cn=nobody,ou=gone,dc=example,dc=com\n");
        std::fs::write(ldif, text).unwrap();
    };
    let dir = quickstart_with(empty);
    add_group(dir.path());
    let r = plan_fails(dir.path());
    assert!(
        says(&r.stderr, "syncing group `cn=contractors,ou=groups,dc=example,dc=com` has 1 member, but none of them"),
        "{}",
        r.stderr
    );
    assert!(says(&r.stderr, "allow_empty: true"), "{}", r.stderr);

    let dir = quickstart_with(|t| {
        empty(t).replace(
            "  - cn=contractors,ou=groups,dc=example,dc=com\n",
            "  - { dn: \"cn=contractors,ou=groups,dc=example,dc=com\", allow_empty: true }\n",
        )
    });
    add_group(dir.path());
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("syncing group cn=contractors,ou=groups,dc=example,dc=com has 1 member")
            && r.stdout.contains("allowed by `allow_empty`"),
        "the reviewer still sees it: {}",
        r.stdout
    );
    // The same plan as the quickstart's otherwise.
    assert!(r.stdout.contains("Plan: 2 to create"), "{}", r.stdout);
    let v = roster(dir.path(), &["validate"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("25 syncing users"), "{}", v.stdout);
}

#[test]
fn a_group_with_no_members_is_an_error_for_a_role_too() {
    let dir = quickstart_with(replace(
        "        - cn=people-admins,ou=groups,dc=example,dc=com\n",
        "        - cn=people-admins,ou=groups,dc=example,dc=com\n        - cn=auditors,ou=groups,dc=example,dc=com\n",
    ));
    let ldif = dir.path().join("directory.ldif");
    let mut text = std::fs::read_to_string(&ldif).unwrap();
    text.push_str(
        "\ndn: cn=auditors,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: auditors\n",
    );
    std::fs::write(ldif, text).unwrap();
    let r = plan_fails(dir.path());
    assert!(
        says(&r.stderr, "role `people_admin`'s group `cn=auditors,ou=groups,dc=example,dc=com` has no members: every holder of the role it grants would be revoked"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_mistyped_attribute_names_the_field_and_the_attribute_meant() {
    let dir = quickstart_with(replace("job_title: title", "job_title: titel"));
    let r = plan_fails(dir.path());
    assert!(
        says(
            &r.stderr,
            "no syncing user has the attribute `titel` that `job_title` is mapped from"
        ),
        "{}",
        r.stderr
    );
    assert!(says(&r.stderr, "did you mean `title`?"), "{}", r.stderr);
    assert!(says(&r.stderr, "roster.yaml:26:14"), "{}", r.stderr);
}

#[test]
fn a_template_naming_an_attribute_no_user_has_is_the_same_error() {
    let dir = quickstart_with(replace("\"{givenName} {sn}\"", "\"{givenNme} {sn}\""));
    let r = plan_fails(dir.path());
    assert!(
        says(
            &r.stderr,
            "no syncing user has the attribute `givenNme` that `display_name` is mapped from"
        ),
        "{}",
        r.stderr
    );
    // Suggested as the directory writes it, not in the lowercase Roster compares with.
    assert!(says(&r.stderr, "did you mean `givenName`?"), "{}", r.stderr);
}

#[test]
fn a_mistyped_username_or_id_attribute_is_one_problem_at_its_key_not_one_per_user() {
    for (from, to, key, meant, at) in [
        (
            "username_attribute: uid",
            "username_attribute: uidd",
            "uidd (username_attribute)",
            "uid",
            "roster.yaml:11:23",
        ),
        (
            "id_attribute: entryUUID",
            "id_attribute: entryUID",
            "entryUID (id_attribute)",
            "entryUUID",
            "roster.yaml:10:17",
        ),
    ] {
        let dir = quickstart_with(replace(from, to));
        let r = plan_fails(dir.path());
        let (attr, rest) = key.split_once(' ').unwrap();
        assert!(
            says(&r.stderr, &format!("no syncing user has `{attr}` {rest}"))
                && says(&r.stderr, &format!("did you mean `{meant}`?"))
                && says(&r.stderr, at),
            "{}",
            r.stderr
        );
        assert_eq!(
            r.stderr.matches("roster::resolve::").count(),
            1,
            "{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("but has no"),
            "no per-user conflicts: {}",
            r.stderr
        );
        let v = roster(dir.path(), &["validate"]);
        assert_eq!(v.code, 1, "{}", v.stderr);
        assert!(
            says(&v.stderr, &format!("did you mean `{meant}`?")),
            "{}",
            v.stderr
        );
    }
}

#[test]
fn a_disabled_attribute_no_user_has_warns_and_refuses_reactivations() {
    let typo = "disabled: { attribute: pwdAccountLockedTim }";
    let warning = "`directory.disabled`: no user in the directory has `pwdAccountLockedTim`, so nobody is treated as disabled; did you mean `pwdAccountLockedTime`?";
    // The quickstart's returning user would be reactivated on the strength of it: refused.
    let dir = quickstart_with(replace(
        "disabled: { attribute: pwdAccountLockedTime }",
        typo,
    ));
    let r = plan_fails(dir.path());
    assert!(
        says(&r.stderr, "roster::resolve::disabled_attribute_missing")
            && says(&r.stderr, "no user in the directory has `pwdAccountLockedTim`, so nobody is treated as disabled, yet the plan would reactivate 1 blocked account")
            && says(&r.stderr, "did you mean `pwdAccountLockedTime`?")
            && says(&r.stderr, "`disabled: { attribute: pwdAccountLockedTim, allow_empty: true }`")
            && says(&r.stderr, "roster.yaml:12:26"),
        "{}",
        r.stderr
    );
    // `validate` does not read the intranet: it warns, naming the attribute meant.
    let v = roster(dir.path(), &["validate"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stderr.contains(warning), "{}", v.stderr);
    // Without reactivations, users still hold a name close to it (derek.stone is locked under
    // the right name): a typo, refused, or he would quietly stay active.
    let dir = quickstart_with(|t| {
        t.replace("disabled: { attribute: pwdAccountLockedTime }", typo)
            .replace("reactivate: true", "reactivate: false")
    });
    let r = plan_fails(dir.path());
    assert!(
        says(&r.stderr, "yet users hold a name close to it")
            && says(&r.stderr, "did you mean `pwdAccountLockedTime`?"),
        "{}",
        r.stderr
    );
    // A name no user has and none is close to (nobody is locked yet): the plan goes ahead, with
    // the warning on top.
    let dir = quickstart_with(|t| {
        t.replace(
            "disabled: { attribute: pwdAccountLockedTime }",
            "disabled: { attribute: nsAccountLock }",
        )
        .replace("reactivate: true", "reactivate: false")
    });
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("no user in the directory has `nsAccountLock`")
            && !r.stdout.contains("block derek.stone"),
        "{}",
        r.stdout
    );
    // `allow_empty: true` says nobody having it is expected.
    let dir = quickstart_with(replace(
        "disabled: { attribute: pwdAccountLockedTime }",
        "disabled: { attribute: pwdAccountLockedTim, allow_empty: true }",
    ));
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(warning) && r.stdout.contains("reactivate rita.return"),
        "{}",
        r.stdout
    );
    // The right name: no warning, derek.stone blocked.
    let r = roster(
        &root(),
        &["plan", "--config", "examples/quickstart/roster.yaml"],
    );
    assert!(
        !r.stdout.contains("directory.disabled") && r.stdout.contains("block derek.stone"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_field_allowed_to_be_empty_plans() {
    let dir = quickstart_with(replace(
        "  department: departmentNumber\n",
        "  department: departmentNumber\n  employee_number: { from: employeeNumber, allow_empty: true }\n",
    ));
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = quickstart_with(replace(
        "  department: departmentNumber\n",
        "  department: departmentNumber\n  employee_number: employeeNumber\n",
    ));
    let r = plan_fails(dir.path());
    assert!(
        says(
            &r.stderr,
            "`employee_number: { from: \"employeeNumber\", allow_empty: true }`"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn two_fields_on_one_scim_attribute_point_at_both_keys() {
    for (extra, attribute) in [
        (
            "  scim:Title: title\n",
            "`job_title` and `scim:Title` both write the SCIM attribute `title`",
        ),
        (
            "  \"scim:emails[type eq \\\"work\\\"].value\": mail\n",
            "`email` and `scim:emails[type eq \"work\"].value` both write the SCIM attribute",
        ),
    ] {
        let dir = quickstart_with(|t| {
            t.replace(
                "  department: departmentNumber\n",
                &format!("  department: departmentNumber\n{extra}"),
            )
        });
        let r = roster(dir.path(), &["validate", "--config-only"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(
            says(&r.stderr, "roster::config::same_scim_attribute"),
            "{}",
            r.stderr
        );
        assert!(says(&r.stderr, attribute), "{}", r.stderr);
        assert!(
            says(&r.stderr, "this field") && says(&r.stderr, "and this one"),
            "a label on both keys: {}",
            r.stderr
        );
    }
}

/// Six people whose directory was rebuilt: new IDs, same usernames as their managed accounts.
fn rebuilt(people: usize, rebuilt: usize) -> World {
    let mut w = World::default();
    for i in 0..people {
        let uid = format!("p{i}");
        let new_id = if i < rebuilt {
            format!("new-{i}")
        } else {
            format!("old-{i}")
        };
        w = w
            .person_with(&uid, &new_id, |e| {
                e.add("title", AttrValue::Text("Engineer".into()))
            })
            .account(&uid, &format!("old-{i}"));
    }
    w
}

#[test]
fn a_directory_rebuilt_with_new_ids_is_one_conflict_with_the_remedy() {
    let conflicts = rebuilt(8, 6).conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    let c = &conflicts[0];
    assert!(
        c.message
            .starts_with("6 of 8 syncing users have an immutable ID the intranet does not know"),
        "{}",
        c.message
    );
    assert!(c.message.contains("p0, p1, p2, p3, p4, …"), "{}", c.message);
    assert!(c.help.contains("clear `externalId`"), "{}", c.help);

    // Below the threshold (fewer than 5, or under half), each is its own conflict, as before.
    let few = rebuilt(8, 3).conflicts();
    assert_eq!(few.len(), 3, "{few:#?}");
    assert!(few.iter().all(|c| c.message.contains("would be held by")));

    // The remedy works: with externalId cleared, the next plan links each account for review.
    let mut w = rebuilt(8, 6);
    for a in &mut w.intranet.accounts[..6] {
        a.external_id = None;
    }
    let plan = w.plan();
    assert_eq!(plan.summary.link, 6);
    assert_eq!(plan.summary.block, 0);
    assert_eq!(plan.summary.create, 0);
}

#[test]
fn the_quickstart_is_not_a_rebuilt_directory() {
    let r = roster(
        &root(),
        &["plan", "--config", "examples/quickstart/roster.yaml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("1 to rename"), "{}", r.stdout);
}

/// A group's detailed form names it with `group:` (in the source's terms: a DN here); `dn:`,
/// its earlier name, is still accepted, by the schema check and by serde alike, and a
/// diagnostic points at whichever key was written. Both at once is an error naming both.
#[test]
fn a_detailed_group_is_written_with_group_and_dn_is_still_accepted() {
    let syncing = "  - cn=intranet-users,ou=groups,dc=example,dc=com\n";
    for key in ["group", "dn"] {
        let dir = quickstart_with(move |t| {
            t.replace(
                syncing,
                &format!("  - {{ {key}: \"cn=intranet-users,ou=groups,dc=example,dc=com\", allow_empty: true }}\n"),
            )
        });
        let r = roster(dir.path(), &["plan"]);
        assert_eq!(r.code, 0, "`{key}:` {}", r.stderr);
        assert!(r.stdout.contains("Plan: 2 to create"), "{}", r.stdout);
        let v = roster(dir.path(), &["validate", "--config-only"]);
        assert_eq!(v.code, 0, "`{key}:` {}", v.stderr);

        // A user named as the group: the label sits under the value of the key written.
        let dir = quickstart_with(move |t| {
            t.replace(
                syncing,
                &format!("  - {{ {key}: \"uid=alice.admin,ou=people,dc=example,dc=com\" }}\n"),
            )
        });
        let r = plan_fails(dir.path());
        assert!(
            says(&r.stderr, "is a user, not a group")
                && r.stderr
                    .contains(&format!("roster.yaml:18:{}", 7 + key.len() + 2)),
            "`{key}:` {}",
            r.stderr
        );
    }
    let dir = quickstart_with(replace(
        "  - cn=intranet-users,ou=groups,dc=example,dc=com\n",
        "  - { group: cn=a, dn: \"cn=intranet-users,ou=groups,dc=example,dc=com\" }\n",
    ));
    let r = roster(dir.path(), &["validate", "--config-only"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        says(&r.stderr, "`syncing_groups[0]` has both `group` and `dn`")
            && says(&r.stderr, "keep one of them: `group` (the group's name in the source's terms) or `dn` (the earlier name of `group`)"),
        "{}",
        r.stderr
    );
    // The schema documents `group`, and `dn` as deprecated.
    let schema = roster::config::load::schema();
    let detailed = &schema["$defs"]["DetailedGroup"]["properties"];
    assert!(detailed["group"].is_object(), "{detailed}");
    assert_eq!(detailed["dn"]["deprecated"], true, "{detailed}");
}

/// The help for an emptied group shows the detailed form with `group:`, not `dn:`.
#[test]
fn the_allow_empty_help_names_the_group_key() {
    let dir = quickstart_with(replace(
        "  - cn=intranet-users,ou=groups,dc=example,dc=com\n",
        "  - cn=intranet-users,ou=groups,dc=example,dc=com\n  - cn=it-admins,ou=groups,dc=example,dc=com\n",
    ));
    let ldif = dir.path().join("directory.ldif");
    let text = std::fs::read_to_string(&ldif).unwrap();
    let emptied: String = text
        .split("\n\n")
        .map(|e| {
            if e.starts_with("dn: cn=it-admins,") {
                e.lines()
                    .filter(|l| !l.starts_with("member:"))
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                e.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    assert_ne!(emptied, text, "the group had members");
    std::fs::write(ldif, emptied).unwrap();
    let r = plan_fails(dir.path());
    assert!(
        says(
            &r.stderr,
            "write it as `{ group: \"cn=it-admins,ou=groups,dc=example,dc=com\", allow_empty: true }`"
        ) && !r.stderr.contains("{ dn:"),
        "{}",
        r.stderr
    );
}

/// "`directory` needs one of …" and "has both …" list the source keys and what each is for from
/// the schema (the doc of each `SourceConfig` variant): every kind of source the schema has is
/// named, so a new source needs no text edit.
#[test]
fn the_source_choice_lists_every_source_from_the_schema() {
    let schema = roster::config::load::schema();
    let branches = schema["$defs"]["DirectoryConfig"]["oneOf"]
        .as_array()
        .expect("directory is a choice")
        .clone();
    assert!(branches.len() >= 2, "{branches:?}");
    let dir = quickstart_with(replace("  ldif: directory.ldif\n", ""));
    let r = roster(dir.path(), &["validate", "--config-only"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for b in &branches {
        let key = b["required"][0].as_str().unwrap();
        let about = b["description"].as_str().unwrap();
        // The description's first words, as the help writes them (lowercase first letter).
        let words: String = about
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        // Lowercase first letter, but a proper noun's ("Microsoft Entra ID") stays.
        let lower: String = {
            let mut chars = words.chars();
            chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap()
        };
        let words = if words.starts_with("Microsoft") {
            words
        } else {
            lower
        };
        assert!(
            says(&r.stderr, &format!("`{key}`")) && says(&r.stderr, &format!("`{key}` ({words}")),
            "`{key}` ({words}…) missing: {}",
            r.stderr
        );
    }
}
