//! The `git` command in a test repository, with a fixed author, failing the test on error.

use std::path::Path;
use std::process::Command;

/// The author and committer of every commit a test makes (and of Roster's audit commits).
pub const AUTHOR: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Roster CI"),
    ("GIT_AUTHOR_EMAIL", "ci@example.org"),
    ("GIT_COMMITTER_NAME", "Roster CI"),
    ("GIT_COMMITTER_EMAIL", "ci@example.org"),
];

/// Run `git args` in `dir`; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(AUTHOR)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run the `roster` binary in a config repository `dir`, as CI would (no terminal, no colour,
/// the commit author set, the SCIM token in `ROSTER_SCIM_TOKEN`): exit code, stdout, stderr.
pub fn roster(dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir)
        .env("ROSTER_SCIM_TOKEN", token)
        .env("NO_COLOR", "1")
        .envs(AUTHOR)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("roster runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
