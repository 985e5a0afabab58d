//! Roster: declarative, reviewed directory → intranet user sync.
//!
//! The flow, one stage per module, data flowing one way:
//! `config` (load) → `directory` / `intranet` (observe) → `reconcile` (pure) → `render` or
//! `apply` → `audit`. `commands` holds one module per command, each running those stages.

// Errors are rare and rich (a source snippet, spans, related problems): their size does not matter.
#![allow(clippy::result_large_err)]

/// `eprintln!` that never panics: a closed or full stderr (`roster plan 2>&1 | head -1`) loses
/// the line, never the run (an apply still finishes and records what it did).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see [`say!`]).
#[macro_export]
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut err = ::std::io::stderr().lock();
        let _ = ::std::write!(err, $($arg)*);
        let _ = err.flush();
    }};
}

/// `println!` that never panics: a closed stdout (`roster plan | head -0`) is not an error.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod apply;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diag;
pub mod digest;
pub mod directory;
pub mod exit;
pub mod explain;
pub mod export;
pub mod gitops;
pub mod http;
pub mod impact;
pub mod intranet;
pub mod log;
pub mod model;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod state;
pub mod store;
pub mod task;
pub mod text;
pub mod tls;
