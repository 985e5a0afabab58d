//! `roster explain USER`: read the same inputs as `plan`, plan them, check the plan against the
//! safety policy, and show every rule that decides one person's account, with the plan's action
//! for it (and, when the policy refuses the plan, that nothing would be applied). Read-only.

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
    // The safety policy's verdict on the plan, checked as `plan` checks it (no one-run
    // allowance: explain takes none). A refused plan is explained with its refusals, and the
    // exit is still 0: explaining it succeeded (`refused` in the JSON tells a script).
    let refused = plan
        .as_ref()
        .and_then(|plan| super::refusals(plan, &loaded, &observed));
    let refusals = refused.as_ref().map_or(&[][..], |r| &r.refusals[..]);
    let explanation = crate::explain::explain(
        &args.user,
        &loaded.config,
        &observed.directory,
        &observed.intranet,
        observed.state.as_ref(),
        plan.as_ref()
            .map(|plan| (plan, refusals))
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
