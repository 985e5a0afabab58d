//! How diagnostics reach the user: never a panic on a closed pipe, never a raw control
//! character from a file, never a secret's value.

use std::path::Path;
use std::process::{Command, Stdio};

/// Run roster in `dir` with stdout and stderr both pipes whose read ends are already closed
/// (`roster … 2>&1 | head -0` where head has gone): every write fails with EPIPE. The exit code.
fn with_closed_pipes(dir: &Path, args: &[&str]) -> i32 {
    let out_write = closed_pipe();
    let err_write = closed_pipe();
    let status = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("ROSTER_CONFIG")
        .stdin(Stdio::null())
        .stdout(out_write)
        .stderr(err_write)
        .status()
        .expect("run roster");
    status.code().unwrap_or(-1)
}

/// The write end of a pipe whose read end is closed.
fn closed_pipe() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe fills two new descriptors, each owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(read);
    write
}

fn quickstart() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

#[test]
fn a_closed_pipe_keeps_the_documented_exit_code() {
    let dir = quickstart();
    assert_eq!(with_closed_pipes(dir.path(), &["plan"]), 0, "plan");
    assert_eq!(
        with_closed_pipes(dir.path(), &["plan", "--format", "json"]),
        0
    );
    assert_eq!(
        with_closed_pipes(dir.path(), &["validate", "--config-only"]),
        0
    );
    assert_eq!(with_closed_pipes(dir.path(), &["schema"]), 0);
    assert_eq!(with_closed_pipes(dir.path(), &["completions", "bash"]), 0);
    // Every command that writes to stdout (`roster … | head` on a large output).
    for args in [
        &["plan", "--format", "markdown"][..],
        &["plan", "-o", "-"],
        &["export", "-o", "-"],
        &["snapshot", "directory", "-o", "-"],
        &["snapshot", "intranet", "-o", "-"],
    ] {
        assert_eq!(with_closed_pipes(dir.path(), args), 0, "{args:?}");
    }
    // A bad config: the diagnostic is lost, the exit code is not.
    std::fs::write(dir.path().join("roster.yaml"), b"version: 1\nx: caf\xe9\n").unwrap();
    assert_eq!(with_closed_pipes(dir.path(), &["plan"]), 1, "bad config");
}

#[test]
fn output_that_cannot_be_written_is_an_error_not_a_silent_success() {
    // A full disk: CI would post an empty plan and pass. Only a reader that went away is quiet.
    let dir = quickstart();
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["plan", "--detailed-exitcode"],
        &["schema"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("ROSTER_CONFIG")
            .stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write the output"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_missing_file_is_said_once() {
    let dir = quickstart();
    let r = crate::cli::roster(dir.path(), &["plan", "--config", "nope.yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot read nope.yaml: No such file or directory"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn the_quickstart_json_plan_loads_strictly() {
    let dir = quickstart();
    for args in [
        &["plan", "--format", "json"][..],
        &[
            "plan",
            "--format",
            "json",
            "--allow-blocks",
            "3",
            "--allow-clears",
            "2",
        ],
    ] {
        let r = crate::cli::roster(dir.path(), args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let plan: roster::plan::Plan = serde_json::from_str(&r.stdout).expect("a strict plan");
        assert!(!plan.changes.is_empty());
    }
    // The saved plan loads in apply and passes its checks: outside git, apply stops only at
    // its preflight (the record could not be committed), never at "not a Roster plan".
    let r = crate::cli::roster(dir.path(), &["plan", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = crate::cli::roster(dir.path(), &["apply", "plan.json"]);
    assert!(
        r.stderr.contains("roster::apply::preflight") && !r.stderr.contains("not a Roster plan"),
        "{}",
        r.stderr
    );
}
