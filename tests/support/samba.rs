//! A throwaway Active Directory domain: Samba's AD DC (Debian's samba, samba-ad-dc,
//! samba-ad-provision, ...) provisioned once per test binary into a temp folder, serving LDAP
//! only (`server services = ldap`) on 127.0.0.1 with a certificate for `IP:127.0.0.1` issued by a
//! fresh CA (Samba's own has no SAN).
//!
//! Samba's LDAP ports are fixed (389, 636, 3268, 3269), so there is one server per binary and
//! the AD tests take turns through [`ad`] (a process-wide lock; a file lock keeps two test
//! binaries from starting two servers). Each test works in its own OU. The server is started by
//! a thread that lives as long as the process (`PR_SET_PDEATHSIG` fires when the *thread* that
//! spawned a child ends) and is stopped by pid at exit (`atexit`), its folder removed with it; if
//! the process is killed, the death signal takes samba down. Missing Samba is a failure naming
//! how to install it, never a skip.

use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;

pub const REALM: &str = "roster.test";
pub const DOMAIN_DN: &str = "DC=roster,DC=test";
pub const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=roster,DC=test";
pub const ADMIN_PW: &str = "Adm1n-Secret-7f3a!";
/// The password [`user`] gives every account it creates.
pub const USER_PW: &str = "User-Secret-9!";
pub const DOMAIN_USERS: &str = "CN=Domain Users,CN=Users,DC=roster,DC=test";
/// Failed binds before an account is locked out (set at provision time).
pub const LOCKOUT_THRESHOLD: u32 = 3;

const INSTALL: &str = "run scripts/test (as root), which installs Debian's samba, samba-ad-dc, \
                       samba-ad-provision, samba-dsdb-modules, samba-vfs-modules, python3-samba, \
                       winbind, krb5-user and ldb-tools";

/// The running domain controller.
pub struct Samba {
    dir: PathBuf,
    pid: i32,
    /// How long `samba-tool domain provision` took.
    pub provision_time: Duration,
}

static SERVER: OnceLock<Result<Samba, String>> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

/// One AD test's turn at the shared server, and its own OU (`OU=<name>,DC=roster,DC=test`).
pub struct Ad {
    _turn: MutexGuard<'static, ()>,
    pub server: &'static Samba,
    pub ou: String,
}

/// The shared domain controller (started on first use) and a fresh OU named `name` for this
/// test; the turn lasts as long as the returned value.
pub fn ad(name: &str) -> Ad {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let server = match SERVER.get_or_init(Samba::start) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let ou = format!("OU={name},{DOMAIN_DN}");
    server.modify(&format!(
        "dn: {ou}\nchangetype: add\nobjectClass: organizationalUnit\n\n"
    ));
    Ad {
        _turn: turn,
        server,
        ou,
    }
}

impl Ad {
    /// `CN=<cn>,<this test's OU>` (`cn` escaped as the caller wrote it).
    pub fn dn(&self, cn: &str) -> String {
        format!("CN={cn},{}", self.ou)
    }

    pub fn modify(&self, ldif: &str) {
        self.server.modify(ldif);
    }
}

/// An `add` of a user under `ou` with `cn` (DN-escaped by the caller), `sAMAccountName` `sam`,
/// `userPrincipalName` `sam@roster.test`, `userAccountControl` `uac` and `extra` attribute lines
/// (AD refuses an enabled account without a password unless `uac` has PASSWD_NOTREQD, 0x20).
pub fn user(ou: &str, cn: &str, sam: &str, uac: u32, extra: &str) -> String {
    format!(
        "dn: CN={cn},{ou}\nchangetype: add\nobjectClass: user\nsAMAccountName: {sam}\n\
         userPrincipalName: {sam}@{REALM}\nuserAccountControl: {uac}\n{extra}\n"
    )
}

/// The `unicodePwd` line that sets [`USER_PW`] (UTF-16LE, quoted, as AD wants it).
pub fn password() -> String {
    let pw: Vec<u8> = format!("\"{USER_PW}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    format!(
        "unicodePwd:: {}\n",
        base64::engine::general_purpose::STANDARD.encode(pw)
    )
}

