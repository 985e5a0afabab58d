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
    dump: Option<PathBuf>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl ScimServer {
    /// Start a server with the default schemas (enterprise extension included).
    pub fn start() -> ScimServer {
        Self::start_with(&[], tempfile::tempdir().expect("tempdir"))
    }

    /// Start a server that writes its resources to `dump.json` when interrupted (SIGINT).
    pub fn start_dumping() -> ScimServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let dump = dir.path().join("dump.json");
        let mut server = Self::start_with(
            &["--dump-resources".to_string(), dump.display().to_string()],
            dir,
        );
        server.dump = Some(dump);
        server
    }

    /// Interrupt the server (SIGINT by PID): it stops serving at once, writes its dump, exits.
    /// Returns the dumped resources.
    pub fn interrupt(&mut self) -> Vec<Value> {
        let mut child = self.child.take().expect("server running");
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let _ = child.wait();
        let dump = self.dump.as_ref().expect("started with start_dumping");
        let text = std::fs::read_to_string(dump).expect("dump written");
        serde_json::from_str(&text).expect("dump is JSON")
    }

    /// Number of requests with this method the server has logged so far.
    pub fn logged(&self, method: &str) -> usize {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("\"{method} ")))
            .count()
    }

    /// Number of requests with this method to this path (`Bulk`, `Users/...`) logged so far.
    pub fn logged_at(&self, method: &str, path: &str) -> usize {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("\"{method} /v2/{path}")))
            .count()
    }

    /// Writes (POST, PATCH, PUT, DELETE) logged, once the log has been still for 300 ms (the
    /// server logs a request after answering it).
    pub fn settled_writes(&self) -> usize {
        let count = || {
            ["POST", "PATCH", "PUT", "DELETE"]
                .iter()
                .map(|m| self.logged(m))
                .sum::<usize>()
        };
        let mut last = count();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = count();
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// Start a server whose `/ServiceProviderConfig` announces `bulk` (e.g. `{"supported": true,
    /// "maxOperations": 4, "maxPayloadSize": 1048576}`), everything else as by default.
    pub fn start_with_bulk(bulk: Value) -> ScimServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let probe = Self::start();
        let mut spc = probe.curl_get("ServiceProviderConfig");
        drop(probe);
        spc["bulk"] = bulk;
        spc.as_object_mut().expect("object").remove("meta");
        let file = dir.path().join("spc.json");
        std::fs::write(&file, spc.to_string()).unwrap();
        Self::start_with(
            &[
                "--service-provider-config".to_string(),
                file.display().to_string(),
            ],
            dir,
        )
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
        Self::start_with(&args, dir)
    }

    fn start_with(extra: &[String], mut dir: tempfile::TempDir) -> ScimServer {
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
                dump: None,
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
        curl(&self.url(), TOKEN, path, extra)
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

    /// Load an intranet snapshot file's form (`{users, groups}` ListResponses, or a dump's list
    /// of resources) into the server. Ids are the server's own: group members are mapped to
    /// them. Returns old id → new id.
    pub fn seed_snapshot(
        &self,
        users: &[Value],
        groups: &[Value],
    ) -> std::collections::HashMap<String, String> {
        let strip = |r: &Value| {
            let mut r = r.clone();
            let o = r.as_object_mut().expect("resource object");
            o.remove("id");
            o.remove("meta");
            r
        };
        let bodies: Vec<Value> = users.iter().map(strip).collect();
        let new_ids = self.seed_users(&bodies);
        let map: std::collections::HashMap<String, String> = users
            .iter()
            .zip(new_ids)
            .map(|(u, n)| (u["id"].as_str().unwrap_or_default().to_string(), n))
            .collect();
        for g in groups {
            let members: Vec<&str> = g["members"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .filter_map(|m| m["value"].as_str())
                        .map(|v| map.get(v).map_or(v, String::as_str))
                        .collect()
                })
                .unwrap_or_default();
            self.create_group(g["displayName"].as_str().expect("displayName"), &members);
        }
        map
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

    /// PATCH one attribute of a user by hand, as an intranet admin would (with curl).
    pub fn replace_attribute(&self, username: &str, path: &str, value: &str) {
        let user = self.user_by_name(username).expect("user exists");
        let ops = json!([{"op": "replace", "path": path, "value": value}]);
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let (status, answer) = self.curl_send(
            "PATCH",
            &format!("Users/{}", user["id"].as_str().unwrap()),
            &body,
        );
        assert_eq!(status, 204, "{answer}");
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

/// A loopback fault injector in front of a real server: the first `failures` requests get
/// `status` with `Retry-After: <retry_after>`; the rest are forwarded byte for byte (HTTP/1.0:
/// one request per connection). Returns its base URL; it stops with the test's runtime.
pub async fn flaky_proxy(
    target_port: u16,
    failures: usize,
    status: u16,
    retry_after: u64,
) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = AtomicUsize::new(0);
    fault_proxy(target_port, move |_| {
        (seen.fetch_add(1, Ordering::SeqCst) < failures).then(|| {
            format!(
                "HTTP/1.0 {status} Busy\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        })
    })
    .await
}

/// A loopback proxy in front of a real server that answers `400 invalidFilter` itself to every
/// request whose head contains `needle`, and forwards the others byte for byte.
pub async fn refusing_proxy(target_port: u16, needle: &'static str) -> String {
    fault_proxy(target_port, move |head| {
        String::from_utf8_lossy(head).contains(needle).then(|| {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "invalidFilter", "detail": "filter not supported here"}).to_string();
            format!(
                "HTTP/1.0 400 Bad Request\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        })
    })
    .await
}

/// A loopback proxy: for each connection (one request each: HTTP/1.0), `answer` sees the first
/// chunk of the request and either gives the whole answer to send instead of the server's, or
/// `None` to forward the request to the server byte for byte. Returns its base URL; it stops
/// with the test's runtime.
async fn fault_proxy(
    target_port: u16,
    answer: impl Fn(&[u8]) -> Option<String> + Send + Sync + 'static,
) -> String {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let Ok(n) = inbound.read(&mut buf).await else {
                    return;
                };
                if let Some(reply) = answer(&buf[..n]) {
                    let _ = inbound.write_all(reply.as_bytes()).await;
                    return;
                }
                if let Ok(mut outbound) =
                    tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                {
                    if outbound.write_all(&buf[..n]).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/v2")
}

/// `curl` a path under a SCIM base URL with a bearer token (30 s at most): the body when curl
/// succeeds (an HTTP error status too, unless `extra` holds `--fail`).
pub fn curl(base: &str, token: &str, path: &str, extra: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .args(extra)
        .arg(format!("{base}/{path}"))
        .output()
        .expect("curl is needed by the SCIM tests");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
