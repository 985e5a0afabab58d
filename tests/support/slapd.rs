//! A private OpenLDAP server for one test: its own config, database and port on 127.0.0.1,
//! loaded in bulk with `slapadd` before it starts, changed with `ldapmodify` while it runs, and
//! stopped on drop. Missing `slapd` is a test failure, never a skip: `scripts/test` installs it.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BASE_DN: &str = "dc=example,dc=org";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PW: &str = "root-secret-5b1f";
/// Capped at 500 entries per search; paged searches may go on past that (`size.prtotal`).
pub const LIMITED_DN: &str = "cn=limited,dc=example,dc=org";
pub const LIMITED_PW: &str = "limited-secret-8c2e";
/// Capped at 500 entries, paged or not: a full read is truncated by the server.
pub const CAPPED_DN: &str = "cn=capped,dc=example,dc=org";
pub const CAPPED_PW: &str = "capped-secret-41d7";

const SCHEMAS: [&str; 4] = ["core", "cosine", "inetorgperson", "nis"];

/// A few Active Directory attributes, with AD's OIDs and syntaxes, on an auxiliary class
/// `adUser`: objectGUID (16 raw bytes), sAMAccountName, userAccountControl.
const AD_LIKE_SCHEMA: &str = "\
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.100.1 NAME 'adUser' AUXILIARY
  MAY ( objectGUID $ sAMAccountName $ userAccountControl ) )
";

/// What the server is built with.
#[derive(Default)]
pub struct Builder {
    ldif: String,
    tls_names: Option<Vec<String>>,
}

impl Builder {
    /// Entries to `slapadd` before the server starts (after the base entries the harness adds).
    pub fn ldif(mut self, ldif: &str) -> Self {
        self.ldif.push_str(ldif);
        self.ldif.push('\n');
        self
    }

    /// Serve TLS (`ldaps://` and StartTLS) with a certificate for these names (`DNS:localhost`,
    /// `IP:127.0.0.1`), issued by a fresh CA whose PEM is at [`Slapd::ca_file`].
    pub fn tls(mut self, names: &[&str]) -> Self {
        self.tls_names = Some(names.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    pub fn start(self) -> Slapd {
        let slapd = find_slapd();
        let mut dir = tempfile::tempdir().expect("temp dir for slapd");
        let tls = self
            .tls_names
            .as_deref()
            .map(|names| make_certs(dir.path(), names));
        let conf = write_config(dir.path(), tls.is_some());
        let data = dir.path().join("data.ldif");
        std::fs::write(&data, format!("{}\n{}", base_entries(), self.ldif))
            .expect("write data.ldif");
        run(Command::new(slapd.with_file_name("slapadd"))
            .args(["-q", "-f"])
            .arg(&conf)
            .arg("-l")
            .arg(&data));

        // A free port can be taken between our probe and slapd's bind: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let tls_port = if tls.is_some() {
                Some(free_port())
            } else {
                None
            };
            let url = format!("ldap://127.0.0.1:{port}");
            let mut urls = format!("{url}/");
            if let Some(p) = tls_port {
                urls.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
            }
            let mut command = Command::new(&slapd);
            // If the test process dies without dropping us (killed, timed out), so does slapd.
            // SAFETY: prctl is async-signal-safe and touches only the child being started.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = command
                .arg("-f")
                .arg(&conf)
                .args(["-h", &urls, "-d", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", slapd.display()));
            let mut server = Slapd {
                child,
                dir,
                port,
                tls_port,
                url,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    dir = server.into_dir();
                }
            }
        }
        panic!("slapd did not start: {last_error}");
    }
}

/// A running private slapd; stopped (kill + wait) on drop, its files removed with it.
pub struct Slapd {
    child: Child,
    dir: TempDir,
    pub port: u16,
    tls_port: Option<u16>,
    /// `ldap://127.0.0.1:PORT`
    pub url: String,
}

impl Slapd {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A plain server holding the base entries and `ldif`.
    pub fn start(ldif: &str) -> Slapd {
        Slapd::builder().ldif(ldif).start()
    }

    /// `ldaps://HOST:PORT` for the TLS listener (the server must be built with [`Builder::tls`]).
    pub fn ldaps_url(&self, host: &str) -> String {
        format!(
            "ldaps://{host}:{}",
            self.tls_port.expect("slapd built without tls")
        )
    }

