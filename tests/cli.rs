//! The `roster` binary as a user runs it: plans of the bundled example in every format, exit
//! codes, the schema files, and the diagnostics for bad input (snapshots, no colour).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `roster` in `dir` with no colour and a fixed width.
pub fn roster(dir: &Path, args: &[&str]) -> Run {
    roster_env(dir, args, &[])
}

/// [`roster`] with these environment variables; none of the caller's `ROSTER_LOG`,
/// `SSL_CERT_FILE` or `SSL_CERT_DIR` reaches it.
pub fn roster_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("ROSTER_CONFIG")
        .env_remove("ROSTER_LOG")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .output()
        .expect("run roster");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Text with miette's line wrapping undone: words joined by single spaces (a word ending in `-`
/// was split at its hyphen, as `--allow-` `blocks`, and is joined back).
pub fn flat(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace().filter(|w| *w != "│") {
        if !out.is_empty() && !out.ends_with('-') {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn quickstart(args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["--config", "examples/quickstart/roster.yaml"]);
    roster(&root(), &all)
}

#[test]
fn plan_text_of_the_quickstart() {
    let r = quickstart(&["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("plan_text", r.stdout);
}

#[test]
fn plan_shows_every_action() {
    let r = quickstart(&["plan", "--format", "json"]);
    let plan: roster::plan::Plan = serde_json::from_str(&r.stdout).unwrap();
    for a in roster::plan::Action::ALL {
        assert!(plan.summary.count(a) > 0, "the quickstart shows no {a:?}");
    }
}

#[test]
fn plan_markdown_of_the_quickstart() {
    let r = quickstart(&["plan", "--format", "markdown"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("plan_markdown", r.stdout);
}

#[test]
fn plan_json_of_the_quickstart_matches_its_schema() {
    let r = quickstart(&["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&plan));
    assert_eq!(plan["format_version"], 1);
    // The config's commit is the commit of this repository: it changes with every commit.
    let mut plan = plan;
    plan["inputs"]
        .as_object_mut()
        .unwrap()
        .remove("config_revision");
    insta::assert_snapshot!("plan_json", serde_json::to_string_pretty(&plan).unwrap());
}

/// The quickstart's state file holds the mapping digests `roster apply` writes
/// (`mapping::digests` of the quickstart config, rendered by `state::render`), so its plan tells
/// a change of the config from one in the directory. `ROSTER_REGENERATE_EXAMPLES=1` rewrites it
/// so (the last-applied values are kept).
#[test]
fn the_quickstart_state_file_carries_the_mapping_digests_apply_writes() {
    let quick = root().join("examples/quickstart");
    let path = quick.join("roster.state.json");
    let text = std::fs::read_to_string(&path).expect("the quickstart state file");
    let state = roster::state::read(&path)
        .expect("a valid state file")
        .expect("present");
    let cfg = roster::config::load(&quick.join("roster.yaml")).expect("the quickstart config");
    let expected = roster::state::render(&roster::state::State {
        mappings: roster::reconcile::mapping::digests(&cfg.config),
        ..state
    });
    if std::env::var_os("ROSTER_REGENERATE_EXAMPLES").is_some() {
        std::fs::write(&path, &expected).expect("rewrite the quickstart state file");
        return;
    }
    assert!(
        text == expected,
        "examples/quickstart/roster.state.json is not as `roster apply` writes it for this config \
         (mapping digests); rewrite it with ROSTER_REGENERATE_EXAMPLES=1 cargo test --test tests \
         the_quickstart_state_file"
    );
}

/// The quickstart (config, snapshots and state file) in a temp folder, its config edited.
fn quickstart_edited(edit: impl FnOnce(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let quick = root().join("examples/quickstart");
    for f in [
        "roster.yaml",
        "directory.ldif",
        "intranet.json",
        "roster.state.json",
    ] {
        std::fs::copy(quick.join(f), dir.path().join(f)).expect("copy the quickstart");
    }
    let yaml = std::fs::read_to_string(dir.path().join("roster.yaml")).expect("config");
    let edited = edit(&yaml);
    assert_ne!(edited, yaml);
    std::fs::write(dir.path().join("roster.yaml"), edited).expect("config");
    dir
}

/// The JSON plan's change of `field` on `username`'s account in `dir`.
fn planned_field(dir: &std::path::Path, username: &str, field: &str) -> serde_json::Value {
    let changes = plan_changes(dir);
    let change = changes
        .iter()
        .find(|c| c["username"] == username)
        .unwrap_or_else(|| panic!("no change for {username}"));
    change["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == field)
        .unwrap_or_else(|| panic!("{username}: no change of {field}"))
        .clone()
}

#[test]
fn a_new_mapping_in_the_quickstart_is_labelled_config_changed() {
    // The state file records the mappings its apply used; employee_number was not one of them,
    // so each value it makes is the config's doing, not a change in the directory.
    let dir = quickstart_edited(|y| {
        y.replace(
            "  department: departmentNumber",
            "  department: departmentNumber\n  employee_number: uid",
        )
    });
    let field = planned_field(dir.path(), "ada.lovelace", "employee_number");
    assert_eq!(field["origin"], "config", "{field}");
    let r = roster(dir.path(), &["plan"]);
    assert!(
        r.stdout
            .contains("employee_number:  (none) → \"ada.lovelace\"  (config changed)"),
        "{}",
        r.stdout
    );
    let r = roster(dir.path(), &["explain", "ada.lovelace"]);
    assert!(
        r.stdout.contains("employee_number ← uid") && r.stdout.contains("→ config changed"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_edited_template_in_the_quickstart_is_labelled_config_changed() {
    let dir = quickstart_edited(|y| {
        y.replace(
            "display_name: \"{givenName} {sn}\"",
            "display_name: \"{sn}, {givenName}\"",
        )
    });
    let field = planned_field(dir.path(), "ada.lovelace", "display_name");
    assert_eq!(field["after"], "Lovelace, Ada");
    assert_eq!(field["origin"], "config", "{field}");
    // The text plan says so in words.
    let r = roster(dir.path(), &["plan"]);
    assert!(
        r.stdout
            .contains("\"Ada Lovelace\" → \"Lovelace, Ada\"  (config changed)"),
        "{}",
        r.stdout
    );
}

#[test]
fn plan_colour_only_when_asked_or_on_a_terminal() {
    assert!(!quickstart(&["plan"]).stdout.contains('\x1b'));
    let r = quickstart(&["plan", "--color", "always"]);
    assert!(r.stdout.contains("\x1b["), "colour was asked for");
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let dir = tempfile::tempdir().unwrap();
    let r = quickstart(&[
        "plan",
        "--detailed-exitcode",
        "-o",
        dir.path().join("plan.json").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Apply the saved plan to the snapshot in memory and plan again: nothing left.
    let plan: roster::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    let ex = root().join("examples/quickstart");
    for f in ["roster.yaml", "directory.ldif"] {
        std::fs::copy(ex.join(f), dir.path().join(f)).unwrap();
    }
    let fields = [
        "department",
        "display_name",
        "email",
        "first_name",
        "job_title",
        "phone",
        "surname",
    ]
    .map(String::from);
    let (_, res) = roster::intranet::snapshot::read_snapshot(&ex.join("intranet.json")).unwrap();
    let before = roster::intranet::snapshot::state_from_resources(&res.users, &res.groups, &fields);
    let (state, report) = crate::support::world::apply_in_memory(&before, &plan);
    assert!(report.is_complete(), "{report:#?}");
    std::fs::write(
        dir.path().join("intranet.json"),
        serde_json::to_string(&to_snapshot(&state)).unwrap(),
    )
    .unwrap();
    let r = roster(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
}

/// A model state written back as SCIM resources (the shape the snapshot reader takes).
fn to_snapshot(state: &roster::model::IntranetState) -> serde_json::Value {
    use roster::intranet::fields::{user_resource, Field};
    let users = state
        .accounts
        .iter()
        .map(|a| {
            let fields: Vec<(Field, Option<&str>)> = a
                .fields
                .iter()
                .map(|(k, v)| (Field::parse(k).unwrap(), Some(v)))
                .collect();
            let mut u = user_resource(&a.username, a.external_id.as_deref(), a.active, &fields);
            u["id"] = a.id.clone().into();
            u
        })
        .collect();
    let groups = state.groups.iter().map(|g| serde_json::json!({"id": g.id, "displayName": g.display_name, "members": g.members.iter().map(|m| serde_json::json!({"value": m})).collect::<Vec<_>>()})).collect();
    roster::intranet::snapshot::to_snapshot(&roster::intranet::snapshot::Resources {
        users,
        groups,
    })
}

#[test]
fn validate_accepts_the_quickstart() {
    let r = quickstart(&["validate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("is valid"));
}

#[test]
fn committed_schemas_match_the_code() {
    for (file, args) in [
        ("schemas/roster.schema.json", vec!["schema"]),
        ("schemas/plan.schema.json", vec!["schema", "--plan"]),
    ] {
        let r = roster(&root(), &args);
        let committed = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(
            r.stdout == committed,
            "{file} is stale: run `cargo run -- schema{} > {file}`",
            if args.len() > 1 { " --plan" } else { "" }
        );
    }
}

#[test]
fn help_has_examples_and_exit_codes() {
    let r = roster(&root(), &["--help"]);
    assert!(
        r.stdout.contains("Examples:") && r.stdout.contains("Exit codes:"),
        "{}",
        r.stdout
    );
    let r = roster(&root(), &["--version"]);
    assert!(r.stdout.starts_with("roster "));
    let r = roster(&root(), &["completions", "bash"]);
    assert!(r.stdout.contains("roster"));
}

// --- diagnostics for bad input ---------------------------------------------------------------

/// Run `roster validate` / `plan` on a fixture folder and snapshot stderr.
fn bad(case: &str, cmd: &str) -> String {
    let dir = root().join("tests/fixtures/bad").join(case);
    let r = roster(&dir, &[cmd]);
    assert_eq!(r.code, 1, "{case}: {}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r.stderr
}

#[test]
fn diagnostic_unknown_keys_and_literal_secrets() {
    insta::assert_snapshot!("diag_unknown_keys", bad("unknown_keys", "validate"));
}

#[test]
fn diagnostic_semantic_problems_all_at_once() {
    insta::assert_snapshot!("diag_semantics", bad("semantics", "validate"));
}

#[test]
fn diagnostic_yaml_syntax() {
    insta::assert_snapshot!("diag_yaml", bad("yaml", "validate"));
}

#[test]
fn diagnostic_malformed_ldif() {
    insta::assert_snapshot!("diag_ldif", bad("ldif", "plan"));
}

#[test]
fn diagnostic_malformed_json() {
    insta::assert_snapshot!("diag_json", bad("json", "plan"));
}

#[test]
fn diagnostic_conflicts() {
    insta::assert_snapshot!("diag_conflicts", bad("conflicts", "plan"));
}

#[test]
fn diagnostic_missing_config() {
    let dir = tempfile::tempdir().unwrap();
    let r = roster(dir.path(), &["plan"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read roster.yaml"), "{}", r.stderr);
}

#[test]
fn a_usage_mistake_is_invalid_input_not_changes() {
    // Exit 2 means "changes" under --detailed-exitcode: a typo must not read as that.
    let r = quickstart(&["plan", "--detailed-exitcode", "--no-such-flag"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.stderr);
    let r = quickstart(&["plan", "--format", "yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(quickstart(&["--help"]).code, 0);
}

/// A folder with an AD-style config (objectGUID, sAMAccountName), `directory.ldif` and an
/// intranet snapshot holding `accounts`.
fn ad_site(ldif: &str, accounts: &[serde_json::Value]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("roster.yaml"),
        "version: 1\ndirectory:\n  ldif: directory.ldif\n  id_attribute: objectGUID\n  username_attribute: sAMAccountName\n\
         intranet:\n  snapshot: intranet.json\nsyncing_groups:\n  - CN=Intranet,OU=Groups,DC=corp,DC=example\n\
         field_mappings:\n  email: mail\n",
    )
    .expect("config");
    std::fs::write(dir.path().join("directory.ldif"), ldif).expect("ldif");
    let list = |r: &[serde_json::Value]| {
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": r.len(), "startIndex": 1, "itemsPerPage": r.len(), "Resources": r,
        })
    };
    let intranet = serde_json::json!({ "users": list(accounts), "groups": list(&[]) });
    std::fs::write(dir.path().join("intranet.json"), intranet.to_string()).expect("intranet");
    dir
}

fn ad_person(name: &str, guid_line: &str) -> String {
    format!(
        "dn: CN={name},OU=Staff,DC=corp,DC=example\nobjectClass: user\nsAMAccountName: {name}\nmail: {name}@corp.example\n{guid_line}\n\n"
    )
}

fn plan_changes(dir: &Path) -> Vec<serde_json::Value> {
    let run = roster(dir, &["plan", "--format", "json"]);
    assert_ne!(run.code, 1, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("a JSON plan");
    plan["changes"].as_array().expect("changes").clone()
}

#[test]
fn an_ldif_object_guid_in_base64_plans_as_its_guid_string_and_guids_compare_without_case() {
    let group = "dn: CN=Intranet,OU=Groups,DC=corp,DC=example\nobjectClass: group\n\
                 member: CN=jdoe,OU=Staff,DC=corp,DC=example\nmember: CN=ann,OU=Staff,DC=corp,DC=example\n\n";
    // As `ldapsearch -LLL` writes AD's binary objectGUID, and as its GUID string (upper case).
    let base64 = ad_person("jdoe", "objectGUID:: yYuRNW0Z6kCXeYidebdT8A==")
        + &ad_person("ann", "objectGUID:: AQIDBAUGBwgJCgsMDQ4PEA==")
        + group;
    let text = ad_person("jdoe", "objectGUID: 35918BC9-196D-40EA-9779-889D79B753F0")
        + &ad_person("ann", "objectGUID: 04030201-0605-0807-090a-0b0c0d0e0f10")
        + group;
    // jdoe's account holds the GUID as Windows' `[guid]` prints it upper-cased.
    let jdoe = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "a1", "userName": "jdoe", "externalId": "35918BC9-196D-40EA-9779-889D79B753F0",
        "active": true, "emails": [{ "value": "jdoe@corp.example", "type": "work", "primary": true }],
    });
    let from_base64 = plan_changes(ad_site(&base64, std::slice::from_ref(&jdoe)).path());
    let from_text = plan_changes(ad_site(&text, &[jdoe]).path());
    // jdoe is matched (no block, no second account); ann is created with the live read's form.
    assert_eq!(from_base64.len(), 1, "{from_base64:#?}");
    assert_eq!(from_base64[0]["action"], "create");
    assert_eq!(from_base64[0]["username"], "ann");
    assert_eq!(
        from_base64[0]["external_id"],
        "04030201-0605-0807-090a-0b0c0d0e0f10"
    );
    assert_eq!(from_base64, from_text);
}

#[test]
fn a_guid_in_upper_case_in_the_intranet_or_the_state_matches_the_lower_case_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["roster.yaml", "directory.ldif"] {
        std::fs::copy(
            root().join("examples/quickstart").join(f),
            dir.path().join(f),
        )
        .expect("copy the quickstart");
    }
    let upper_ids = |text: &str, key: &str| {
        // `"externalId": "e82a..."` / `"e82a...": {` → the GUID upper-cased.
        let mut out = String::new();
        for line in text.lines() {
            let guid = line
                .split('"')
                .find(|w| w.len() == 36 && w.matches('-').count() == 4);
            match guid {
                Some(g) if line.contains(key) => out.push_str(&line.replace(g, &g.to_uppercase())),
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        out
    };
    let quick = root().join("examples/quickstart");
    let intranet = std::fs::read_to_string(quick.join("intranet.json")).expect("intranet");
    let state = std::fs::read_to_string(quick.join("roster.state.json")).expect("state");
    let upper_intranet = upper_ids(&intranet, "externalId");
    let upper_state = upper_ids(&state, "\": {");
    assert_ne!(upper_intranet, intranet);
    assert_ne!(upper_state, state);
    std::fs::write(dir.path().join("intranet.json"), upper_intranet).expect("intranet");
    std::fs::write(dir.path().join("roster.state.json"), upper_state).expect("state");
    let lower = |mut changes: Vec<serde_json::Value>| {
        for c in &mut changes {
            if let Some(id) = c["external_id"].as_str() {
                c["external_id"] = id.to_lowercase().into();
            }
        }
        changes
    };
    let original = plan_changes(&quick);
    assert!(original.len() > 10);
    assert_eq!(lower(plan_changes(dir.path())), lower(original));
    // The safety policy's read guard matches IDs as the plan does: no user counts as vanished.
    let (upper, plain) = (
        roster(dir.path(), &["plan", "--format", "json"]),
        roster(&quick, &["plan", "--format", "json"]),
    );
    assert_eq!(upper.code, plain.code, "{}", upper.stderr);
    assert!(!upper.stderr.contains("max_vanished"), "{}", upper.stderr);
}
