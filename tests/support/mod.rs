//! Shared test harnesses (each suite uses a part of them).
#![allow(dead_code)]

pub mod git;
pub mod graph;
pub mod interop;
pub mod proxy;
pub mod ranging;
pub mod samba;
pub mod scim;
pub mod slapd;
pub mod tls;
pub mod world;
