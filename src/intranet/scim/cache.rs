//! The delta read of the intranet: a verified cache of the Users a read returned, so that the
//! next read asks the server only for what changed (as kubectl informers and LDAP syncrepl do).
//!
//! After a full read, the parsed Users (id, userName, externalId, active, mapped fields, ETag,
//! `meta.lastModified`) are written to a cache file keyed by the server's base URL, the exact
//! attributes and fields read, and the cache format and Roster version. The next read:
//!
//! 1. asks how many Users the server holds now (`count=0`: `totalResults` only);
//! 2. then asks for the Users with `meta.lastModified ge` the newest `lastModified` in the cache
//!    minus [`MARGIN_SECS`] (the server's own timestamps, never the local clock);
//! 3. merges those into the cache by id, and accepts the result only when the cached Users plus
//!    the newly created ones make exactly the server's total. Fewer means some were deleted.
//!
//! The total is asked first on purpose: a User created between the two queries is in the changes
//! but not in the total, which can only make the check fail (a full read, safe), and a User
//! deleted between them is one a full read at the time of the count would have seen too. Asked
//! last, a deletion before the delta query plus a creation after it would cancel out unseen.
//!
//! Any doubt (no cache, an unreadable one, another server or attribute set or Roster version, a
//! server without filter support or refusing the filter, a User without `meta.lastModified`, a
//! count that does not add up) is a full read, never an error. Groups are always read in full.
//!
//! It is the SCIM target's read ([`super::target::ScimTarget`]), built on the client (`list`,
//! `discovery`), which knows nothing of it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    group_attributes, parse_time, user_attributes, Capabilities, Endpoint, ScimClient, ScimError,
};
use crate::config::Loaded;
use crate::intranet::fields::Field;
use crate::intranet::snapshot::{account, group, parse_fields, resolve_managers};
use crate::model::{Account, IntranetState};
use crate::plan::{IntranetRead, ReadMode};

/// Version of the cache file format. Bumped whenever what is cached or how changes.
pub const CACHE_FORMAT: u32 = 1;

/// How far before the newest cached `meta.lastModified` the delta query starts: a write the
/// server stamped just before that moment but committed after the read still falls inside.
pub const MARGIN_SECS: i64 = 5;

/// The environment variable that moves the data directory (default: `.roster/` next to the
/// config), as `TF_DATA_DIR` moves `.terraform/`.
pub const DATA_DIR_ENV: &str = "ROSTER_DATA_DIR";

/// `--refresh`: how a live read may use the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Refresh {
    /// Read only what changed since the cache, when the cache can be verified; else everything.
    #[default]
    Auto,
    /// Read everything, ignoring the cache (which is then rewritten).
    Full,
}

/// Where the cache lives and how it may be used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSettings {
    pub refresh: Refresh,
    /// The data directory; `None`: no cache at all (neither read nor written).
    pub dir: Option<PathBuf>,
}

impl CacheSettings {
    /// From the config (`intranet.scim.cache`) and the environment ([`DATA_DIR_ENV`]).
    pub fn for_config(cfg: &Loaded, refresh: Refresh) -> CacheSettings {
        let enabled = cfg.config.intranet.scim.as_ref().is_some_and(|s| s.cache);
        let dir = enabled.then(|| match std::env::var_os(DATA_DIR_ENV) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => cfg.dir.join(".roster"),
        });
        CacheSettings { refresh, dir }
    }
}

/// What makes a cache valid for a read: the same server, attributes and fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub url: String,
    pub attributes: Vec<String>,
    pub fields: Vec<String>,
}

impl Key {
    pub fn new(url: &str, fields: &[String]) -> Key {
        let mut fields = fields.to_vec();
        fields.sort();
        fields.dedup();
        Key {
            url: url.to_string(),
            attributes: user_attributes(&fields),
            fields,
        }
    }

    /// The cache file for this key in `dir`: one file per key, so configs sharing a directory
    /// (or `plan --base`) do not overwrite each other's cache.
    pub fn file(&self, dir: &Path) -> PathBuf {
        crate::store::keyed_file(dir, "intranet-users", self)
    }
}

/// One User as cached: what the model needs, plus `meta.lastModified`. `fields` holds what was
/// read (`manager` as the manager's SCIM id, resolved to a username after every read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedUser {
    pub id: String,
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub active: bool,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub last_modified: String,
}

