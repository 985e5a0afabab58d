//! Benchmark (not a test): Roster end to end — `roster plan` reading a live directory (private
//! slapd) and a live intranet (scim2-server) — against ldap2pg 5.9's dry run (`ldap2pg --dry`)
//! planning PostgreSQL roles from the same directory, its "intranet" being a private PostgreSQL
//! cluster holding the same accounts. Run through `bench/run` (or `bench/e2e.sh`).
//!
//! Both sides start from one company made by bench/gen.rs (1% renames, 2% leavers, 1% disabled,
//! 5% overrides, 0.5% new hires, role drift): its LDIF is loaded into slapd, its intranet snapshot
//! is POSTed to scim2-server and turned into PostgreSQL roles (bench/e2e_seed.py).
//!
//! Environment: BENCH_USERS (directory users, default 100000), BENCH_SCIM_USERS (accounts seeded
//! into the intranets, default all of them), BENCH_RUNS (default 3), BENCH_WORK (a directory to
//! work in: bench/run passes one and removes it, stopping a PostgreSQL left behind),
//! ROSTER_BIN (default target/release/roster), BENCH_SCIM_CONCURRENCY (Roster's
//! `intranet.scim.concurrency` against scim2-server, default 1).
//!
//! Prints human lines and, last, one `E2E {json}` line for bench/run.

#[allow(dead_code)]
#[path = "../tests/support/slapd.rs"]
mod slapd;

#[path = "gen.rs"]
mod gen;

#[path = "cpu.rs"]
mod cpu;
use cpu::cpu_seconds;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slapd::{Slapd, BASE_DN, ROOT_DN, ROOT_PW};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// PATCH the first user's title (with curl), as an intranet admin would.
fn touch_one_user(url: &str, token: &str) {
    let auth = format!("Authorization: Bearer {token}");
    let page =
        check(Command::new("curl").args(["-sSf", "-H", &auth, &format!("{url}/Users?count=1")]));
    let page: serde_json::Value = serde_json::from_str(&page).expect("a ListResponse");
    let id = page["Resources"][0]["id"].as_str().expect("a user id");
    let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Touched"}]}"#;
    check(Command::new("curl").args([
        "-sSf",
        "-X",
        "PATCH",
        "-H",
        &auth,
        "-H",
        "Content-Type: application/scim+json",
        "-d",
        body,
        &format!("{url}/Users/{id}"),
    ]));
}

/// GNU time's report of the peak RSS of the command it ran (KiB), written to this file.
const RSS_FILE: &str = "peak-rss.txt";

/// A command run under `/usr/bin/time`, which reports the command's own peak RSS. (The child's
/// `ru_maxrss` from wait4 would not do: at exec Linux carries over the RSS of the process image
/// that execs, i.e. this driver's, whose heap holds the parsed plan and snapshots.)
fn timed(work: &Path, program: &Path) -> Command {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%M", "-o"])
        .arg(work.join(RSS_FILE))
        .arg(program)
        .current_dir(work);
    c
}

