//! The LDIF snapshot: reading it as a source (`directory: { ldif: ... }`) and writing one
//! (`roster snapshot directory`), in the same form.

pub mod read;
pub mod write;

pub use read::{classify, parse};
