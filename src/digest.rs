//! Content digests for plan inputs: `sha256:<hex>`.

use sha2::{Digest, Sha256};

pub fn bytes(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
