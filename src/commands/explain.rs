//! `roster explain USER`: read the same inputs as `plan`, plan them, and show every rule that
//! decides one person's account, with the plan's action for it.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cli::{ExplainArgs, ExplainFormat};
use crate::{config, exit, observe, reconcile, render};

pub async fn run(args: ExplainArgs) -> miette::Result<ExitCode> {
    let loaded = config::load(&args.config.config)?;
    let observed = observe::observe_for(&loaded, &[], args.refresh).await?;
    // Conflicts keep a plan from being made, not the rules from being explained: they are
    // shown after the explanation, and the exit is still an error.
    let (plan, conflicts) = match reconcile::plan(&loaded, &observed) {
        Ok(plan) => (Some(plan), None),
        Err(reconcile::PlanError::Conflicts(c)) => (None, Some(c)),
        Err(e) => return Err(e.into()),
    };
    let explanation = crate::explain::explain(
        &args.user,
        &loaded.config,
        &observed.directory,
        &observed.intranet,
        observed.state.as_ref(),
        plan.as_ref()
            .ok_or(conflicts.as_ref().map_or(&[][..], |c| &c.conflicts[..])),
    )?;
    let text = match args.format {
        ExplainFormat::Text => render::explain::text(&explanation),
        ExplainFormat::Json => serde_json::to_string_pretty(&explanation).into_diagnostic()? + "\n",
    };
    super::print(text.as_bytes())?;
    match conflicts {
        Some(c) => Err(c.into()),
        None => Ok(ExitCode::from(exit::OK)),
    }
}