impl CachedUser {
    fn new(a: &Account, last_modified: String) -> CachedUser {
        CachedUser {
            id: a.id.clone(),
            user_name: a.username.clone(),
            external_id: a.external_id.clone(),
            active: a.active,
            fields: a
                .fields
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            etag: a.etag.clone(),
            last_modified,
        }
    }

    /// A SCIM User resource as cached; `None` without id, userName or a valid lastModified.
    fn from_resource(u: &Value, fields: &[(String, Field)]) -> Option<CachedUser> {
        Some(CachedUser::new(&account(u, fields)?, last_modified(u)?))
    }

    fn account(&self) -> Account {
        Account {
            id: self.id.clone(),
            username: self.user_name.clone(),
            external_id: self.external_id.clone(),
            active: self.active,
            fields: self
                .fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect(),
            etag: self.etag.clone(),
        }
    }
}

/// `meta.lastModified`, when it is a timestamp this module can compare.
fn last_modified(u: &Value) -> Option<String> {
    let s = u.pointer("/meta/lastModified")?.as_str()?;
    parse_time(s).map(|_| s.to_string())
}

/// The cache file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    pub format: u32,
    /// The Roster version that wrote it: another version reads everything once.
    pub roster: String,
    pub key: Key,
    /// When it was written (seconds since the epoch, this machine's clock): shown as the cache's
    /// age, never used to choose what to read.
    pub written_at: u64,
    pub users: Vec<CachedUser>,
}

fn now_secs() -> u64 {
    u64::try_from(Timestamp::now().as_second()).unwrap_or(0)
}

impl CacheFile {
    fn new(key: Key, users: Vec<CachedUser>) -> CacheFile {
        CacheFile {
            format: CACHE_FORMAT,
            roster: env!("CARGO_PKG_VERSION").to_string(),
            key,
            written_at: now_secs(),
            users,
        }
    }

    /// Read and check the cache for `key`. `Err` says why it cannot be used.
    pub fn load(path: &Path, key: &Key) -> Result<CacheFile, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no cache yet".into()),
            Err(e) => return Err(format!("the cache could not be read: {e}")),
        };
        let file: CacheFile = serde_json::from_str(&text)
            .map_err(|e| format!("the cache is not a valid cache file: {e}"))?;
        if file.format != CACHE_FORMAT || file.roster != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "the cache was written by another Roster ({}, cache format {})",
                file.roster, file.format
            ));
        }
        if file.key.url != key.url {
            return Err(format!(
                "the cache is for another server ({})",
                file.key.url
            ));
        }
        if file.key != *key {
            return Err("the cache holds other attributes or fields".into());
        }
        Ok(file)
    }

    /// Write the cache readable by its owner only (it holds profile data): to a temporary file,
    /// then renamed over the old one, so a reader never sees half a file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::store::write_private(path, self)
    }

    /// The `meta.lastModified` the delta query starts from: the newest cached one minus
    /// [`MARGIN_SECS`], whole seconds, UTC.
    pub fn since(&self) -> Result<String, String> {
        let mut newest: Option<Timestamp> = None;
        for u in &self.users {
            let t = parse_time(&u.last_modified)
                .ok_or_else(|| format!("the cache holds a bad timestamp `{}`", u.last_modified))?;
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
        let newest = newest.ok_or("the cache holds no users")?;
        let since = newest
            .checked_sub(SignedDuration::from_secs(MARGIN_SECS))
            .map_err(|_| format!("the cache's newest timestamp `{newest}` is out of range"))?;
        Ok(format_time(since))
    }

    fn age(&self) -> u64 {
        now_secs().saturating_sub(self.written_at)
    }
}

/// What a delta read found, merged into the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub users: Vec<CachedUser>,
    /// Changed Users that were not in the cache.
    pub created: usize,
}

/// Merge the `changed` Users into the `cached` ones by id (in place; new ones at the end), and
/// check that the result accounts for the server's `total`. `Err` says why it does not.
pub fn merge(
    cached: Vec<CachedUser>,
    changed: Vec<CachedUser>,
    total: usize,
) -> Result<Merged, String> {
    let mut users = cached;
    let mut at: HashMap<String, usize> = HashMap::with_capacity(users.len());
    for (i, u) in users.iter().enumerate() {
        if at.insert(u.id.clone(), i).is_some() {
            return Err(format!("the cache holds user id {} twice", u.id));
        }
    }
    let before = users.len();
    for u in changed {
        match at.get(&u.id) {
            Some(&i) => users[i] = u,
            None => {
                at.insert(u.id.clone(), users.len());
                users.push(u);
            }
        }
    }
    let created = users.len() - before;
    if users.len() != total {
        return Err(format!(
            "the server holds {total} users but the cache and the changes make {} ({} cached, {created} new): some were deleted",
            users.len(),
            before
        ));
    }
    Ok(Merged { users, created })
}

