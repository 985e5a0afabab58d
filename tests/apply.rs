//! `roster apply` as a user runs it against a real scim2-server: saved plans whose figures lie,
//! allowances with `--base`, interruptions, the checks before the first write, exit codes after
//! it, and configs with uncommitted changes.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::{flat, roster};
use crate::scim::{quickstart_body, seed_quickstart, Site, QUICKSTART};
use crate::support::scim::ScimServer;

/// The quickstart against a live server, with `policy` lines added, its config committed.
fn committed_quickstart(server: &ScimServer, policy: &str) -> Site {
    seed_quickstart(server);
    let body = quickstart_body().replace(
        "  protected: [breakglass]",
        &format!("  protected: [breakglass]\n{policy}"),
    );
    let site = Site::new(
        server,
        &PathBuf::from(format!("{QUICKSTART}/directory.ldif")),
        &body,
    );
    site.git(&["add", "roster.yaml"]);
    site.git(&["commit", "-qm", "config"]);
    site
}

fn read_json(site: &Site, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(site.path(name)).unwrap()).unwrap()
}

fn write_json(site: &Site, name: &str, v: &Value) {
    std::fs::write(site.path(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

#[test]
fn a_saved_plan_whose_figures_lie_is_refused_before_any_write() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "  max_blocks: 2\n");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "-o", "plan.json", "--allow-blocks", "5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = read_json(&site, "plan.json");
    assert_eq!(plan["summary"]["block"], 5);
    let before = server.settled_writes();

    // The case: the block count and the allowance both edited to 0.
    let mut lie = plan.clone();
    lie["summary"]["block"] = 0.into();
    lie["allowances"]["allow_blocks"] = 0.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("recorded figures do not match")
            && r.stderr
                .contains("summary.block says 0, but the changes give 5"),
        "{}",
        r.stderr
    );

    // Only the summary edited: refused as inconsistent all the same.
    let mut lie = plan.clone();
    lie["summary"]["create"] = 0.into();
    lie["summary"]["fields"] = 1.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("summary.create says 0, but the changes give 2")
            && r.stderr.contains("summary.fields says 1"),
        "every mismatch is listed: {}",
        r.stderr
    );

    // Licence figures that agree with each other but not with the changes.
    let mut lie = plan.clone();
    lie["licences"]["after"] = 0.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("licences.after says 0"), "{}", r.stderr);

    // Only the allowance edited: the figures are true, and the policy refuses them.
    let mut lie = plan.clone();
    lie["allowances"]["allow_blocks"] = 0.into();
    write_json(&site, "lie.json", &lie);
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let stderr = flat(&r.stderr);
    // The way past it is a new plan made with the allowance, not a flag to `apply`.
    assert!(
        stderr.contains("policy.max_blocks")
            && stderr
                .contains("make the plan again with `roster plan --allow-blocks 5 -o lie.json`")
            && !stderr.contains("pass `--allow-blocks"),
        "{}",
        r.stderr
    );
    // ... and a flag to `apply` with a saved plan is an error, never silently ignored.
    let r = roster(&dir, &["apply", "--allow-blocks", "5", "lie.json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let stderr = flat(&r.stderr);
    assert!(
        stderr.contains("`--allow-blocks 5` cannot be given with a saved plan: the one-run allowances are part of the reviewed plan")
            && stderr.contains("make the plan again with `roster plan --allow-blocks 5 -o lie.json`"),
        "{}",
        r.stderr
    );

    assert_eq!(server.settled_writes(), before, "nothing was written");
    assert!(!site.path("audit").exists(), "and nothing recorded");
    // The plan as saved applies.
    let r = roster(&dir, &["apply", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn the_policy_at_apply_counts_licences_from_what_is_read_not_from_the_file() {
    let server = ScimServer::start();
    // 27 active now, 25 after the plan: over a limit of 24.
    let site = committed_quickstart(&server, "  licences: 24\n");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "--format", "json"]);
    assert_eq!(
        r.code, 4,
        "a refused plan is shown, not saved: {}",
        r.stderr
    );
    let mut lie: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(lie["licences"]["after"], 25);
    // Figures consistent with each other: 20 before, 18 after.
    lie["licences"]["before"] = 20.into();
    lie["licences"]["after"] = 18.into();
    write_json(&site, "lie.json", &lie);
    let before = server.settled_writes();
    let r = roster(&dir, &["apply", "lie.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("after the plan 25 accounts would be active"),
        "{}",
        r.stderr
    );
    assert_eq!(server.settled_writes(), before);
}

#[test]
fn plan_with_base_honours_allow_blocks() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "  max_blocks: 2\n");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "--base", "HEAD", "-o", "plan.json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let r = roster(
        &dir,
        &[
            "plan",
            "--base",
            "HEAD",
            "--allow-blocks",
            "5",
            "-o",
            "plan.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_json(&site, "plan.json")["allowances"]["allow_blocks"],
        5
    );
}

// ---- interruptions: SIGINT to the `roster` process mid-apply, against a real scim2-server ----

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::scim::{bulk_ldif, bulk_users, BULK_BODY};
use crate::support::git::git;
use crate::support::proxy::CuttingProxy;
use crate::support::scim::TOKEN;

/// A config repository whose config reaches a scim2-server holding `n` users through a relay
/// that holds the answer to every write for `delay`; the directory gives each a new title.
struct SlowSite {
    server: ScimServer,
    _proxy: CuttingProxy,
    repo: tempfile::TempDir,
    _ldif: tempfile::TempDir,
}

impl SlowSite {
    fn new(n: usize, delay: Duration) -> SlowSite {
        let server = ScimServer::start();
        server.seed_users(&bulk_users(n, "Old"));
        let proxy = CuttingProxy::slow_writes(server.port, delay);
        let ldif_dir = tempfile::tempdir().unwrap();
        let ldif = bulk_ldif(ldif_dir.path(), n, "New");
        let repo = tempfile::tempdir().unwrap();
        // Concurrency pinned at 4: the interruption tests count the writes in flight.
        let yaml = format!(
            "version: 1\ndirectory:\n  ldif: {}\n  id_attribute: entryUUID\n  username_attribute: uid\n\
             intranet:\n  scim:\n    url: {}\n    token: {{ file: token.txt }}\n    concurrency: 4\n    adaptive: false\n    timeout: 120\n    bulk: {{ enabled: false }}\n{BULK_BODY}",
            ldif.display(),
            proxy.http_url("/v2"),
        );
        std::fs::write(repo.path().join("roster.yaml"), yaml).unwrap();
        std::fs::write(repo.path().join("token.txt"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(
            repo.path().join(".gitignore"),
            "token.txt\n.roster/\n*.json\n!roster.state.json\n",
        )
        .unwrap();
        git(repo.path(), &["init", "-q"]);
        git(repo.path(), &["add", "."]);
        git(repo.path(), &["commit", "-qm", "config"]);
        SlowSite {
            server,
            _proxy: proxy,
            repo,
            _ldif: ldif_dir,
        }
    }

    fn dir(&self) -> &std::path::Path {
        self.repo.path()
    }

    /// `roster args` started in the repository, its stderr lines sent to the receiver.
    fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(args)
            .current_dir(self.dir())
            .env("NO_COLOR", "1")
            .env_remove("ROSTER_CONFIG")
            .envs(crate::support::git::AUTHOR)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run roster");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// The usernames a fresh plan would update.
    fn left(&self) -> Vec<String> {
        let r = roster(self.dir(), &["plan", "--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let plan: Value = serde_json::from_str(&r.stdout).unwrap();
        let mut left: Vec<String> = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["username"].as_str().unwrap().to_string())
            .collect();
        left.sort();
        left
    }

    /// The one audit CSV: (object, outcome details) per row.
    fn audit_rows(&self) -> Vec<(String, String)> {
        let audit = self.dir().join("audit");
        let csv = std::fs::read_dir(&audit)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "csv"))
            .expect("an audit CSV");
        let mut r = csv::Reader::from_path(csv).unwrap();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[7].to_string(), rec[8].to_string())
            })
            .collect()
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill");
}

