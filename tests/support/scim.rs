//! A private `scim2-server` (PyPI `scim2-server`) per test: free port, bearer token, seeded
//! through its API with curl (a client we did not write), stopped by PID on drop.
//!
//! What we learned of scim2-server 0.8 by probing it with curl (and what the tests rely on):
//! - Resources live in memory only; each server starts empty. It speaks HTTP/1.0 (one request
//!   per connection), from a threading WSGI server under Python's GIL.
//! - Endpoints answer both at `/` and `/v2/`; `Location` headers use `/v2/`.
//! - `/ServiceProviderConfig`: patch, bulk (maxOperations 1000, maxPayloadSize 1 MiB), filter
//!   (maxResults 1000), changePassword, sort and etag all `supported: true`; auth scheme
//!   `oauthbearertoken`. Pages are capped at 1000: `count=5000` answers `itemsPerPage: 1000`,
//!   and a search without `count` is capped the same way. `startIndex` past the end answers an
//!   empty page with the right `totalResults`.
//! - `/ResourceTypes` lists User with the enterprise extension (required: false) and Group;
//!   `/Schemas` has core User, core Group and the enterprise User. With `--schema` and
//!   `--resource-type` files leaving the enterprise extension out, a POST carrying it is refused
//!   with 400 `invalidSyntax` ("Extra inputs are not permitted").
//! - ETags are weak, `W/"n"`, from one counter across all resources (a version never repeats);
//!   `meta.version` matches the `ETag` header. A write with a wrong `If-Match` answers 412.
//! - PATCH answers `204 No Content` with an empty body and the new `ETag` header.
//!   `replace` on `emails[type eq "work"].value` when the user has no such email is 400
//!   `noTarget`: adding a typed value must be an `add` of a new element.
//!   An unknown path is 400 `invalidPath`; a duplicate userName (POST or rename) is 409
//!   `uniqueness`.
//! - Groups have no referential integrity: members may name ids that do not exist. Adding an
//!   existing member and removing an absent one (`members[value eq "x"]`) both answer 204.
//! - A missing or wrong bearer token is 401 with `WWW-Authenticate: Bearer realm="SCIM"`.
//! - `attributes=` works with sub-attributes (`meta.version`, `members.value`) and extension
//!   URNs (`urn:...:enterprise:2.0:User:department`).
//! - `/Bulk` POST creates up to 1000 users per request, which makes seeding fast.
//! - No `/Me`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TOKEN: &str = "roster-test-token-5f2c";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub struct ScimServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl ScimServer {
    /// Start a server with the default schemas (enterprise extension included).
    pub fn start() -> ScimServer {
        Self::start_with(&[])
    }

    /// Start a server without the enterprise extension.
    pub fn start_without_enterprise() -> ScimServer {
        let dir = tempfile::tempdir().expect("tempdir");
        // Fetch the default schemas and resource types from a throwaway server, minus enterprise.
        let probe = Self::start();
        let schemas: Vec<Value> = probe.curl_get("Schemas")["Resources"]
            .as_array()
            .expect("schemas")
            .iter()
            .filter(|s| s["id"] != ENTERPRISE)
            .cloned()
            .collect();
        let mut types: Vec<Value> = probe.curl_get("ResourceTypes")["Resources"]
            .as_array()
            .expect("types")
            .clone();
        for t in &mut types {
            t.as_object_mut()
                .expect("object")
                .remove("schemaExtensions");
        }
        drop(probe);
        let s = dir.path().join("schemas.json");
        let t = dir.path().join("types.json");
        std::fs::write(&s, serde_json::to_string(&schemas).unwrap()).unwrap();
        std::fs::write(&t, serde_json::to_string(&types).unwrap()).unwrap();
        let args = [
            "--schema".to_string(),
            s.display().to_string(),
            "--resource-type".into(),
            t.display().to_string(),
        ];
        let mut server = Self::start_with(&args);
        server.dir = dir;
        server
    }

    fn start_with(extra: &[String]) -> ScimServer {
        let mut dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
            let child = Command::new("scim2-server")
                .args([
                    "--hostname",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--bearer-token",
                    TOKEN,
                ])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start `scim2-server` ({e}). The SCIM tests need it: \
                         `pip install scim2-server scim2-cli` (scripts/test installs it)"
                    )
                });
            let mut server = ScimServer {
                child: Some(child),
                port,
                dir,
            };
            if server.wait_ready() {
                return server;
            }
            server.kill();
            dir = server.take_dir();
        }
        panic!(
            "scim2-server did not start on 127.0.0.1 after 3 tries; see its log in {}",
            dir.path().display()
        );
    }

    fn take_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.dir.path().join("server.log"))
                        .unwrap_or_default();
                    eprintln!("scim2-server exited early ({status}):\n{log}");
                    return false;
                }
            }
            if self
                .try_curl(
                    &["-o", "/dev/null", "-w", "%{http_code}"],
                    "ServiceProviderConfig",
                )
                .is_some_and(|s| s == "200")
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// Stop the server now (SIGKILL by PID), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn try_curl(&self, extra: &[&str], path: &str) -> Option<String> {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "-H",
                &format!("Authorization: Bearer {TOKEN}"),
            ])
            .args(extra)
            .arg(format!("{}/{path}", self.url()))
            .output()
            .expect("curl is needed by the SCIM tests");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// GET with curl; the body as JSON. Panics (failing the test) on any error.
    pub fn curl_get(&self, path: &str) -> Value {
        let body = self
            .try_curl(&[], path)
            .unwrap_or_else(|| panic!("curl GET {path} failed"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// Send a JSON body with curl; returns (status, body).
    pub fn curl_send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let file = self.dir.path().join("body.json");
        std::fs::write(&file, body.to_string()).unwrap();
        let out = self
            .try_curl(
                &[
                    "-X",
                    method,
                    "-H",
                    "Content-Type: application/scim+json",
                    "--data-binary",
                    &format!("@{}", file.display()),
                    "-w",
                    "\n%{http_code}",
                ],
                path,
            )
            .unwrap_or_else(|| panic!("curl {method} {path} failed"));
        let (body, status) = out.rsplit_once('\n').expect("status line");
        (
            status.trim().parse().expect("status"),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    /// Create users through `/Bulk`, 500 per request; returns their ids in order.
    pub fn seed_users(&self, users: &[Value]) -> Vec<String> {
        let mut ids = Vec::with_capacity(users.len());
        for chunk in users.chunks(500) {
            let ops: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, u)| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": u}))
                .collect();
            let req = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
            let (status, body) = self.curl_send("POST", "Bulk", &req);
            assert_eq!(status, 200, "bulk seed failed: {body}");
            for op in body["Operations"].as_array().expect("bulk operations") {
                assert_eq!(op["status"], "201", "bulk op failed: {op}");
                let loc = op["location"].as_str().expect("location");
                ids.push(loc.rsplit('/').next().unwrap().to_string());
            }
        }
        ids
    }

    pub fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (status, body) = self.curl_send(
            "POST",
            "Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members}),
        );
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("group id").to_string()
    }

    /// Every user, read with curl over pages of 1000.
    pub fn all_users(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let page = self.curl_get(&format!("Users?startIndex={}&count=1000", out.len() + 1));
            let items = page["Resources"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            out.extend(items);
        }
        out
    }

    pub fn user_by_name(&self, name: &str) -> Option<Value> {
        let q = format!("Users?filter=userName%20eq%20%22{name}%22");
        self.curl_get(&q)["Resources"]
            .as_array()
            .and_then(|r| r.first().cloned())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain SCIM User body.
pub fn user(name: &str, external_id: Option<&str>) -> Value {
    let mut u = json!({"schemas": [USER_SCHEMA], "userName": name, "active": true});
    if let Some(e) = external_id {
        u["externalId"] = json!(e);
    }
    u
}
