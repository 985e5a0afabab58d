//! The delta read of the intranet against a real scim2-server: a warm read after another client's
//! edits gives the same state as a full read while fetching only what changed; deletions, bad
//! caches and `--refresh=full` fall back to a full read; the plan says how it read.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use roster::intranet::scim::cache::{self, CacheFile, CacheSettings, Key, Refresh};
use roster::intranet::scim::{Capabilities, ClientOptions, ScimClient, Token};
use roster::model::IntranetState;
use roster::plan::{IntranetRead, ReadMode};
use serde_json::{json, Value};

use crate::support::scim::{user, ScimServer, TOKEN};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn fields() -> Vec<String> {
    ["email", "first_name", "job_title", "manager"]
        .map(String::from)
        .to_vec()
}

fn person(i: usize) -> Value {
    let mut u = user(&format!("user{i:03}"), Some(&format!("ext-{i}")));
    u["title"] = json!("Seeded");
    u["name"] = json!({"givenName": format!("Given{i}"), "familyName": "Family"});
    u["emails"] = json!([{"type": "work", "value": format!("u{i}@example.org"), "primary": true}]);
    u
}

/// A server with `n` users (user001 managed by user000) and a Sysadmins group.
fn server(n: usize) -> (ScimServer, Vec<String>) {
    let server = ScimServer::start();
    let ids = server.seed_users(&(0..n).map(person).collect::<Vec<_>>());
    patch(
        &server,
        &ids[1],
        json!({"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": ids[0]}}),
    );
    server.create_group("Sysadmins", &[&ids[0]]);
    (server, ids)
}

fn patch(server: &ScimServer, id: &str, op: Value) {
    let body = json!({"schemas": [PATCH_OP], "Operations": [op]});
    let (status, answer) = server.curl_send("PATCH", &format!("Users/{id}"), &body);
    assert_eq!(status, 204, "{answer}");
}

fn client(server: &ScimServer) -> ScimClient {
    client_for(&server.url())
}

fn client_for(url: &str) -> ScimClient {
    let opts = ClientOptions {
        retries: 1,
        backoff: Duration::from_millis(20),
        ..ClientOptions::default()
    };
    ScimClient::new(url, Token::new(TOKEN), &BTreeMap::new(), false, opts).expect("client")
}

fn settings(dir: &Path, refresh: Refresh) -> CacheSettings {
    CacheSettings {
        refresh,
        dir: Some(dir.to_path_buf()),
    }
}

/// The state in a canonical order (the server's order is not part of what was read).
fn sorted(mut s: IntranetState) -> IntranetState {
    s.accounts.sort_by(|a, b| a.id.cmp(&b.id));
    s.groups.sort_by(|a, b| a.id.cmp(&b.id));
    s
}

/// A read through the cache, and a plain full read right after: they must agree.
async fn read_and_compare(
    c: &ScimClient,
    caps: &Capabilities,
    s: &CacheSettings,
) -> (IntranetState, IntranetRead) {
    let (state, read) = cache::read_state(c, caps, &fields(), s)
        .await
        .expect("read through the cache");
    let full = c.read_state(&fields(), caps).await.expect("full read");
    assert_eq!(sorted(state.clone()), sorted(full.clone()), "{read:?}");
    assert_eq!(
        roster::digest::intranet(&state),
        roster::digest::intranet(&full)
    );
    (state, read)
}

