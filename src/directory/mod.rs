//! The directory side: the offline LDIF snapshot, group resolution, (later) the live LDAP source.

pub mod groups;
pub mod ldap;
pub mod ldif;
pub mod ldif_write;
