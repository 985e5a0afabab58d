//! The SCIM servers of the interoperability tests, behind one interface: each started on a free
//! 127.0.0.1 port with its own data and a bearer token, read and written with curl (a client we
//! did not write), stopped by PID on drop.
//!
//! - `scim2-server` (PyPI): in memory; its `/ServiceProviderConfig` given here with a page of
//!   [`PAGE`] (it caps pages at `filter.maxResults`). ETags, filter and Bulk.
//! - django-scim2 (PyPI) in the Django project of `servers/django`: SQLite, a copy per server of
//!   a template database migrated once per test process. Announces no ETags, no filter, no Bulk;
//!   never sends a `type` in `emails`; PATCHes a User's `userName`, `name`, `active` and
//!   `emails` (whole) only, and removes a Group member only in the value-list form.
//! - SCIMMY with scimmy-routers (npm) on Express 4 and on Express 5 (`servers/scimmy/server.js`,
//!   the packages from `servers/scimmy-express4|5`): in memory. Filter and Bulk; no ETags. On
//!   Express 5 scimmy-routers cannot turn `startIndex` and `count` into numbers (`req.query` is a
//!   getter there), so SCIMMY answers every page from the first: [`Kind::ScimmyExpress5`] runs
//!   as published, [`Kind::ScimmyExpress5Shim`] with the glue's `req.query` shim.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TOKEN: &str = "roster-interop-token-8d1e";
/// The page size each server is made to announce (`filter.maxResults`).
pub const PAGE: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scim2Server,
    Django,
    ScimmyExpress4,
    /// SCIMMY on Express 5 as published: paging broken.
    ScimmyExpress5,
    /// SCIMMY on Express 5 with the glue's `req.query` shim: paging works.
    ScimmyExpress5Shim,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Scim2Server => "scim2-server",
            Kind::Django => "django-scim2",
            Kind::ScimmyExpress4 => "SCIMMY/Express 4",
            Kind::ScimmyExpress5 => "SCIMMY/Express 5",
            Kind::ScimmyExpress5Shim => "SCIMMY/Express 5 (req.query shim)",
        }
    }

    fn base_path(self) -> &'static str {
        match self {
            Kind::Scim2Server => "/v2",
            _ => "/scim/v2",
        }
    }

    pub fn scimmy(self) -> bool {
        matches!(
            self,
            Kind::ScimmyExpress4 | Kind::ScimmyExpress5 | Kind::ScimmyExpress5Shim
        )
    }
}

pub struct Server {
    pub kind: Kind,
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// From spawning the process to its first answer.
    pub startup: Duration,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/servers")
}

/// The migrated Django database every django-scim2 server starts from a copy of: migrated once
/// per test process, then renamed into place (one file in the target dir, the same every run).
fn django_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join(format!("django-template-{}.sqlite3", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let out = Command::new("python3")
            .args(["manage.py", "migrate", "-v0"])
            .current_dir(servers_dir().join("django"))
            .env("ROSTER_DJANGO_DB", &file)
            .env("ROSTER_DJANGO_TOKEN", TOKEN)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "migrating the django-scim2 template failed (scripts/test installs django-scim2): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let template = dir.join("django-template.sqlite3");
        std::fs::rename(&file, &template).expect("the template in place");
        template
    })
}