/// Read the intranet, Users through the cache as `settings` allow and Groups in full, and say
/// how the Users were read.
pub async fn read_state(
    client: &ScimClient,
    caps: &Capabilities,
    fields: &[String],
    settings: &CacheSettings,
) -> Result<(IntranetState, IntranetRead), ScimError> {
    let group_attrs = group_attributes();
    let (groups, (accounts, mut read)) = tokio::try_join!(
        client.list_all(Endpoint::Groups, &group_attrs, caps.max_results),
        read_users(client, caps, fields, settings),
    )?;
    read.concurrency = Some(client.reads_concurrency());
    let mut state = IntranetState {
        accounts,
        groups: groups.iter().filter_map(group).collect(),
    };
    resolve_managers(&mut state);
    Ok((state, read))
}

async fn read_users(
    client: &ScimClient,
    caps: &Capabilities,
    fields: &[String],
    settings: &CacheSettings,
) -> Result<(Vec<Account>, IntranetRead), ScimError> {
    let key = Key::new(client.base_url().as_str(), fields);
    let parsed = parse_fields(&key.fields);
    let Some(dir) = &settings.dir else {
        return full(
            client,
            caps,
            &key,
            &parsed,
            None,
            Some("cache disabled".into()),
        )
        .await;
    };
    let path = key.file(dir);
    let why = match settings.refresh {
        Refresh::Full => "--refresh=full".to_string(),
        Refresh::Auto => match CacheFile::load(&path, &key) {
            Err(why) => why,
            Ok(cache) => match delta(client, caps, &key, &parsed, cache).await {
                Ok((cache, read)) => {
                    save(&cache, &path);
                    let accounts = cache.users.iter().map(CachedUser::account).collect();
                    return Ok((accounts, read));
                }
                Err(why) => why,
            },
        },
    };
    full(client, caps, &key, &parsed, Some(&path), Some(why)).await
}

/// Read every User; write the cache when every User can be cached, else remove it.
async fn full(
    client: &ScimClient,
    caps: &Capabilities,
    key: &Key,
    parsed: &[(String, Field)],
    path: Option<&Path>,
    note: Option<String>,
) -> Result<(Vec<Account>, IntranetRead), ScimError> {
    let raw = client
        .list_all(Endpoint::Users, &key.attributes, caps.max_results)
        .await?;
    let mut accounts = Vec::with_capacity(raw.len());
    let mut cached = Some(Vec::with_capacity(raw.len()));
    for u in &raw {
        let Some(a) = account(u, parsed) else {
            cached = None;
            continue;
        };
        match (cached.as_mut(), last_modified(u)) {
            (Some(c), Some(t)) => c.push(CachedUser::new(&a, t)),
            _ => cached = None,
        }
        accounts.push(a);
    }
    let users_read = raw.len();
    drop(raw);
    let mut note = note;
    if let Some(path) = path {
        match cached {
            Some(users) => save(&CacheFile::new(key.clone(), users), path),
            None => {
                let _ = std::fs::remove_file(path);
                note = Some(
                    "not cached: some users lack an id, a userName or meta.lastModified".into(),
                );
            }
        }
    }
    let read = IntranetRead {
        mode: ReadMode::Full,
        since: None,
        users_read,
        users: accounts.len(),
        cache_age_seconds: None,
        note,
        writes: None,
        notes: Vec::new(),
        concurrency: None,
    };
    Ok((accounts, read))
}

