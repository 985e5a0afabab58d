//! The commands: one module each, dispatched from the parsed command line. Each loads what it
//! needs, runs the stages, prints, and gives the exit code; `main` only maps an error to exit 1.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use miette::IntoDiagnostic;

use crate::cli::{Cli, Command};
use crate::{config, exit, observe, policy, render};

pub mod apply;
pub mod explain;
pub mod export;
pub mod plan;
pub mod snapshot;
pub mod validate;

/// Print a command's output. A reader that went away (`roster plan | head`) ends it quietly; any
/// other failure (a full disk, a closed file) is an error, never a silent success: CI would post
/// an empty plan and pass.
pub fn print(bytes: &[u8]) -> miette::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(miette::miette!(
            code = "roster::output",
            help = "check where the output goes (a full disk, a file that cannot be written)",
            "cannot write the output: {e}"
        )),
    }
}

/// Run the command `cli` names.
pub async fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Schema { plan } => {
            let schema = if plan {
                render::json::schema()
            } else {
                config::load::schema()
            };
            print((serde_json::to_string_pretty(&schema).into_diagnostic()? + "\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot(which) => snapshot::run(which).await,
        Command::Apply(args) => apply::run(args).await,
        Command::Export { config: path, out } => export::run(path, out).await,
        Command::Completions { shell } => {
            // Written whole, so a closed stdout is ignored rather than a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "roster", &mut script);
            print(&script)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Check the plan against the safety policy: every refusal, or `None` when it passes.
fn refusals(
    plan: &crate::plan::Plan,
    loaded: &config::Loaded,
    observed: &observe::Observed,
) -> Option<policy::Refused> {
    policy::check(
        plan,
        &loaded.config,
        &observed.directory,
        &observed.intranet,
    )
    .err()
}

/// Check the plan against the safety policy; on a refusal, say why and give the exit code.
fn refused(
    plan: &crate::plan::Plan,
    loaded: &config::Loaded,
    observed: &observe::Observed,
) -> Option<ExitCode> {
    let refused = refusals(plan, loaded, observed)?;
    crate::diag::print(&miette::Report::new(refused));
    Some(ExitCode::from(exit::REFUSED))
}