/// Requests the server logged whose line holds `needle`.
fn logged(server: &ScimServer, needle: &str) -> usize {
    std::fs::read_to_string(server.log_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[tokio::test]
async fn warm_read_fetches_only_the_changes_and_equals_a_full_read() {
    let (server, ids) = server(40);
    // Let the seed age past the safety margin, then touch one user: the cache's newest
    // lastModified is then this one, and the seed falls before the delta query's start.
    tokio::time::sleep(Duration::from_secs(cache::MARGIN_SECS as u64 + 2)).await;
    server.replace_attribute("user039", "title", "Newest");
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), Refresh::Auto);

    let (cold, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert_eq!(read.note.as_deref(), Some("no cache yet"));
    assert_eq!((read.users_read, read.users), (40, 40));
    let manager = cold
        .accounts
        .iter()
        .find(|a| a.username == "user001")
        .unwrap();
    assert_eq!(manager.fields.get("manager").unwrap(), "user000");

    // Another client: modifies one user, creates two, deactivates one, changes a group.
    server.replace_attribute("user005", "title", "Changed");
    let created = server.seed_users(&[person(100), person(101)]);
    patch(
        &server,
        &ids[7],
        json!({"op": "replace", "path": "active", "value": false}),
    );
    // user002 now reports to user101 (created since the cache): resolved through the merge.
    patch(
        &server,
        &ids[2],
        json!({"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": created[1]}}),
    );
    let sysadmins = server.curl_get("Groups")["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = server.curl_send(
        "PATCH",
        &format!("Groups/{sysadmins}"),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": ids[3]}]}]}),
    );
    assert_eq!(status, 204);

    let filtered_before = logged(&server, "filter=meta.lastModified");
    let (warm, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Delta, "{read:?}");
    // user039 (inside the margin), user005, user100, user101, user007, user002.
    assert_eq!(read.users_read, 6, "{read:?}");
    assert_eq!(read.users, 42);
    assert!(read.cache_age_seconds.is_some());
    assert!(read.since.as_deref().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        logged(&server, "filter=meta.lastModified"),
        filtered_before + 1
    );
    let find = |name: &str| warm.accounts.iter().find(|a| a.username == name).unwrap();
    assert!(!find("user007").active);
    assert_eq!(find("user005").fields.get("job_title").unwrap(), "Changed");
    assert_eq!(find("user002").fields.get("manager").unwrap(), "user101");
    assert_ne!(find("user005").etag, {
        let old = cold.accounts.iter().find(|a| a.username == "user005");
        old.unwrap().etag.clone()
    });
    assert_eq!(warm.groups[0].members.len(), 2);

    // Nothing changed since: a delta again (the margin's users are read again), still right.
    let (_, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!((read.mode, read.users), (ReadMode::Delta, 42));
}

#[tokio::test]
async fn a_deleted_user_is_detected_and_read_in_full() {
    let (server, ids) = server(12);
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), Refresh::Auto);
    let (_, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Full);

    // A deletion the count alone would not see: one created, one deleted.
    server.seed_users(&[person(50)]);
    let (status, _) = server.curl_send("DELETE", &format!("Users/{}", ids[4]), &json!({}));
    assert_eq!(status, 204);
    let (state, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Full, "{read:?}");
    assert!(
        read.note.as_deref().is_some_and(|n| n.contains("deleted")),
        "{read:?}"
    );
    assert!(!state.accounts.iter().any(|a| a.id == ids[4]));
    assert_eq!(state.accounts.len(), 12);

    // The full read rewrote the cache: the next read is a delta again, and still right.
    let (_, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Delta, "{read:?}");
}

