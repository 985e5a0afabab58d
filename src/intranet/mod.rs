//! The intranet side: the SCIM field vocabulary, the offline snapshot, (later) the live SCIM client.

pub mod fields;
pub mod memory;
pub mod snapshot;
