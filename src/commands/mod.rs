//! The commands: one module each, dispatched from the parsed command line. Each loads what it
//! needs, runs the stages, prints, and gives the exit code; `main` only maps an error to exit 1.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use miette::IntoDiagnostic;

use crate::cli::{Cli, Command};
use crate::{config, exit, observe, policy, render};

pub mod apply;
pub mod export;
pub mod plan;
pub mod snapshot;
pub mod validate;

/// Run the command `cli` names.
pub async fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Schema { plan } => {
            let schema = if plan {
                render::json::schema()
            } else {
                config::load::schema()
            };
            crate::out!(
                "{}",
                serde_json::to_string_pretty(&schema).into_diagnostic()?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot(which) => snapshot::run(which).await,
        Command::Apply(args) => apply::run(args).await,
        Command::Export { config: path, out } => export::run(path, out).await,
        Command::Completions { shell } => {
            // Written whole, so a closed stdout is ignored rather than a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "roster", &mut script);
            let _ = std::io::stdout().lock().write_all(&script);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Check the plan against the safety policy; on a refusal, say why and give the exit code.
fn refused(
    plan: &crate::plan::Plan,
    loaded: &config::Loaded,
    observed: &observe::Observed,
) -> Option<ExitCode> {
    let refused = policy::check(
        plan,
        &loaded.config,
        &observed.directory,
        &observed.intranet,
    )
    .err()?;
    crate::diag::print(&miette::Report::new(refused));
    Some(ExitCode::from(exit::REFUSED))
}