#[tokio::test]
async fn bad_or_foreign_caches_and_refresh_full_read_everything() {
    let (server, _) = server(8);
    let other = ScimServer::start();
    other.seed_users(&[person(1), person(2)]);
    let c = client(&server);
    let caps = c.discover().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), Refresh::Auto);
    let key = Key::new(c.base_url().as_str(), &fields());
    let path = key.file(dir.path());

    // A corrupt cache file.
    read_and_compare(&c, &caps, &s).await;
    std::fs::write(&path, "{\"format\": 1, \"users\": [{\"id\": ").unwrap();
    let (_, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert!(read.note.unwrap().contains("not a valid cache"));
    assert!(CacheFile::load(&path, &key).is_ok(), "rewritten");

    // The cache of another server, under this server's name.
    let oc = client(&other);
    let ocaps = oc.discover().await.unwrap();
    cache::read_state(&oc, &ocaps, &fields(), &s).await.unwrap();
    let other_path = Key::new(oc.base_url().as_str(), &fields()).file(dir.path());
    std::fs::copy(&other_path, &path).unwrap();
    let (state, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert!(read.note.unwrap().contains("another server"), "{state:?}");
    assert_eq!(state.accounts.len(), 8);

    // The cache of another field mapping, under this mapping's name.
    let fewer = vec!["email".to_string()];
    cache::read_state(&c, &caps, &fewer, &s).await.unwrap();
    std::fs::copy(
        Key::new(c.base_url().as_str(), &fewer).file(dir.path()),
        &path,
    )
    .unwrap();
    let (_, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert!(read.note.unwrap().contains("other attributes"));

    // A server that does not announce filtering.
    let no_filter = Capabilities {
        filter: false,
        ..caps.clone()
    };
    let (_, read) = read_and_compare(&c, &no_filter, &s).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert!(read.note.unwrap().contains("filter"));

    // A server that announces filtering but refuses this filter (400 invalidFilter): the
    // same cache, read through a proxy that refuses the delta query.
    let refusing =
        crate::support::scim::refusing_proxy(server.port, "filter=meta.lastModified").await;
    let rc = client_for(&refusing);
    let rkey = Key::new(rc.base_url().as_str(), &fields());
    let rdir = tempfile::tempdir().unwrap();
    let rs = settings(rdir.path(), Refresh::Auto);
    let mut cached = CacheFile::load(&path, &key).unwrap();
    cached.key = rkey.clone();
    cached.save(&rkey.file(rdir.path())).unwrap();
    let (state, read) = cache::read_state(&rc, &caps, &fields(), &rs).await.unwrap();
    assert_eq!(read.mode, ReadMode::Full, "{read:?}");
    let note = read.note.unwrap();
    assert!(
        note.contains("refused the delta query") && note.contains("invalidFilter"),
        "{note}"
    );
    let full = c.read_state(&fields(), &caps).await.unwrap();
    assert_eq!(sorted(state), sorted(full));

    // The cache is good now; --refresh=full still reads everything, without a delta query.
    let (_, read) = read_and_compare(&c, &caps, &s).await;
    assert_eq!(read.mode, ReadMode::Delta);
    let filtered = logged(&server, "filter=meta.lastModified");
    let counted = logged(&server, "count=0");
    let full = settings(dir.path(), Refresh::Full);
    let (_, read) = read_and_compare(&c, &caps, &full).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert_eq!(read.note.as_deref(), Some("--refresh=full"));
    assert_eq!(logged(&server, "filter=meta.lastModified"), filtered);
    assert_eq!(logged(&server, "count=0"), counted);

    // No cache at all: the cache is neither read nor written.
    std::fs::remove_file(&path).unwrap();
    let none = CacheSettings {
        refresh: Refresh::Auto,
        dir: None,
    };
    let (_, read) = read_and_compare(&c, &caps, &none).await;
    assert_eq!(read.mode, ReadMode::Full);
    assert_eq!(read.note.as_deref(), Some("cache disabled"));
    assert!(!path.exists());
}

/// `roster` in `dir`, token from a file, no colour, the default data directory.
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("ROSTER_DATA_DIR")
        .env_remove("ROSTER_CONFIG")
        .output()
        .expect("run roster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plan_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--format", "json"];
    args.extend(extra);
    let (code, out, err) = run(dir, &args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("a JSON plan")
}

#[test]
fn the_plan_records_and_shows_how_the_intranet_was_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("intranet.json")).unwrap())
            .unwrap();
    let server = ScimServer::start();
    server.seed_snapshot(
        snapshot["users"]["Resources"].as_array().unwrap(),
        snapshot["groups"]["Resources"].as_array().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join("directory.ldif"),
        dir.path().join("directory.ldif"),
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let quickstart = std::fs::read_to_string(root.join("roster.yaml")).unwrap();
    let live = format!(
        "  scim:\n    url: {}\n    token: {{ file: token }}\n",
        server.url()
    );
    let config = quickstart.replace("  snapshot: intranet.json\n", &live);
    assert_ne!(config, quickstart);
    std::fs::write(dir.path().join("roster.yaml"), &config).unwrap();

    let cold = plan_json(dir.path(), &[]);
    let read = &cold["inputs"]["intranet_read"];
    assert_eq!(read["mode"], "full", "{read}");
    assert_eq!(read["note"], "no cache yet");
    let cache_dir = dir.path().join(".roster");
    let files: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // The cache folder keeps itself out of git.
    let ignore = std::fs::read_to_string(cache_dir.join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let warm = plan_json(dir.path(), &[]);
    let read = &warm["inputs"]["intranet_read"];
    assert_eq!(read["mode"], "delta", "{read}");
    assert!(read["since"].is_string());
    assert_eq!(warm["changes"], cold["changes"]);
    assert_eq!(warm["inputs"]["intranet"], cold["inputs"]["intranet"]);

    let (code, text, err) = run(dir.path(), &["plan"]);
    assert_eq!(code, 0, "{err}");
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("Intranet read: delta since "), "{text}");
    assert!(first.contains("users changed; cache"), "{first}");
    let (_, md, _) = run(dir.path(), &["plan", "--format", "markdown"]);
    assert!(md.contains(" · intranet read: delta since "), "{md}");

    let full = plan_json(dir.path(), &["--refresh=full"]);
    assert_eq!(full["inputs"]["intranet_read"]["mode"], "full");
    assert_eq!(full["inputs"]["intranet_read"]["note"], "--refresh=full");
    let (code, text, _) = run(dir.path(), &["plan", "--refresh", "full"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("Intranet read: full ("), "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("; --refresh=full); concurrency adaptive up to 32 (settled at "),
        "{text}"
    );

    // `cache: false`: every read is full and nothing is written.
    std::fs::remove_dir_all(&cache_dir).unwrap();
    let off = config.replace(
        "    token: { file: token }\n",
        "    token: { file: token }\n    cache: false\n",
    );
    std::fs::write(dir.path().join("roster.yaml"), off).unwrap();
    for _ in 0..2 {
        let plan = plan_json(dir.path(), &[]);
        assert_eq!(plan["inputs"]["intranet_read"]["note"], "cache disabled");
    }
    assert!(!cache_dir.exists());
}