/// Run a command made by [`timed`] to completion; return (seconds, peak RSS in MiB).
fn measure(work: &Path, cmd: &mut Command) -> (f64, f64) {
    let start = Instant::now();
    let status = cmd.status().expect("spawn");
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "{cmd:?} failed: {status}");
    let kib: f64 = std::fs::read_to_string(work.join(RSS_FILE))
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        .expect("peak RSS from /usr/bin/time");
    (secs, kib / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn check(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::inherit()).output().expect("run");
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process killed on drop, and with us if we die (PR_SET_PDEATHSIG).
struct Server(Child);
impl Server {
    fn spawn(cmd: &mut Command) -> Server {
        // SAFETY: prctl is async-signal-safe and touches only the child being started.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Server(cmd.spawn().expect("spawn server"))
    }
}
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private PostgreSQL cluster on 127.0.0.1 (and a socket in its directory), run as `postgres`
/// when we are root (initdb refuses root); stopped on drop.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Postgres {
    fn cmd(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn start(dir: &Path) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("/usr/lib/postgresql: apt-get install postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("no PostgreSQL server under /usr/lib/postgresql");
        std::fs::create_dir_all(dir).unwrap();
        let as_root = unsafe { libc::geteuid() } == 0;
        if as_root {
            check(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir),
            );
        }
        let mut pg = Postgres {
            bin,
            dir: dir.to_owned(),
            port: 0,
            as_root,
        };
        check(
            pg.cmd("initdb")
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-N", "-D"])
                .arg(dir.join("data"))
                .stdout(Stdio::null()),
        );
        for _ in 0..5 {
            pg.port = free_port();
            let ok = pg
                .cmd("pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    pg.port,
                    dir.display()
                ))
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "start"])
                .stdout(Stdio::null())
                .status()
                .expect("pg_ctl")
                .success();
            if ok {
                return pg;
            }
        }
        panic!(
            "PostgreSQL did not start: see {}",
            dir.join("server.log").display()
        );
    }

    fn dsn(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.display(),
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

fn main() {
    let users = env_num("BENCH_USERS", 100_000);
    let runs = env_num("BENCH_RUNS", 3).max(1);
    let roster = PathBuf::from(
        std::env::var("ROSTER_BIN").unwrap_or_else(|_| "target/release/roster".into()),
    );
    assert!(
        roster.exists(),
        "{} missing: cargo build --release",
        roster.display()
    );
    let seed_py = std::fs::canonicalize("bench/e2e_seed.py").expect("run from the repository top");
    let roster = std::fs::canonicalize(roster).unwrap();

    let _tmp;
    let work = match std::env::var("BENCH_WORK") {
        Ok(w) => PathBuf::from(w),
        Err(_) => {
            _tmp = tempfile::tempdir().unwrap();
            _tmp.path().to_owned()
        }
    };
    std::fs::create_dir_all(&work).unwrap();
    // The postgres user must reach its cluster directory under here.
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    // One company for both sides.
    gen::company(&work, users).expect("generate");
    let ldif = std::fs::read_to_string(work.join("directory.ldif"))
        .unwrap()
        .replacen("version: 1\n", "", 1)
        .replace("dc=example,dc=com", BASE_DN);
    let intranet = work.join("intranet.json");
    let accounts: usize = {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&intranet).unwrap()).unwrap();
        doc["users"]["Resources"].as_array().map_or(0, Vec::len)
    };
    let seeded = env_num("BENCH_SCIM_USERS", accounts).min(accounts);

    eprintln!("e2e: loading {users} users into slapd ...");
    let t = Instant::now();
    let ldap = Slapd::builder().ldif(&ldif).start();
    let slapd_load = t.elapsed().as_secs_f64();
    drop(ldif);

    // The intranet for Roster: scim2-server, seeded through SCIM Bulk.
    let token = format!("bench-{}", std::process::id());
    std::fs::write(work.join("scim.token"), &token).unwrap();
    let scim_port = free_port();
    let scim_url = format!("http://127.0.0.1:{scim_port}/v2");
    let _scim = Server::spawn(
        Command::new("scim2-server")
            .args(["--hostname", "127.0.0.1", "--port", &scim_port.to_string()])
            .args(["--bearer-token", &token])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("scim2-server.log")).unwrap()),
    );
    eprintln!("e2e: seeding scim2-server with {seeded} accounts ...");
    let out = check(
        Command::new("python3")
            .arg(&seed_py)
            .args(["scim", &scim_url])
            .arg(work.join("scim.token"))
            .arg(&intranet)
            .arg(seeded.to_string()),
    );
    let scim_seed: f64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    // The seed is one burst; a real intranet's newest change is some time back. Let the seed age
    // past the delta read's safety margin and change one account, as the last edit before the
    // plans, so that the warm plan's delta read does not re-read the end of the seed.
    std::thread::sleep(Duration::from_secs(
        roster::intranet::scim::cache::MARGIN_SECS as u64 + 1,
    ));
    touch_one_user(&scim_url, &token);

    // The "intranet" for ldap2pg: PostgreSQL roles for the same accounts and groups.
    eprintln!("e2e: starting PostgreSQL and creating {seeded} roles ...");
    let pg = Postgres::start(&work.join("pg"));
    let t = Instant::now();
    let sql = check(
        Command::new("python3")
            .arg(&seed_py)
            .arg("sql")
            .arg(&intranet)
            .arg(seeded.to_string()),
    );
    std::fs::write(work.join("roles.sql"), sql).unwrap();
    check(
        Command::new(pg.bin.join("psql"))
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &pg.dsn(), "-f"])
            .arg(work.join("roles.sql"))
            .stdout(Stdio::null()),
    );
    let pg_seed = t.elapsed().as_secs_f64();

    // Configs: Roster's is bench/gen.rs's, pointed at the live servers.
    std::fs::write(work.join("root.pw"), ROOT_PW).unwrap();
    let offline_cfg = std::fs::read_to_string(work.join("roster.yaml")).unwrap();
    let live = offline_cfg
        .replace("dc=example,dc=com", BASE_DN)
        .replace(
            "  ldif: directory.ldif\n",
            &format!(
                "  ldap:\n    url: {}\n    bind_dn: \"{ROOT_DN}\"\n    password: {{ file: root.pw }}\n    base_dn: \"{BASE_DN}\"\n    page_size: 1000\n",
                ldap.url
            ),
        );
    assert_ne!(live, offline_cfg, "gen.rs's roster.yaml changed shape");
    // scim2-server runs one request at a time: concurrent ones only queue behind its interpreter
    // lock and slow it, so Roster is set to 1, as an admin would for it.
    let concurrency = std::env::var("BENCH_SCIM_CONCURRENCY").unwrap_or_else(|_| "1".into());
    let scim_cfg = live.replace(
        "  snapshot: intranet.json\n",
        &format!(
            "  scim:\n    url: {scim_url}\n    token: {{ file: scim.token }}\n    timeout: 600\n    concurrency: {concurrency}\n"
        ),
    );
    std::fs::write(work.join("live.yaml"), &scim_cfg).unwrap();
    // The same, with the intranet read from a snapshot of that scim2-server (written below).
    std::fs::write(
        work.join("live-ldap.yaml"),
        live.replace("snapshot: intranet.json", "snapshot: scim-snapshot.json"),
    )
    .unwrap();

    // ldap2pg: users are the directory's people (role name uid, comment title, LOGIN); the
    // sysadmins role's members come from cn=admins (the members' uid is read from their DN, no
    // sub-search). Same directory reads as Roster: every person entry, the groups.
    std::fs::write(
        work.join("ldap2pg.yml"),
        format!(
            r#"version: 5
ldap:
  uri: {url}
  binddn: "{ROOT_DN}"
  password: "{ROOT_PW}"
postgres:
  dsn: "{dsn}"
sync_map:
- role:
    name: sysadmins
    options: NOLOGIN
- ldapsearch:
    base: "ou=people,{BASE_DN}"
    filter: "(objectClass=inetOrgPerson)"
  role:
    name: "{{uid}}"
    options: LOGIN
    comment: "{{title}}"
- ldapsearch:
    base: "cn=admins,ou=groups,{BASE_DN}"
    scope: base
    filter: "(objectClass=groupOfNames)"
    on_unexpected_dn: ignore
  role:
    name: "{{member.uid}}"
    options: LOGIN
    parent: sysadmins
"#,
            url = ldap.url,
            dsn = pg.dsn()
        ),
    )
    .unwrap();

    // ldap2pg refuses a password in a world-readable file.
    std::fs::set_permissions(
        work.join("ldap2pg.yml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let roster_cmd = |args: &[&str]| {
        let mut c = timed(&work, &roster);
        c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let ldap2pg =
        PathBuf::from(check(Command::new("sh").args(["-c", "command -v ldap2pg"])).trim());
    let ldap2pg_cmd = || {
        let mut c = timed(&work, &ldap2pg);
        c.args(["--dry", "--no-color", "-c", "ldap2pg.yml"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join("ldap2pg.out")).unwrap());
        c
    };

    // One look first: what each side plans (not timed).
    check(&mut roster_cmd(&[
        "snapshot",
        "intranet",
        "-c",
        "live.yaml",
        "-o",
        "scim-snapshot.json",
    ]));
    let out =
        check(roster_cmd(&["plan", "-c", "live.yaml", "--format", "json"]).stdout(Stdio::piped()));
    let plan: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    let roster_changes = plan["changes"].as_array().map_or(0, Vec::len);
    let ok = ldap2pg_cmd().status().expect("run ldap2pg").success();
    let log = std::fs::read_to_string(work.join("ldap2pg.out")).unwrap();
    assert!(
        ok,
        "ldap2pg --dry failed:\n{}",
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    let ldap2pg_changes = log
        .lines()
        .filter(|l| {
            l.contains("Would ") && !l.contains("Would reassign") && !l.contains("purge ACL")
        })
        .count();
    eprintln!("e2e: roster plans {roster_changes} changes, ldap2pg {ldap2pg_changes} statements");

    // Alternate the sides so that a noisy moment on the machine hits both alike.
    let (mut r_t, mut r_m, mut l_t, mut l_m) = (vec![], vec![], vec![], vec![]);
    let (mut w_t, mut w_m) = (vec![], vec![]);
    let (mut dir_t, mut scim_t, mut file_t, mut scim_cpu) = (vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        eprintln!("e2e: run {}/{runs}", i + 1);
        // Cold: the intranet read in full. Warm: the same plan again, the intranet read through
        // the cache the cold plan wrote.
        let plan_to = |out: &str, refresh: &str| {
            let args = [
                "plan",
                "-c",
                "live.yaml",
                "--format",
                "json",
                "-o",
                out,
                refresh,
            ];
            measure(&work, &mut roster_cmd(&args))
        };
        let (t, m) = plan_to("plan.json", "--refresh=full");
        r_t.push(t);
        r_m.push(m);
        let (t, m) = plan_to("plan-warm.json", "--refresh=auto");
        w_t.push(t);
        w_m.push(m);
        let read = |f: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(work.join(f)).unwrap()).unwrap()
        };
        let (cold, warm) = (read("plan.json"), read("plan-warm.json"));
        assert_eq!(
            warm["inputs"]["intranet_read"]["mode"], "delta",
            "warm plan: {}",
            warm["inputs"]
        );
        assert_eq!(
            cold["inputs"]["intranet"], warm["inputs"]["intranet"],
            "warm read differs"
        );
        assert_eq!(cold["changes"], warm["changes"], "warm plan differs");
        let (t, m) = measure(&work, &mut ldap2pg_cmd());
        l_t.push(t);
        l_m.push(m);
        dir_t.push(
            measure(
                &work,
                &mut roster_cmd(&["snapshot", "directory", "-c", "live.yaml", "-o", "dir.ldif"]),
            )
            .0,
        );
        let cpu = cpu_seconds(_scim.0.id());
        scim_t.push(
            measure(
                &work,
                &mut roster_cmd(&["snapshot", "intranet", "-c", "live.yaml", "-o", "scim.json"]),
            )
            .0,
        );
        scim_cpu.push(cpu_seconds(_scim.0.id()) - cpu);
        file_t.push(
            measure(
                &work,
                &mut roster_cmd(&[
                    "plan",
                    "-c",
                    "live-ldap.yaml",
                    "--format",
                    "json",
                    "-o",
                    "plan2.json",
                ]),
            )
            .0,
        );
    }
    // The server's own cost of an apply (bench/scim.sh's figure is bounded by it): scim2-server's
    // CPU time during the apply itself, which `scim_bench apply` measures around it.
    let mut apply_probe = None;
    let scim_bench = PathBuf::from(
        std::env::var("SCIM_BENCH_BIN")
            .unwrap_or_else(|_| "target/release/examples/scim_bench".into()),
    );
    if scim_bench.exists() {
        let n = seeded.min(1000);
        let token_file = work.join("scim.token");
        let out = check(
            Command::new(&scim_bench)
                .args(["apply", &scim_url])
                .arg(&token_file)
                .args([&n.to_string(), "Probe", &concurrency])
                .env("SERVER_PID", _scim.0.id().to_string()),
        );
        let field = |i: usize| -> f64 {
            out.split_whitespace()
                .nth(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0)
        };
        let (wall, cpu) = (field(1), field(2));
        println!(
            "scim2-server apply probe: {n} updates in {wall:.3} s by Roster's apply (SCIM Bulk, its default), server CPU {cpu:.3} s = {:.2} ms per update",
            cpu / n as f64 * 1e3
        );
        apply_probe = Some((n, wall, cpu));
    }

    let (rt, lt) = (median(r_t), median(l_t));
    let (wt, wm) = (median(w_t), median(w_m));
    let (rm, lm) = (median(r_m), median(l_m));
    let (dt, st, ft, sc) = (
        median(dir_t),
        median(scim_t),
        median(file_t),
        median(scim_cpu),
    );
    println!("users in the directory: {users}; accounts in each intranet: {seeded} of {accounts}");
    println!("setup: slapadd+start {slapd_load:.1} s; scim2-server seed {scim_seed:.1} s; PostgreSQL roles {pg_seed:.1} s");
    println!("roster plan (live LDAP + live SCIM): {rt:.3} s, peak RSS {rm:.0} MiB (median of {runs}), {roster_changes} changes");
    println!("  roster plan warm (intranet delta read through the cache): {wt:.3} s, peak RSS {wm:.0} MiB");
    println!("  roster snapshot directory (LDAP read alone): {dt:.3} s");
    println!("  roster snapshot intranet (SCIM read alone):  {st:.3} s");
    println!("  scim2-server CPU time serving that read:     {sc:.3} s");
    println!("  roster plan, live LDAP + intranet from a snapshot file: {ft:.3} s");
    println!("ldap2pg 5.9 --dry: {lt:.3} s, peak RSS {lm:.0} MiB (median of {runs}), {ldap2pg_changes} statements");
    println!(
        "ratio ldap2pg / roster: {:.2}x (target > 1: Roster faster)",
        lt / rt
    );
    println!(
        "E2E {}",
        serde_json::json!({
            "users": users, "accounts": accounts, "seeded": seeded, "runs": runs,
            "slapd_load_s": slapd_load, "scim_seed_s": scim_seed, "pg_seed_s": pg_seed,
            "roster_s": rt, "roster_rss_mib": rm, "roster_changes": roster_changes,
            "roster_warm_s": wt, "roster_warm_rss_mib": wm,
            "roster_ldap_s": dt, "roster_scim_s": st, "scim_cpu_read_s": sc, "roster_file_intranet_s": ft,
            "ldap2pg_s": lt, "ldap2pg_rss_mib": lm, "ldap2pg_changes": ldap2pg_changes,
            "apply_probe_n": apply_probe.map(|p| p.0), "apply_probe_wall_s": apply_probe.map(|p| p.1),
            "apply_probe_server_cpu_s": apply_probe.map(|p| p.2),
        })
    );
    drop(pg);
    drop(ldap);
}
