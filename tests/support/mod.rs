//! Shared test harnesses (each suite uses a part of them).
#![allow(dead_code)]

pub mod git;
pub mod graph;
pub mod proxy;
pub mod samba;
pub mod scim;
pub mod slapd;
pub mod world;
