//! Content digests for plan inputs: `sha256:<hex>`.

use sha2::{Digest, Sha256};

/// The first `n` hex digits of a digest (without `sha256:`) or of a commit id, for people.
pub fn short(digest: &str, n: usize) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..n).unwrap_or(hex)
}

pub fn bytes(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    hex(h)
}

use crate::model::{DirectoryState, IntranetState};

/// Digest of a directory as read, independent of the order the server returned entries in:
/// the LDIF snapshot and the live read of the same data digest alike.
pub fn directory(state: &DirectoryState) -> String {
    let mut h = Sha256::new();
    for (kind, list) in [(b"user" as &[u8], &state.users), (b"group", &state.groups)] {
        let mut entries: Vec<_> = list.iter().collect();
        entries.sort_unstable_by(|a, b| a.dn().cmp(b.dn()));
        for e in entries {
            field(&mut h, kind);
            field(&mut h, e.dn().as_bytes());
            for (name, values) in e.attrs() {
                field(&mut h, name.as_bytes());
                for v in values.iter() {
                    field(&mut h, v.as_bytes());
                }
            }
            h.update(b"\n");
        }
    }
    if let Some(set) = &state.disabled_by_filter {
        for dn in set {
            field(&mut h, b"disabled");
            field(&mut h, dn.as_bytes());
        }
    }
    hex(h)
}

/// Digest of the intranet as read (accounts and groups, order-independent).
pub fn intranet(state: &IntranetState) -> String {
    let mut h = Sha256::new();
    let mut accounts: Vec<_> = state.accounts.iter().collect();
    accounts.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    for a in accounts {
        for part in [
            a.id.as_str(),
            &a.username,
            a.external_id.as_deref().unwrap_or("\u{0}"),
            if a.active { "1" } else { "0" },
            a.etag.as_deref().unwrap_or(""),
        ] {
            field(&mut h, part.as_bytes());
        }
        for (k, v) in a.fields.iter() {
            field(&mut h, k.as_bytes());
            field(&mut h, v.as_bytes());
        }
        h.update(b"\n");
    }
    let mut groups: Vec<_> = state.groups.iter().collect();
    groups.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    for g in groups {
        field(&mut h, g.id.as_bytes());
        field(&mut h, g.display_name.as_bytes());
        for m in &g.members {
            field(&mut h, m.as_bytes());
        }
        h.update(b"\n");
    }
    hex(h)
}

/// A length-prefixed field, so that no two different inputs hash alike.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn hex(h: Sha256) -> String {
    let mut s = String::from("sha256:");
    for b in h.finalize() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