/// The delta read. `Err` says why it cannot be trusted (then the caller reads everything).
async fn delta(
    client: &ScimClient,
    caps: &Capabilities,
    key: &Key,
    parsed: &[(String, Field)],
    cache: CacheFile,
) -> Result<(CacheFile, IntranetRead), String> {
    if !caps.filter {
        return Err("the server does not announce filter support".into());
    }
    let since = cache.since()?;
    let age = cache.age();
    // The total first: see the module documentation.
    let total = client
        .total(Endpoint::Users)
        .await
        .map_err(|e| format!("counting the users failed: {e}"))?;
    let filter = format!("meta.lastModified ge \"{since}\"");
    let raw = client
        .list_where(
            Endpoint::Users,
            &key.attributes,
            caps.max_results,
            Some(&filter),
        )
        .await
        .map_err(|e| format!("the server refused the delta query: {e}"))?;
    let changed: Vec<CachedUser> = raw
        .iter()
        .map(|u| CachedUser::from_resource(u, parsed))
        .collect::<Option<_>>()
        .ok_or("a changed user lacks an id, a userName or meta.lastModified")?;
    let users_read = changed.len();
    let merged = merge(cache.users, changed, total)?;
    let read = IntranetRead {
        mode: ReadMode::Delta,
        since: Some(since),
        users_read,
        users: merged.users.len(),
        cache_age_seconds: Some(age),
        note: None,
        writes: None,
        notes: Vec::new(),
        concurrency: None,
    };
    Ok((CacheFile::new(key.clone(), merged.users), read))
}

