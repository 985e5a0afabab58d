//! `roster explain USER`: read the same inputs as `plan`, plan them, and show every rule that
//! decides one person's account, with the plan's action for it.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cli::{ExplainArgs, ExplainFormat};
use crate::{config, exit, observe, reconcile, render};

pub async fn run(args: ExplainArgs) -> miette::Result<ExitCode> {
    let loaded = config::load(&args.config.config)?;
    let observed = observe::observe_for(&loaded, &[], args.refresh).await?;
    let plan = reconcile::plan(&loaded, &observed)?;
    let explanation = crate::explain::explain(
        &args.user,
        &loaded.config,
        &observed.directory,
        &observed.intranet,
        observed.state.as_ref(),
        &plan,
    )?;
    let text = match args.format {
        ExplainFormat::Text => render::explain::text(&explanation),
        ExplainFormat::Json => serde_json::to_string_pretty(&explanation).into_diagnostic()? + "\n",
    };
    super::print(text.as_bytes())?;
    Ok(ExitCode::from(exit::OK))
}
