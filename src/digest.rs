//! Content digests for plan inputs: `sha256:<hex>`.

use sha2::{Digest, Sha256};

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
    for (kind, list) in [("user", &state.users), ("group", &state.groups)] {
        let mut entries: Vec<_> = list.iter().collect();
        entries.sort_by(|a, b| a.dn.cmp(&b.dn));
        for e in entries {
            h.update(format!("{kind}\0{}\0{:?}\n", e.dn, e.attrs).as_bytes());
        }
    }
    if let Some(set) = &state.disabled_by_filter {
        h.update(format!("disabled\0{set:?}").as_bytes());
    }
    hex(h)
}

/// Digest of the intranet as read (accounts and groups, order-independent).
pub fn intranet(state: &IntranetState) -> String {
    let mut h = Sha256::new();
    let mut accounts: Vec<_> = state.accounts.iter().collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    for a in accounts {
        h.update(format!("{a:?}\n").as_bytes());
    }
    let mut groups: Vec<_> = state.groups.iter().collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    for g in groups {
        h.update(format!("{g:?}\n").as_bytes());
    }
    hex(h)
}

fn hex(h: Sha256) -> String {
    let mut s = String::from("sha256:");
    for b in h.finalize() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
