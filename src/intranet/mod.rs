//! The intranet side: the SCIM field vocabulary, the offline snapshot, the live SCIM client.

pub mod cache;
pub mod fields;
pub mod memory;
pub mod scim;
pub mod snapshot;
