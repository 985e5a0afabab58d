//! Offline plan at scale: `roster plan` on LDIF + SCIM JSON snapshots of N users, against the
//! bare parse of the same two files (the floor), with wall time and peak RSS.
//!
//!   cargo bench --bench offline -- [N ...]        (default: 10000 100000 1000000)
//!   cargo bench --bench offline -- --csv [N ...]  the same people as a CSV directory (an HR
//!                                                 export), against the LDIF plan

#[path = "gen.rs"]
mod gen;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Run a command, return (seconds, peak RSS in MiB) of that child alone.
fn measure(cmd: &mut Command) -> (f64, f64) {
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let secs = start.elapsed().as_secs_f64();
    let _ = child.try_wait();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed with status {status}"
    );
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Generate `n` users in a child process (see `main`), into a temp dir.
fn generate(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let made = Command::new(std::env::current_exe().unwrap())
        .arg("--generate")
        .arg(n.to_string())
        .arg(dir.path())
        .status()
        .expect("generate");
    assert!(made.success(), "generating {n} users failed");
    dir
}

/// The changes a plan saved as `file` in `dir` holds.
fn changes(dir: &Path, file: &str) -> usize {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    plan["changes"].as_array().map_or(0, Vec::len)
}

/// The same company planned from a CSV directory and from LDIF, alternated: time and peak RSS,
/// and the changes (which must be the same).
fn csv(exe: &Path, ns: &[usize]) {
    println!("| users | CSV plan (s) | CSV plan peak RSS (MiB) | LDIF plan (s) | LDIF plan peak RSS (MiB) | CSV file (MiB) | changes |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &n in ns {
        let dir = generate(n);
        let runs = if n >= 1_000_000 { 3 } else { 5 };
        let (mut ct, mut cm, mut lt, mut lm) = (vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            for (config, out, t, m) in [
                ("roster-csv.yaml", "csv-plan.json", &mut ct, &mut cm),
                ("roster.yaml", "plan.json", &mut lt, &mut lm),
            ] {
                let (secs, rss) = measure(
                    Command::new(exe)
                        .args(["plan", "--config", config, "--format", "json", "-o", out])
                        .current_dir(dir.path())
                        .stdout(std::process::Stdio::null()),
                );
                t.push(secs);
                m.push(rss);
            }
        }
        let (c, l) = (
            changes(dir.path(), "csv-plan.json"),
            changes(dir.path(), "plan.json"),
        );
        assert_eq!(c, l, "the CSV and LDIF plans of one company differ");
        let size = std::fs::metadata(dir.path().join("people.csv"))
            .unwrap()
            .len() as f64;
        println!(
            "| {n} | {:.3} | {:.0} | {:.3} | {:.0} | {:.0} | {c} |",
            median(ct),
            median(cm),
            median(lt),
            median(lm),
            size / 1048576.0
        );
    }
}

/// The floor: read and parse the two snapshot files, nothing else.
fn parse_only() {
    let ldif = roster::diag::read_source(Path::new("directory.ldif")).unwrap();
    let entries = roster::directory::ldif::parse(&ldif).unwrap();
    let json = std::fs::read_to_string("intranet.json").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(!entries.is_empty() && doc.is_object());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--parse-only") {
        return parse_only();
    }
    // `--generate N DIR`: only write the company, to look at or to plan by hand.
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let n = args[i + 1].parse().expect("N");
        std::fs::create_dir_all(&args[i + 2]).unwrap();
        return gen::company(Path::new(&args[i + 2]), n).unwrap();
    }
    let ns: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    // `cargo test --all-targets` runs this target without `--bench`: a quick smoke run then.
    let ns = match (ns.is_empty(), args.iter().any(|a| a == "--bench")) {
        (false, _) => ns,
        (true, true) => vec![10_000, 100_000, 1_000_000],
        (true, false) => vec![500],
    };
    let exe = Path::new(env!("CARGO_BIN_EXE_roster"));
    if args.iter().any(|a| a == "--csv") {
        return csv(exe, &ns);
    }
    println!("| users | plan (s) | bare parse (s) | plan / parse | plan peak RSS (MiB) | parse peak RSS (MiB) | changes |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in ns {
        // Generated in a child process: the peak RSS a child reports (wait4) can carry its
        // parent's memory over the exec, and the generator's would count against `roster`.
        let dir = generate(n);
        let runs = if n >= 1_000_000 {
            3
        } else if n < 1000 {
            1
        } else {
            5
        };
        let mut plan_t = Vec::new();
        let mut plan_m = Vec::new();
        let mut parse_t = Vec::new();
        let mut parse_m = Vec::new();
        for _ in 0..runs {
            let (t, m) = measure(
                Command::new(exe)
                    .args(["plan", "--format", "json", "-o", "plan.json"])
                    .current_dir(dir.path())
                    .stdout(std::process::Stdio::null()),
            );
            plan_t.push(t);
            plan_m.push(m);
            let (t, m) = measure(
                Command::new(std::env::current_exe().unwrap())
                    .args(["--parse-only"])
                    .current_dir(dir.path()),
            );
            parse_t.push(t);
            parse_m.push(m);
        }
        let changes = changes(dir.path(), "plan.json");
        let (pt, qt) = (median(plan_t), median(parse_t));
        println!(
            "| {n} | {pt:.3} | {qt:.3} | {:.2} | {:.0} | {:.0} | {changes} |",
            pt / qt,
            median(plan_m),
            median(parse_m)
        );
    }
}