impl Server {
    pub fn start(kind: Kind) -> Server {
        let mut dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
            let mut cmd = match kind {
                Kind::Scim2Server => {
                    let spc = dir.path().join("spc.json");
                    std::fs::write(&spc, scim2_server_config().to_string()).unwrap();
                    let mut c = Command::new("scim2-server");
                    c.args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
                        .args(["--bearer-token", TOKEN, "--service-provider-config"])
                        .arg(&spc);
                    c
                }
                Kind::Django => {
                    let db = dir.path().join("db.sqlite3");
                    std::fs::copy(django_template(), &db).expect("copy the template database");
                    let mut c = Command::new("python3");
                    c.args(["manage.py", "runserver", "--noreload", "--skip-checks"])
                        .arg(format!("127.0.0.1:{port}"))
                        .current_dir(servers_dir().join("django"))
                        .env("ROSTER_DJANGO_DB", &db)
                        .env("ROSTER_DJANGO_TOKEN", TOKEN)
                        .env("ROSTER_DJANGO_PAGE", PAGE.to_string())
                        .env("PYTHONUNBUFFERED", "1");
                    c
                }
                _ => {
                    let folder = if kind == Kind::ScimmyExpress4 {
                        "scimmy-express4"
                    } else {
                        "scimmy-express5"
                    };
                    let folder = servers_dir().join(folder);
                    assert!(
                        folder.join("node_modules/scimmy-routers").is_dir(),
                        "{} is not installed: run `npm ci` in {} (scripts/test does)",
                        kind.name(),
                        folder.display()
                    );
                    let mut c = Command::new("node");
                    c.arg(servers_dir().join("scimmy/server.js"))
                        .arg(&folder)
                        .args([port.to_string(), TOKEN.to_string(), PAGE.to_string()]);
                    if kind == Kind::ScimmyExpress5Shim {
                        c.env("SCIMMY_QUERY_SHIM", "1");
                    }
                    c
                }
            };
            let began = Instant::now();
            let child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {} ({e})", kind.name()));
            let mut server = Server {
                kind,
                child: Some(child),
                port,
                dir,
                startup: Duration::ZERO,
            };
            if server.wait_ready() {
                server.startup = began.elapsed();
                return server;
            }
            server.stop();
            dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
        }
        panic!("{} did not start on 127.0.0.1 after 3 tries", kind.name());
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                eprintln!(
                    "{} exited early ({status}):\n{}",
                    self.kind.name(),
                    self.log()
                );
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.try_curl(&[], "ServiceProviderConfig").is_some()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.kind.base_path())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Requests logged with this method to this path under the base (`Bulk`, `Users`), and
    /// deeper (`Users/7`) unless the path ends in `$`.
    pub fn logged(&self, method: &str, path: &str) -> usize {
        let (path, exact) = path.strip_suffix('$').map_or((path, false), |p| (p, true));
        let target = format!("\"{method} {}/{path}", self.kind.base_path());
        self.log()
            .lines()
            .filter_map(|l| l.find(&target).map(|at| &l[at + target.len()..]))
            .filter(|rest| !exact || rest.starts_with([' ', '"', '?']))
            .count()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_curl(&self, extra: &[&str], path: &str) -> Option<String> {
        let extra: Vec<&str> = ["--fail"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        crate::support::scim::curl(&self.url(), TOKEN, path, &extra)
    }

    pub fn get(&self, path: &str) -> Value {
        let body = self
            .try_curl(&[], path)
            .unwrap_or_else(|| panic!("{}: GET {path} failed", self.kind.name()));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// Send a JSON body; (status, body).
    pub fn send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-X", method])
            .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
            .args(["-H", "Content-Type: application/scim+json"])
            .args(["--data-binary", &body.to_string(), "-w", "\n%{http_code}"])
            .arg(format!("{}/{path}", self.url()))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').expect("status line");
        (
            status.trim().parse().expect("status"),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    pub fn create_group(&self, name: &str) -> String {
        let (status, body) = self.send(
            "POST",
            "Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": []}),
        );
        assert_eq!(status, 201, "{}: {body}", self.kind.name());
        body["id"].as_str().expect("group id").to_string()
    }

    pub fn create_user(&self, user: &Value) -> String {
        let (status, body) = self.send("POST", "Users", user);
        assert_eq!(status, 201, "{}: {body}", self.kind.name());
        body["id"].as_str().expect("user id").to_string()
    }

    /// Every resource of an endpoint, page by page (only for servers that page correctly).
    pub fn all(&self, endpoint: &str) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        loop {
            let page = self.get(&format!(
                "{endpoint}?startIndex={}&count={PAGE}",
                out.len() + 1
            ));
            let items = page["Resources"].as_array().cloned().unwrap_or_default();
            let total = page["totalResults"].as_u64().unwrap_or(0) as usize;
            if items.is_empty() {
                break;
            }
            out.extend(items);
            if out.len() >= total {
                break;
            }
        }
        out
    }

    pub fn user(&self, username: &str) -> Value {
        self.all("Users")
            .into_iter()
            .find(|u| u["userName"] == username)
            .unwrap_or_else(|| panic!("{}: no user {username}", self.kind.name()))
    }

    /// PATCH one attribute of a user by hand, as an intranet admin would.
    pub fn replace(&self, username: &str, path: &str, value: Value) {
        let id = self.user(username)["id"].as_str().unwrap().to_string();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}]});
        let (status, answer) = self.send("PATCH", &format!("Users/{id}"), &body);
        assert!(
            status == 200 || status == 204,
            "{}: {answer}",
            self.kind.name()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// scim2-server's own `/ServiceProviderConfig` (as it answers by default), with a page of [`PAGE`].
fn scim2_server_config() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576},
        "filter": {"supported": true, "maxResults": PAGE},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "bearer_token",
            "description": "HTTP Bearer Token", "specUri": "https://datatracker.ietf.org/doc/html/rfc6750"}]
    })
}
