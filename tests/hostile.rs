//! The corpus of hostile input: configs, LDIF, snapshots, usernames and server answers that a
//! careless admin or a broken system hands Roster. Each case is a folder under
//! `tests/fixtures/hostile/` with a `case.json`, run as a user would run it, and checked for:
//! the documented exit code, the diagnostic's words, no panic and no internal debug text, a time
//! and a memory bound, and no secret in any output or any file the run wrote.
//!
//! `case.json`:
//! ```json
//! { "about": "what the case is",
//!   "base": "quickstart",               // optional: examples/quickstart/* copied in first
//!   "args": ["plan"],                   // run in the case's copy, so roster.yaml is the config
//!   "env": { "ROSTER_SCIM_TOKEN": "x" },// optional
//!   "exit": 1,
//!   "stderr": ["words the diagnostic must say"], "stdout": ["..."],   // optional
//!   "not_stdout": ["..."], "not_stderr": ["..."],                     // optional
//!   "secrets": ["text that must appear in no output and no written file"],
//!   "max_seconds": 20, "max_rss_mib": 512 }                           // optional bounds
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    #[serde(default)]
    base: Option<String>,
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    exit: i32,
    #[serde(default)]
    stdout: Vec<String>,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    not_stdout: Vec<String>,
    #[serde(default)]
    not_stderr: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default = "default_seconds")]
    max_seconds: u64,
    #[serde(default = "default_rss")]
    max_rss_mib: u64,
}

fn default_seconds() -> u64 {
    20
}
fn default_rss() -> u64 {
    512
}

/// Text that only internal code would print: Rust debug output, library internals, a panic.
const DEBUG_TEXT: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    "Some(",
    "Error {",
    "Os { code",
    "budget breached",
    "DuplicateKeyPolicy",
    "Nodes {",
    "set DuplicateKeyPolicy",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Every file below `dir`, with its bytes.
fn files(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files(&e.path(), out);
        } else if t.is_file() {
            out.insert(e.path(), std::fs::read(e.path()).unwrap());
        }
    }
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    seconds: f64,
    rss_mib: u64,
}

/// Run roster in `dir`, killed past `max`, measuring its peak RSS: the largest `VmHWM` of
/// `/proc/<pid>/status` seen while it runs (polled every few ms; the high-water mark is a
/// maximum, so only growth in the last poll interval could be missed). Not wait4's `ru_maxrss`:
/// a child spawned by vfork folds the parent's high-water mark into its own at exec, so a test
/// binary that once held 300 MiB (another test's big plan) would make every case look that big.
// The child is reaped by wait4 below (std's wait() gives no rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run(dir: &Path, args: &[String], env: &BTreeMap<String, String>, max: Duration) -> Outcome {
    let out_dir = tempfile::tempdir().unwrap();
    let so = out_dir.path().join("stdout");
    let se = out_dir.path().join("stderr");
    let start = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("ROSTER_CONFIG")
        .env_remove("ROSTER_SCIM_TOKEN")
        .env_remove("ROSTER_LDAP_PASSWORD")
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap())
        .spawn()
        .expect("run roster");
    let pid = child.id() as libc::pid_t;
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4 failed");
        if r == pid {
            break status;
        }
        if start.elapsed() > max {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = unsafe { libc::waitpid(pid, &mut status, 0) };
            panic!(
                "roster {args:?} ran past {max:?}; stderr so far:\n{}",
                std::fs::read_to_string(&se).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&std::fs::read(&so).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&se).unwrap()).into_owned(),
        seconds: start.elapsed().as_secs_f64(),
        rss_mib: peak_kib / 1024,
    }
}

/// The `VmHWM` (peak resident set, KiB) of a running process; `None` once it has exited.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn check(name: &str, case_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let text = std::fs::read_to_string(case_dir.join("case.json")).unwrap();
    let case: Case = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => return vec![format!("{name}: bad case.json: {e}")],
    };
    let work = tempfile::tempdir().unwrap();
    if let Some(base) = &case.base {
        copy_dir(&root().join("examples").join(base), work.path());
    }
    copy_dir(case_dir, work.path());
    std::fs::remove_file(work.path().join("case.json")).unwrap();
    let mut before = BTreeMap::new();
    files(work.path(), &mut before);

    let o = run(
        work.path(),
        &case.args,
        &case.env,
        Duration::from_secs(case.max_seconds),
    );
    let mut fail = |what: String| problems.push(format!("{name} ({}): {what}", case.about));
    if o.code != case.exit {
        fail(format!("exit {} (expected {})", o.code, case.exit));
    }
    for w in &case.stdout {
        if !o.stdout.contains(w.as_str()) {
            fail(format!("stdout lacks {w:?}"));
        }
    }
    for w in &case.stderr {
        if !o.stderr.contains(w.as_str()) {
            fail(format!("stderr lacks {w:?}"));
        }
    }
    for w in &case.not_stdout {
        if o.stdout.contains(w.as_str()) {
            fail(format!("stdout has {w:?}"));
        }
    }
    for w in &case.not_stderr {
        if o.stderr.contains(w.as_str()) {
            fail(format!("stderr has {w:?}"));
        }
    }
    for d in DEBUG_TEXT {
        if o.stderr.contains(d) || o.stdout.contains(d) {
            fail(format!("internal text {d:?} in the output"));
        }
    }
    if o.rss_mib > case.max_rss_mib {
        fail(format!(
            "peak RSS {} MiB over {} MiB",
            o.rss_mib, case.max_rss_mib
        ));
    }
    let mut after = BTreeMap::new();
    files(work.path(), &mut after);
    for s in &case.secrets {
        if o.stdout.contains(s.as_str()) || o.stderr.contains(s.as_str()) {
            fail(format!("the secret {s:?} is in the output"));
        }
        for (path, bytes) in &after {
            let written = before.get(path) != Some(bytes);
            let hay = String::from_utf8_lossy(bytes);
            if written && hay.contains(s.as_str()) {
                fail(format!(
                    "the secret {s:?} is in the written file {}",
                    path.display()
                ));
            }
        }
    }
    if !problems.is_empty() {
        problems.push(format!(
            "  {name} took {:.2} s, {} MiB; stdout:\n{}\n  stderr:\n{}",
            o.seconds, o.rss_mib, o.stdout, o.stderr
        ));
    }
    problems
}

/// Every case, all reported together.
#[test]
fn hostile_inputs_get_a_diagnostic_and_the_documented_exit_code() {
    let dir = root().join("tests/fixtures/hostile");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("case.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "the corpus is nearly empty: {names:?}");
    let problems: Vec<String> = names.iter().flat_map(|n| check(n, &dir.join(n))).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
