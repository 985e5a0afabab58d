//! Exit codes, in one place. Documented in the README and in `roster --help`.

/// Success (with `--detailed-exitcode`: and no changes).
pub const OK: u8 = 0;
/// An error: invalid config or input, conflicts, an unreachable server, a failed apply.
pub const ERROR: u8 = 1;
/// With `--detailed-exitcode`: success, and the plan has changes.
pub const CHANGES: u8 = 2;
/// `apply` carried out only part of the plan: some changes failed or were stale.
pub const PARTIAL: u8 = 3;
/// The safety policy refused the plan (or the read guard refused to plan).
pub const REFUSED: u8 = 4;
/// `apply` refused a stale plan before any write: the config or the systems moved since it was
/// made, or it was made from another commit or from uncommitted edits.
pub const STALE: u8 = 5;
