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
