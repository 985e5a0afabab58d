//! Roster: declarative, reviewed directory → intranet user sync.
//!
//! The flow, one stage per module, data flowing one way:
//! `config` (load) → `directory` / `intranet` (observe) → `reconcile` (pure) → `render` or
//! `apply` → `audit`.

pub mod apply;
pub mod audit;
pub mod cli;
pub mod config;
pub mod diag;
pub mod digest;
pub mod directory;
pub mod intranet;
pub mod model;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod render;