    /// PEM of the CA that issued the server certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Apply an LDIF change set (`changetype: add|modify|modrdn|delete`) as the root DN.
    pub fn modify(&self, ldif: &str) {
        let mut cmd = Command::new(tool("ldapmodify"));
        cmd.args(["-x", "-H", &self.url, "-D", ROOT_DN, "-w", ROOT_PW]);
        ldapmodify(cmd, ldif);
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                let mut err = String::new();
                if let Some(mut s) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut s, &mut err);
                }
                return Err(format!("slapd exited ({status}): {err}"));
            }
            let ports = [Some(self.port), self.tls_port];
            if ports
                .iter()
                .flatten()
                .all(|p| TcpStream::connect((Ipv4Addr::LOCALHOST, *p)).is_ok())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("no answer on its port after 15 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn into_dir(mut self) -> TempDir {
        self.stop();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run `ldapmodify` (`cmd`, its connection and bind set) on the change set `ldif`; it must succeed.
pub fn ldapmodify(mut cmd: Command, ldif: &str) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ldapmodify (ldap-utils)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ldif.as_bytes())
        .expect("write to ldapmodify");
    let out = child.wait_with_output().expect("wait for ldapmodify");
    assert!(
        out.status.success(),
        "ldapmodify failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        ldif.chars().take(4000).collect::<String>()
    );
}

fn find_slapd() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/local/sbin", "/usr/local/libexec"] {
        let p = Path::new(dir).join("slapd");
        if p.exists() {
            return p;
        }
    }
    panic!("slapd not found in /usr/sbin: run scripts/test, which installs Debian's slapd and ldap-utils");
}

fn tool(name: &str) -> PathBuf {
    let p = Path::new("/usr/bin").join(name);
    assert!(
        p.exists(),
        "{name} not found: run scripts/test, which installs ldap-utils"
    );
    p
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_config(dir: &Path, tls: bool) -> PathBuf {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).expect("create db dir");
    let mut c = String::new();
    for s in SCHEMAS {
        c.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
    }
    let ad = dir.join("ad-like.schema");
    std::fs::write(&ad, AD_LIKE_SCHEMA).expect("write ad-like.schema");
    c.push_str(&format!("include {}\n", ad.display()));
    // OpenLDAP 2.5+ carries the ppolicy schema (pwdAccountLockedTime) inside the overlay module.
    c.push_str(
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload ppolicy\nmoduleload refint\n",
    );
    c.push_str(&format!("pidfile {}\n", dir.join("slapd.pid").display()));
    if tls {
        let d = dir.display();
        c.push_str(&format!(
            "TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\nTLSCertificateKeyFile {d}/server.key\n"
        ));
    }
    c.push_str(&format!(
        "database mdb\nmaxsize 4294967296\nsuffix \"{BASE_DN}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\ndirectory {}\n",
        db.display()
    ));
    c.push_str(&format!(
        "limits dn.exact=\"{LIMITED_DN}\" size.soft=500 size.hard=500 size.prtotal=unlimited\n\
         limits dn.exact=\"{CAPPED_DN}\" size.soft=500 size.hard=500 size.prtotal=500\n"
    ));
    c.push_str("access to attrs=userPassword by anonymous auth by * none\naccess to * by * read\n");
    c.push_str("overlay ppolicy\n");
    // Renames and deletes carry into group members, as on a production server (AD does it itself).
    c.push_str(&format!(
        "overlay refint\nrefint_attributes member uniqueMember\nrefint_nothing \"{ROOT_DN}\"\n"
    ));
    let path = dir.join("slapd.conf");
    std::fs::write(&path, c).expect("write slapd.conf");
    path
}

fn base_entries() -> String {
    let mut s = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for (dn, pw) in [(LIMITED_DN, LIMITED_PW), (CAPPED_DN, CAPPED_PW)] {
        let cn = dn
            .split(',')
            .next()
            .and_then(|r| r.strip_prefix("cn="))
            .unwrap_or("x");
        s.push_str(&format!(
            "dn: {dn}\nobjectClass: person\ncn: {cn}\nsn: {cn}\nuserPassword: {pw}\n\n"
        ));
    }
    s
}

/// A CA (`CN=Roster Test CA`) and a server certificate for `names` (`IP:127.0.0.1`,
/// `DNS:localhost`), with openssl: `ca.pem`, `server.pem`, `server.key`.
pub fn make_certs(dir: &Path, names: &[String]) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-x509"])
        .args(ec)
        .args([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Roster Test CA",
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
    run(Command::new("openssl")
        .current_dir(dir)
        .arg("req")
        .args(ec)
        .args([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=roster-test-server",
        ]));
    let ext = format!(
        "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        names.join(",")
    );
    std::fs::write(dir.join("server.ext"), ext).expect("write server.ext");
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]));
}
