//! The `roster` binary: parse arguments, run the command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

use roster::cli::Cli;
use roster::exit;

/// glibc malloc spends much of a large directory read in arena locking and consolidation
/// (entries are decoded on one thread and freed on another); mimalloc does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A usage mistake is invalid input (exit 1), not clap's 2, which `--detailed-exitcode` uses
    // for "changes"; --help and --version still exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            });
        }
    };
    roster::diag::install_hook();
    if let Err(report) = roster::log::init(cli.verbose) {
        roster::diag::print(&report);
        return ExitCode::from(exit::ERROR);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            roster::say!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(roster::commands::run(cli)) {
        Ok(code) => code,
        Err(report) => {
            roster::diag::print(&report);
            ExitCode::from(exit::ERROR)
        }
    }
}
