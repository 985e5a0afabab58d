//! Exit codes, in one place. Documented in the README and in `roster --help`.

/// Success (with `--detailed-exitcode`: and no changes).
pub const OK: u8 = 0;
/// An error: invalid config or input, conflicts, an unreachable server, an apply that cannot
/// keep its record (checked before the first write). Nothing was written.
pub const ERROR: u8 = 1;
/// With `--detailed-exitcode`: success, and the plan has changes.
pub const CHANGES: u8 = 2;
/// `apply` carried out only part of the plan: some changes failed or were stale, or the service
/// did not store fields it was sent, or it was interrupted (SIGINT, SIGTERM); or writes happened and a later step failed (the state file,
/// the audit report or its commit). Once anything may have been written, a failure is this
/// code, never [`ERROR`].
pub const PARTIAL: u8 = 3;
/// The safety policy refused the plan (or the read guard refused to plan); or, for
/// `apply --unattended`, the plan does not fit `policy.unattended` and waits, saved, for a
/// person's approval. Nothing was changed either way.
pub const REFUSED: u8 = 4;
/// `apply` refused before any write: a stale plan (the config or the systems moved since it was
/// made, or it was made from another commit or from uncommitted edits), a saved plan whose
/// recorded figures do not match its changes, or a config with uncommitted changes (without
/// `--allow-dirty`).
pub const STALE: u8 = 5;
