//! Roster: declarative, reviewed directory → intranet user sync.
//!
//! The flow, one stage per module, data flowing one way:
//! `config` (load) → `directory` / `intranet` (observe) → `reconcile` (pure) → `render` or
//! `apply` → `audit`.

// Errors are rare and rich (a source snippet, spans, related problems): their size does not matter.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod audit;
pub mod cli;
pub mod config;
pub mod diag;
pub mod digest;
pub mod directory;
pub mod exit;
pub mod export;
pub mod gitops;
pub mod impact;
pub mod intranet;
pub mod model;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod state;
pub mod text;