/// Wait for a stderr line containing `needle`; every line read, joined.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let mut seen = String::new();
    for line in rx.iter() {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            return seen;
        }
    }
    panic!("roster ended without saying {needle:?}:\n{seen}");
}

fn rest(rx: mpsc::Receiver<String>) -> String {
    rx.iter().map(|l| l + "\n").collect()
}

/// Rows whose outcome is `status` (as the CSV words it), their objects sorted.
fn rows_with(rows: &[(String, String)], words: &str) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .filter(|(_, d)| d.contains(&format!("outcome: {words}")))
        .map(|(o, _)| o.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn sigint_mid_apply_stops_new_writes_records_everything_and_exits_3() {
    const N: usize = 200;
    let site = SlowSite::new(N, Duration::from_millis(100));
    let r = roster(site.dir(), &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seeded = site.server.settled_writes();
    let (mut child, rx) = site.spawn(&["apply", "plan.json"]);
    while site.server.logged("PATCH") < 20 {
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, libc::SIGINT);
    let mut err = wait_for(&rx, "starting no new write");
    let status = child.wait().unwrap();
    err.push_str(&rest(rx));
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("Apply interrupted by SIGINT"), "{err}");
    assert!(err.contains("Audit: ") && err.contains("(commit "), "{err}");

    // The record: every change, applied or not started; the writes in flight were waited for.
    let rows = site.audit_rows();
    assert_eq!(rows.len(), N);
    let applied = rows_with(&rows, "applied");
    let not_started = rows_with(&rows, "not started (interrupted)");
    assert!(applied.len() >= 20, "applied {}", applied.len());
    assert!(!not_started.is_empty(), "{err}");
    assert_eq!(applied.len() + not_started.len(), N, "no other outcome");
    assert_eq!(
        site.server.settled_writes() - seeded,
        applied.len(),
        "exactly the applied changes were written"
    );
    // Committed with the state file; the Markdown says what happened.
    let log = git(site.dir(), &["log", "-1", "--name-only", "--format=%B"]);
    assert!(
        log.contains("roster.state.json") && log.contains("Interrupted: by SIGINT"),
        "{log}"
    );
    assert!(
        log.contains(&format!("{} not started", not_started.len())),
        "{log}"
    );
    // Planning again shows exactly what is left.
    assert_eq!(site.left(), not_started);
}

#[test]
fn a_second_sigint_stops_waiting_for_writes_in_flight_and_still_records() {
    const N: usize = 40;
    // Answers to writes are held far longer than the test waits: only a second signal ends it.
    let site = SlowSite::new(N, Duration::from_secs(60));
    let r = roster(site.dir(), &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (mut child, rx) = site.spawn(&["apply", "plan.json"]);
    while site.server.logged("PATCH") < 4 {
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, libc::SIGINT);
    let mut err = wait_for(&rx, "starting no new write");
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    err.push_str(&rest(rx));
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains("not waiting for the writes in flight"),
        "{err}"
    );

    let rows = site.audit_rows();
    assert_eq!(rows.len(), N);
    let unknown = rows_with(&rows, "unknown");
    let not_started = rows_with(&rows, "not started (interrupted)");
    assert_eq!(
        unknown.len(),
        4,
        "the writes in flight (concurrency 4): {err}"
    );
    assert_eq!(unknown.len() + not_started.len(), N, "{err}");
    let log = git(site.dir(), &["log", "-1", "--name-only", "--format=%B"]);
    assert!(
        log.contains("roster.state.json") && log.contains("4 unknown"),
        "{log}"
    );
    // The server did carry out the writes whose answer was not waited for: planning again
    // shows exactly the changes not started.
    assert_eq!(site.left(), not_started);
}

// ---- before the first write, and after it ----

#[test]
fn apply_outside_a_git_repository_exits_1_before_any_write() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "");
    std::fs::remove_dir_all(site.path(".git")).unwrap();
    let dir = site.path("");
    let r = roster(&dir, &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let users = server.all_users().len();
    let before = server.settled_writes();
    for args in [&["apply", "plan.json"][..], &["apply", "--auto-approve"]] {
        let r = roster(&dir, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("nothing was written")
                && r.stderr.contains("is not in a git repository"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(server.settled_writes(), before, "no SCIM write");
    assert_eq!(server.all_users().len(), users, "no new user");
    assert!(!site.path("audit").exists() && !site.path("roster.state.json").exists());
    // Without a commit to make, the record can be kept: the apply runs.
    let r = roster(&dir, &["apply", "--no-commit", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(site.path("roster.state.json").exists());
}

#[test]
fn a_failure_after_the_first_write_exits_3_and_says_what_was_not_recorded() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let users = server.all_users().len();
    // Another git process holds the branch: the audit commit fails after the writes.
    let branch = site.git(&["symbolic-ref", "HEAD"]);
    let lock = site.path(&format!(".git/{}.lock", branch.trim()));
    std::fs::write(&lock, "").unwrap();
    let r = roster(&dir, &["apply", "plan.json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("the apply wrote to the intranet")
            && r.stderr.contains("its record is incomplete")
            && r.stderr.contains("could not commit the audit report")
            && r.stderr.contains("create nina.new: applied"),
        "{}",
        r.stderr
    );
    assert!(server.all_users().len() > users, "the creates were written");
    std::fs::remove_file(&lock).unwrap();
}

#[test]
fn a_config_with_uncommitted_changes_is_refused_unless_allowed_and_recorded() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "");
    let dir = site.path("");
    let r = roster(&dir, &["plan", "-o", "plan.json"]);
    assert!(
        r.stderr.contains("Apply it with: roster apply plan.json"),
        "{}",
        r.stderr
    );
    let yaml = std::fs::read_to_string(site.path("roster.yaml")).unwrap();
    std::fs::write(site.path("roster.yaml"), format!("{yaml}# edited\n")).unwrap();
    let r = roster(
        &dir,
        &["plan", "--config", "./roster.yaml", "-o", "plan.json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Apply it with: roster apply --config ./roster.yaml plan.json"),
        "the hint names the config: {}",
        r.stderr
    );
    let before = server.settled_writes();
    for args in [&["apply", "plan.json"][..], &["apply", "--auto-approve"]] {
        let r = roster(&dir, args);
        assert_eq!(r.code, 5, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("has uncommitted edits")
                && r.stderr.contains("commit it first")
                && r.stderr.contains("--allow-dirty"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(server.settled_writes(), before, "no SCIM write");
    let r = roster(&dir, &["apply", "--allow-dirty", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = site.git(&["log", "-1", "--format=%B"]);
    assert!(log.contains("`--allow-dirty`"), "recorded: {log}");
}

#[tokio::test]
async fn a_signal_before_the_first_write_ends_the_run_with_nothing_written() {
    let server = ScimServer::start();
    let site = committed_quickstart(&server, "");
    let plan = site.plan().await;
    let before = server.settled_writes();
    let interrupt = roster::apply::Interrupt::default();
    interrupt.signal("SIGTERM");
    let opts = roster::commands::apply::ApplyOptions {
        audit_dir: site.path("audit"),
        no_commit: false,
        now: std::time::UNIX_EPOCH,
        runner: "ci".into(),
        author: None,
        refresh: roster::intranet::scim::cache::Refresh::Auto,
        allow_dirty: false,
        unattended: false,
        approved_by: None,
        interrupt,
    };
    let err = roster::commands::apply::apply_saved(&site.loaded(), &plan, &opts)
        .await
        .unwrap_err();
    let e = err
        .downcast_ref::<roster::commands::apply::InterruptedBeforeWrites>()
        .expect("interrupted before any write");
    assert_eq!(e.signal, "SIGTERM");
    assert_eq!(server.settled_writes(), before, "no SCIM write");
    assert!(!site.path("audit").exists() && !site.path("roster.state.json").exists());
}

#[test]
fn first_apply_shows_its_progress_on_a_terminal() {
    // 40 writes, 4 at a time, each answered after 150 ms: some 1.5 s of writing.
    let site = SlowSite::new(40, Duration::from_millis(150));
    let config = site.dir().join("roster.yaml");
    let shown = crate::cli_ldap::on_a_terminal(&format!(
        "apply --auto-approve --no-commit -c {}",
        config.display()
    ));
    assert!(shown.contains("applying the plan: "), "{shown}");
    // `12/40 changes, 26/s, 2s left`: a count of the plan's changes, a whole rate.
    let line = shown
        .rsplit("applying the plan: ")
        .next()
        .unwrap_or_default();
    let (count, rest) = line.split_once(" changes, ").unwrap_or_default();
    assert!(count.ends_with("/40"), "{line}");
    let rate = rest.split("/s").next().unwrap_or_default();
    assert!(
        !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit()),
        "{rate:?} in {line}"
    );
    // Off a terminal: none.
    let r = crate::cli::roster(site.dir(), &["plan"]);
    assert!(!r.stderr.contains("changes, "), "{}", r.stderr);
}