/// An `add` of a global security group under `ou` with these member DNs.
/// Its `sAMAccountName` (unique in the domain) is `cn.<the OU's name>`.
pub fn group(ou: &str, cn: &str, members: &[String]) -> String {
    let ou_name = ou.split(',').next().unwrap_or(ou).trim_start_matches("OU=");
    let mut s = format!(
        "dn: CN={cn},{ou}\nchangetype: add\nobjectClass: group\nsAMAccountName: {cn}.{ou_name}\n"
    );
    for m in members {
        s.push_str(&format!("member: {m}\n"));
    }
    s.push('\n');
    s
}

impl Samba {
    /// `ldaps://127.0.0.1:PORT` (636; 3269 for the global catalog).
    pub fn ldaps_url(&self, port: u16) -> String {
        format!("ldaps://127.0.0.1:{port}")
    }

    /// PEM of the CA that issued the server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    /// Apply an LDIF change set as the domain's Administrator, over LDAPS.
    pub fn modify(&self, ldif: &str) {
        super::slapd::ldapmodify(self.ldap_tool("ldapmodify"), ldif);
    }

    /// The entries Samba answers for `filter` under `base` (subtree), with `attributes`.
    pub fn search(
        &self,
        base: &str,
        filter: &str,
        attributes: &[&str],
    ) -> Vec<roster::model::Entry> {
        let out = self
            .ldap_tool("ldapsearch")
            .args(["-LLL", "-o", "ldif-wrap=no", "-b", base, filter])
            .args(attributes)
            .output()
            .expect("run ldapsearch");
        assert!(
            out.status.success(),
            "ldapsearch {filter} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("ldapsearch writes UTF-8");
        let src = roster::diag::Source::new(Path::new("ldapsearch"), text);
        roster::directory::ldif::parse(&src).expect("ldapsearch output reads as LDIF")
    }

    fn ldap_tool(&self, name: &str) -> Command {
        let mut c = Command::new(Path::new("/usr/bin").join(name));
        c.env("LDAPTLS_CACERT", self.ca_file())
            .env("LDAPTLS_REQCERT", "demand")
            .args([
                "-x",
                "-H",
                &self.ldaps_url(636),
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PW,
            ]);
        c
    }

    fn start() -> Result<Samba, String> {
        for tool in [
            "/usr/sbin/samba",
            "/usr/bin/samba-tool",
            "/usr/bin/ldapmodify",
        ] {
            if !Path::new(tool).exists() {
                return Err(format!("{tool} not found: {INSTALL}"));
            }
        }
        if !Path::new("/usr/share/samba/setup").exists() {
            return Err(format!(
                "/usr/share/samba/setup not found (samba-ad-provision): {INSTALL}"
            ));
        }
        hold_machine_lock()?;
        for port in [389, 636, 3268, 3269] {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Err(format!(
                    "something already listens on 127.0.0.1:{port}: the AD tests start their own \
                     Samba on its fixed ports; stop the system samba (scripts/test does) or the \
                     server holding the port"
                ));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("roster-samba-")
            .tempdir()
            .map_err(|e| format!("temp dir for samba: {e}"))?
            .keep();
        let started = Instant::now();
        run(Command::new("/usr/bin/samba-tool")
            .args(["domain", "provision", "--targetdir"])
            .arg(&dir)
            .args([
                "--realm",
                &REALM.to_uppercase(),
                "--domain",
                "ROSTER",
                "--adminpass",
                ADMIN_PW,
                "--server-role=dc",
                "--dns-backend=NONE",
                "--host-name=dc1",
                "--option=interfaces=127.0.0.1",
                "--option=bind interfaces only=yes",
            ]))?;
        let provision_time = started.elapsed();
        run(Command::new("/usr/bin/samba-tool")
            .args(["domain", "passwordsettings", "set", "-H"])
            .arg(dir.join("private/sam.ldb"))
            .arg(format!("--account-lockout-threshold={LOCKOUT_THRESHOLD}")))?;

        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(|e| e.to_string())?;
        super::slapd::make_certs(&tls, &["IP:127.0.0.1".into(), "DNS:localhost".into()]);
        // Samba refuses a key file others can read.
        std::fs::set_permissions(
            tls.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .map_err(|e| e.to_string())?;
        let conf = dir.join("etc/smb.conf");
        write_config(&conf, &dir)?;

        let pid = spawn_keeper(&conf, &dir)?;
        let server = Samba {
            dir,
            pid,
            provision_time,
        };
        // SAFETY: `stop_at_exit` is an `extern "C" fn()` that only reads a set OnceLock.
        unsafe {
            libc::atexit(stop_at_exit);
        }
        server.wait_ready()?;
        eprintln!(
            "samba: provisioned in {:.1} s, ready after {:.1} s",
            server.provision_time.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // SAFETY: kill with signal 0 only checks that the process exists.
            if unsafe { libc::kill(self.pid, 0) } != 0 {
                return Err(format!("samba exited at start: {}", self.log_tail()));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, 636)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "samba did not answer on 127.0.0.1:636 after 60 s: {}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("samba.out")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Only one test binary at a time may run Samba on its fixed ports: the lock is held (its file
/// descriptor left open) until the process exits.
fn hold_machine_lock() -> Result<(), String> {
    let path = std::env::temp_dir().join("roster-samba.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own; it stays open (leaked) for the process's life.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    if rc != 0 {
        return Err(format!("flock {}", path.display()));
    }
    std::mem::forget(file);
    Ok(())
}

/// The provisioned smb.conf, cut down to the ldap service, with our certificate and every
/// runtime file inside `dir`.
fn write_config(conf: &Path, dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(conf).map_err(|e| format!("{}: {e}", conf.display()))?;
    let d = dir.display();
    let mut out = String::new();
    for line in text.lines() {
        let key = line.trim().split('=').next().unwrap_or("").trim();
        match key {
            "server services" | "log file" | "logging" => continue,
            "[global]" => {
                out.push_str(line);
                out.push('\n');
                out.push_str(&format!(
                    "\tserver services = ldap\n\
                     \ttls enabled = yes\n\
                     \ttls keyfile = {d}/tls/server.key\n\
                     \ttls certfile = {d}/tls/server.pem\n\
                     \ttls cafile = {d}/tls/ca.pem\n\
                     \tpid directory = {d}/run\n\
                     \tncalrpc dir = {d}/run/ncalrpc\n\
                     \twinbindd socket directory = {d}/run/winbindd\n\
                     \tlog file = {d}/log.%m\n\
                     \tlogging = file\n"
                ));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    std::fs::create_dir_all(dir.join("run")).map_err(|e| e.to_string())?;
    std::fs::write(conf, out).map_err(|e| format!("{}: {e}", conf.display()))
}

/// Start `samba -i -M single` from a thread that lives as long as the process, and wait for it
/// there; returns its pid.
fn spawn_keeper(conf: &Path, dir: &Path) -> Result<i32, String> {
    let out = std::fs::File::create(dir.join("samba.out")).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new("/usr/sbin/samba");
    command
        .args(["-i", "-M", "single", "-s"])
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // If the test process dies without running its exit handlers (killed), so does samba.
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("samba-keeper".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(i32::try_from(child.id()).unwrap_or(0)));
                let _ = child.wait();
                // Never return: the death signal is tied to this thread.
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("cannot run /usr/sbin/samba: {e}")));
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())?
}

extern "C" fn stop_at_exit() {
    let Some(Ok(server)) = SERVER.get() else {
        return;
    };
    // SAFETY: signals to the samba we started, by its pid.
    unsafe {
        libc::kill(server.pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    // The keeper thread reaps it; then the pid is gone.
    while unsafe { libc::kill(server.pid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&server.dir);
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}: {INSTALL}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
