//! Benchmark (not a test): `roster snapshot directory` against `ldapsearch -E pr=1000` reading the
//! same entries and attributes from one private slapd holding 100,000 users. Run `bench/ldap.sh`.

#[allow(dead_code)]
#[path = "../tests/support/slapd.rs"]
mod slapd;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slapd::{Slapd, BASE_DN, GROUPS, PEOPLE, ROOT_DN, ROOT_PW};

const USER_FILTER: &str = roster::directory::ldap::DEFAULT_USER_FILTER;
const GROUP_FILTER: &str = roster::directory::ldap::DEFAULT_GROUP_FILTER;
const RUNS: usize = 5;

fn main() {
    let users: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let roster = PathBuf::from(
        std::env::var("ROSTER_BIN").unwrap_or_else(|_| "target/release/roster".into()),
    );
    assert!(
        roster.exists(),
        "{} missing: build it with cargo build --release",
        roster.display()
    );

    eprintln!("generating and loading {users} users ...");
    let started = Instant::now();
    let server = Slapd::builder().ldif(&directory(users)).start();
    eprintln!("slapadd + start: {:.1} s", started.elapsed().as_secs_f64());

    let config = write_config(&server);
    if let Some(secs) = std::env::var("BENCH_HOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        // For profiling: keep the server up and say how to reach it.
        println!(
            "holding {secs} s: {} snapshot directory -c {} -o /tmp/x.ldif",
            roster.display(),
            config.display()
        );
        std::thread::sleep(Duration::from_secs(secs));
        return;
    }
    let user_attrs = [
        "objectClass",
        "entryUUID",
        "uid",
        "cn",
        "givenName",
        "mail",
        "sn",
        "telephoneNumber",
        "title",
    ];
    let group_attrs = ["objectClass", "cn", "member", "uniqueMember", "entryUUID"];

    // Alternate the two, so that a noisy moment on the machine hits both alike; keep the best.
    let (mut roster_time, mut ldapsearch_time) = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        roster_time = roster_time.min(run(Command::new(&roster)
            .args(["snapshot", "directory", "-c"])
            .arg(&config)
            .arg("-o")
            .arg(server.dir().join("roster.ldif"))));
        let users_out = server.dir().join("ldapsearch-users.ldif");
        let groups_out = server.dir().join("ldapsearch-groups.ldif");
        ldapsearch_time = ldapsearch_time.min(
            ldapsearch(&server, USER_FILTER, &user_attrs, &users_out)
                + ldapsearch(&server, GROUP_FILTER, &group_attrs, &groups_out),
        );
    }
    let entries = |f: &str| {
        let text = std::fs::read_to_string(server.dir().join(f)).unwrap_or_default();
        text.lines().filter(|l| l.starts_with("dn:")).count()
    };
    println!(
        "users: {users}; entries written: roster {}, ldapsearch {}",
        entries("roster.ldif"),
        entries("ldapsearch-users.ldif") + entries("ldapsearch-groups.ldif")
    );
    println!(
        "roster snapshot directory : {:.3} s (best of {RUNS})",
        roster_time.as_secs_f64()
    );
    println!(
        "ldapsearch -E pr=1000     : {:.3} s (best of {RUNS})",
        ldapsearch_time.as_secs_f64()
    );
    println!(
        "ratio roster / ldapsearch : {:.2}x (target <= 1.2x)",
        roster_time.as_secs_f64() / ldapsearch_time.as_secs_f64()
    );
}

fn run(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn ldapsearch(server: &Slapd, filter: &str, attrs: &[&str], out: &Path) -> Duration {
    let file = std::fs::File::create(out).expect("ldapsearch output");
    let started = Instant::now();
    let status = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &server.url,
            "-D",
            ROOT_DN,
            "-w",
            ROOT_PW,
            "-b",
            BASE_DN,
            "-E",
            "pr=1000/noprompt",
            filter,
        ])
        .args(attrs)
        .stdout(file)
        .status()
        .expect("run ldapsearch");
    assert!(status.success());
    started.elapsed()
}

fn directory(users: usize) -> String {
    let mut s = String::with_capacity(users * 300);
    for i in 0..users {
        s.push_str(&format!(
            "dn: uid=user{i:06},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: user{i:06}\ncn: User {i}\nsn: Number{i}\n\
             givenName: User\nmail: user{i:06}@example.org\ntelephoneNumber: +1 555 {:04}\ntitle: Engineer\n\n",
            i % 10_000
        ));
    }
    // 100 groups of 1,000 members each.
    for g in 0..users.div_ceil(1000) {
        s.push_str(&format!(
            "dn: cn=team{g:03},{GROUPS}\nobjectClass: groupOfNames\ncn: team{g:03}\n"
        ));
        for i in g * 1000..((g + 1) * 1000).min(users) {
            s.push_str(&format!("member: uid=user{i:06},{PEOPLE}\n"));
        }
        s.push('\n');
    }
    s
}

fn write_config(server: &Slapd) -> PathBuf {
    std::fs::write(server.dir().join("root.pw"), ROOT_PW).expect("password file");
    std::fs::write(
        server.dir().join("intranet.json"),
        r#"{"users":{"Resources":[]},"groups":{"Resources":[]}}"#,
    )
    .expect("intranet snapshot");
    let config = format!(
        "version: 1\ndirectory:\n  ldap:\n    url: {}\n    bind_dn: \"{ROOT_DN}\"\n    password: {{ file: root.pw }}\n    \
         base_dn: \"{BASE_DN}\"\n    page_size: 1000\nintranet:\n  snapshot: intranet.json\nsyncing_groups: [\"cn=team000,{GROUPS}\"]\n\
         field_mappings:\n  display_name: \"{{givenName}} {{sn}}\"\n  email: mail\n  phone: telephoneNumber\n  job_title: title\n  first_name: cn\n",
        server.url
    );
    let path = server.dir().join("roster.yaml");
    std::fs::write(&path, config).expect("config");
    path
}