/// Write the cache; a failure costs the next run a full read, so it is a warning only.
fn save(cache: &CacheFile, path: &Path) {
    if let Err(e) = cache.save(path) {
        let _ = std::fs::remove_file(path);
        crate::say!(
            "Warning: could not write the intranet cache {}: {} (the next plan reads everything)",
            crate::text::shown(&path.display().to_string()),
            crate::text::escape(&e.to_string())
        );
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`: whole seconds (the fraction dropped), UTC.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(id: &str, title: &str, t: &str) -> CachedUser {
        CachedUser {
            id: id.into(),
            user_name: format!("user-{id}"),
            external_id: None,
            active: true,
            fields: [("job_title".to_string(), title.to_string())].into(),
            etag: Some(format!("W/\"{id}{title}\"")),
            last_modified: t.into(),
        }
    }

    const T0: &str = "2024-05-01T12:00:00Z";
    const T1: &str = "2024-05-01T12:30:00.5Z";

    #[test]
    fn changed_users_replace_in_place_and_new_ones_append() {
        let cached = vec![u("a", "x", T0), u("b", "x", T0), u("c", "x", T0)];
        let changed = vec![u("b", "y", T1), u("d", "new", T1)];
        let m = merge(cached, changed, 4).unwrap();
        assert_eq!(m.created, 1);
        let ids: Vec<_> = m.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(m.users[1], u("b", "y", T1));
        assert_eq!(m.users[0], u("a", "x", T0));
    }

    #[test]
    fn a_deletion_is_detected_even_when_a_creation_hides_it_in_the_count() {
        // b deleted, d created: the server still holds 3.
        let cached = vec![u("a", "x", T0), u("b", "x", T0), u("c", "x", T0)];
        let err = merge(cached.clone(), vec![u("d", "x", T1)], 3).unwrap_err();
        assert!(err.contains("deleted"), "{err}");
        // Only a deletion.
        assert!(merge(cached.clone(), vec![], 2).is_err());
        // Nothing changed at all.
        assert_eq!(merge(cached.clone(), vec![], 3).unwrap().users, cached);
        // A changed user read twice (a page shift) counts once.
        let m = merge(cached, vec![u("a", "y", T1), u("a", "z", T1)], 3).unwrap();
        assert_eq!(m.users[0].fields["job_title"], "z");
        assert_eq!(m.created, 0);
    }

    #[test]
    fn a_cache_holding_an_id_twice_is_refused() {
        let cached = vec![u("a", "x", T0), u("a", "y", T0)];
        assert!(merge(cached, vec![], 2).is_err());
    }

    #[test]
    fn timestamps_parse_and_since_keeps_a_margin() {
        let parse_time = |s: &str| parse_time(s).map(|t| t.as_nanosecond());
        let format_time = |secs: i64| format_time(Timestamp::from_second(secs).unwrap());
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:01.25Z"), Some(1_250_000_000));
        assert_eq!(
            parse_time("1970-01-01T02:00:00+02:00"),
            parse_time("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_time("2026-11-26T03:40:32.066937Z"),
            Some(1_795_664_432_066_937_000)
        );
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T00:00:00",
            "x024-05-01T00:00:00Z",
            "2024-05-01T00:00:00.Z",
            "2024-05-01T00:00:00.1234567890",
            "2024-02-30T00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_795_664_432), "2026-11-26T03:40:32Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        let file = CacheFile::new(
            Key::new("http://x/", &[]),
            vec![u("a", "x", T0), u("b", "x", T1), u("c", "x", T0)],
        );
        assert_eq!(file.since().unwrap(), "2024-05-01T12:29:55Z");
        let empty = CacheFile::new(Key::new("http://x/", &[]), vec![]);
        assert!(empty.since().is_err());
    }

    #[test]
    fn every_rfc3339_form_a_scim_server_sends_parses_and_offsets_are_honoured() {
        let at = |s: &str| parse_time(s).map(|t| t.as_nanosecond());
        let noon = Some(1_714_564_800_000_000_000); // 2024-05-01T12:00:00Z
        for same in [
            "2024-05-01T12:00:00Z",
            "2024-05-01t12:00:00z",
            "2024-05-01 12:00:00Z",
            "2024-05-01T12:00:00.000Z",
            "2024-05-01T12:00:00.000000000Z",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T07:30:00-04:30",
            "2024-05-01T12:00:00+00:00",
            "2024-05-01T12:00:00-00:00",
            "2024-05-02T01:00:00+13:00",
            "2024-04-30T23:00:00-13:00",
        ] {
            assert_eq!(at(same), noon, "{same}");
        }
        // Fractions of any length, with an offset too; past nanoseconds the digits are dropped.
        let half = Some(1_714_564_800_500_000_000);
        for same in [
            "2024-05-01T12:00:00.5Z",
            "2024-05-01T14:00:00.5+02:00",
            "2024-05-01T12:00:00.5000000Z",
            "2024-05-01T12:00:00.500000000999Z",
            "2024-05-01T09:00:00.500000000999-03:00",
        ] {
            assert_eq!(at(same), half, "{same}");
        }
        assert_eq!(
            at("2024-05-01T12:00:00.123456789Z"),
            Some(1_714_564_800_123_456_789)
        );
        assert_eq!(
            at("2024-05-01T12:00:00.1234567Z"),
            Some(1_714_564_800_123_456_700)
        );
        // The newest of mixed forms is by instant, not by text, and `since` is UTC.
        let file = CacheFile::new(
            Key::new("http://x/", &[]),
            vec![
                u("a", "x", "2024-05-01T13:00:00Z"),
                u("b", "x", "2024-05-01T15:30:00.9+02:00"),
                u("c", "x", "2024-05-01T08:00:00-04:00"),
            ],
        );
        assert_eq!(file.since().unwrap(), "2024-05-01T13:29:55Z");
    }

    #[test]
    fn load_refuses_other_keys_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new("http://a/", &["email".into()]);
        let data = dir.path().join(".roster");
        let path = key.file(&data);
        assert_eq!(CacheFile::load(&path, &key).unwrap_err(), "no cache yet");
        CacheFile::new(key.clone(), vec![u("a", "x", T0)])
            .save(&path)
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode();
            assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");
        }
        assert_eq!(CacheFile::load(&path, &key).unwrap().users.len(), 1);
        let other_url = Key::new("http://b/", &["email".into()]);
        assert!(CacheFile::load(&path, &other_url)
            .unwrap_err()
            .contains("another server"));
        let other_fields = Key::new("http://a/", &["email".into(), "surname".into()]);
        assert!(CacheFile::load(&path, &other_fields).is_err());
        assert_ne!(key.file(dir.path()), other_fields.file(dir.path()));
        std::fs::write(&path, "{\"format\": 1, \"users\": [").unwrap();
        assert!(CacheFile::load(&path, &key)
            .unwrap_err()
            .contains("not a valid cache"));
    }

    #[test]
    fn cached_users_round_trip_to_the_same_account() {
        let parsed = parse_fields(&["email".into(), "manager".into()]);
        let r = serde_json::json!({
            "id": "1", "userName": "ann", "externalId": "e1", "active": false,
            "emails": [{"type": "work", "value": "ann@example.org"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "2"}},
            "meta": {"version": "W/\"3\"", "lastModified": T1}
        });
        let c = CachedUser::from_resource(&r, &parsed).unwrap();
        assert_eq!(c.account(), account(&r, &parsed).unwrap());
        let mut no_time = r.clone();
        no_time["meta"]["lastModified"] = Value::Null;
        assert!(CachedUser::from_resource(&no_time, &parsed).is_none());
    }
}
