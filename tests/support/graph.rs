//! A Microsoft Graph-shaped server for the Entra ID tests (`graph_server.py`, next to this file:
//! its answers follow Microsoft's published examples, cited there). Started on 127.0.0.1 on a
//! free port, stopped by PID. The directory is a JSON file the server reads again when it
//! changes, so a test can edit it between two reads.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const SECRET: &str = "qWgdYAmab0YSkuL1qKv5bPX~test-secret";

pub struct GraphServer {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/graph_server.py")
}

impl GraphServer {
    /// Serve `data` (`{ users, groups, faults }`; tenant, client and secret are added).
    pub fn start(data: Value) -> GraphServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Self::spawn(dir, &[]);
        server.set(data);
        server
    }

    /// Serve `n` generated users (the benchmark's directory).
    pub fn generated(n: usize) -> GraphServer {
        Self::spawn(
            tempfile::tempdir().expect("tempdir"),
            &["--generate".into(), n.to_string()],
        )
    }

    fn spawn(dir: tempfile::TempDir, extra: &[String]) -> GraphServer {
        let data = dir.path().join("data.json");
        if !data.exists() {
            std::fs::write(&data, json!({ "users": [], "groups": [] }).to_string()).unwrap();
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            l.local_addr().unwrap().port()
        };
        let mut child = Command::new("python3")
            .arg(script())
            .args(["--port", &port.to_string(), "--data"])
            .arg(&data)
            .arg("--log")
            .arg(dir.path().join("requests.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 tests/support/graph_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the Graph-shaped server did not start"
        );
        GraphServer { child, port, dir }
    }

    /// Replace the directory (and faults) the server serves.
    pub fn set(&self, mut data: Value) {
        data["tenant"] = json!(TENANT);
        data["client_id"] = json!(CLIENT);
        data["client_secret"] = json!(SECRET);
        if data.get("groups").is_none() {
            data["groups"] = json!([]);
        }
        // Write then rename: the server never reads half a file.
        let tmp = self.dir.path().join("data.json.tmp");
        std::fs::write(&tmp, data.to_string()).unwrap();
        // A different modification time even within the same clock tick.
        let old = std::fs::metadata(self.dir.path().join("data.json"))
            .and_then(|m| m.modified())
            .ok();
        std::fs::rename(&tmp, self.dir.path().join("data.json")).unwrap();
        if let Some(old) = old {
            let f = std::fs::File::options()
                .write(true)
                .open(self.dir.path().join("data.json"))
                .unwrap();
            let _ = f.set_modified(old + std::time::Duration::from_secs(1));
        }
    }

    pub fn authority(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn graph_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1.0", self.port)
    }

    /// The requests served so far, one JSON object each (method, path, ConsistencyLevel).
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The `directory:` section of a config reading this server, the secret from the
    /// environment variable `ROSTER_ENTRA_SECRET`.
    pub fn directory_yaml(&self) -> String {
        format!(
            "directory:\n  entra:\n    tenant_id: {TENANT}\n    client_id: {CLIENT}\n    client_secret: {{ env: ROSTER_ENTRA_SECRET }}\n    authority: {}\n    graph_url: {}\n",
            self.authority(),
            self.graph_url()
        )
    }
}

impl Drop for GraphServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Graph user as `GET /users` lists it.
pub fn user(id: &str, upn: &str, enabled: bool) -> Value {
    json!({
        "id": id,
        "userPrincipalName": upn,
        "accountEnabled": enabled,
        "mail": upn,
        "givenName": upn.split('@').next().unwrap(),
        "department": "Engineering",
        "onPremisesImmutableId": null,
    })
}
