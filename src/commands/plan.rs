//! `roster plan`: observe both sides, reconcile, render the plan (or, with `--base`, what the
//! change does), check the safety policy, and save the plan for `roster apply`.

use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr};

use crate::cli::{Format, PlanArgs};
use crate::{config, exit, observe, reconcile, render};

use super::refused;

pub async fn run(args: PlanArgs) -> miette::Result<ExitCode> {
    let path = &args.config.config;
    let loaded = match &args.rev {
        Some(rev) => crate::config::load::load_at(path, rev)?,
        None => config::load(path)?,
    };
    // A base that cannot be planned (the change fixes its config, a group it names or a
    // conflict) has no impact to compare with: the whole plan of this config is shown instead.
    let cannot_compare = |rev: &str, why: &dyn std::fmt::Display| {
        crate::say!("Note: the config at {} cannot be planned ({}); showing the whole plan of this config instead of what the change does.", crate::text::shown(rev), crate::text::escape(&why.to_string()));
    };
    let base = match &args.base {
        Some(rev) => match crate::config::load::load_at(path, rev) {
            Ok(base) => Some(base),
            // A revision that does not resolve, or no repository, is the user's mistake to fix;
            // only a config at REF that is itself invalid has nothing to compare with.
            Err(e) if e.downcast_ref::<crate::gitops::GitError>().is_some() => return Err(e),
            Err(e) => {
                cannot_compare(rev, &e);
                None
            }
        },
        None => None,
    };
    let observed =
        observe::observe_for(&loaded, &base.iter().collect::<Vec<_>>(), args.refresh).await?;
    let mut plan = reconcile::plan(&loaded, &observed)?;
    // The one-run allowances are part of the plan, with --base too (checked and saved with it).
    plan.allowances = args.allow.allowances();
    let base_plan = base.as_ref().and_then(|base| {
        reconcile::plan(base, &observed)
            .map(|p| (base, p))
            .map_err(|e| cannot_compare(args.base.as_deref().unwrap_or_default(), &e))
            .ok()
    });
    // With a base: what the change does (drift shown apart); without: the whole plan. Either
    // way a refused plan is still shown, but never saved: `apply` must not be handed it.
    let (text, changed) = match &base_plan {
        Some((base, base_plan)) => {
            let impact = crate::impact::compare(&base.config, base_plan, &loaded.config, &plan);
            let text = match args.format {
                Format::Text => render::impact::text(&impact),
                Format::Markdown => render::impact::markdown(&impact),
                Format::Json => serde_json::to_string_pretty(&impact).into_diagnostic()? + "\n",
            };
            (
                text,
                !impact.caused.is_empty() || !impact.avoided_units.is_empty(),
            )
        }
        None => {
            let color = args.color.enabled();
            let text = match args.format {
                Format::Text => render::text::render(&plan, color),
                Format::Markdown => render::markdown::render(&plan),
                Format::Json => render::json::render(&plan),
            };
            (text, !plan.is_empty())
        }
    };
    // A closed pipe (`roster plan | head`) is not an error worth a diagnostic.
    super::print(text.as_bytes())?;
    if let Some(code) = refused(&plan, &loaded, &observed) {
        return Ok(code);
    }
    if let Some(out) = &args.out {
        std::fs::write(out, render::json::render(&plan))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
        // The hint names the config when it is not the one `apply` would read by default.
        let config = if args.config.config == std::path::Path::new("roster.yaml") {
            String::new()
        } else {
            format!("--config {} ", args.config.config.display())
        };
        crate::say!(
            "Saved the plan to {}. Apply it with: roster apply {config}{}",
            out.display(),
            out.display()
        );
    }
    let code = if args.detailed_exitcode && changed {
        exit::CHANGES
    } else {
        exit::OK
    };
    // The process ends next: freeing millions of records one at a time would only cost time.
    std::mem::forget(observed);
    std::mem::forget(plan);
    Ok(ExitCode::from(code))
}
