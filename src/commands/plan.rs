//! `roster plan`: observe both sides, reconcile, render the plan (or, with `--base`, what the
//! change does), check the safety policy, and save the plan for `roster apply`.

use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr};

use crate::cli::{Format, PlanArgs};
use crate::{config, exit, observe, reconcile, render};

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
    if args.max_bytes.is_some() && args.format != Format::Markdown {
        return Err(miette::miette!(
            code = "roster::usage",
            help = "add `--format markdown`, or leave `--max-bytes` out",
            "--max-bytes sizes the Markdown plan only"
        ));
    }
    // The safety policy is checked before the plan is drawn: the Markdown plan shows the
    // refusals first (a cut one too).
    let refused = super::refusals(&plan, &loaded, &observed);
    let no_refusals: &[crate::policy::Refusal] = &[];
    let refusals = refused.as_ref().map_or(no_refusals, |r| &r.refusals[..]);
    // Where a cut Markdown plan says the full one is: the --full-markdown file, or where the
    // caller publishes it: `ROSTER_FULL_PLAN=job-summary`, set by the reusable workflow, which
    // puts that file in the job summary and an artifact (a runner's path means nothing to a
    // reviewer). Not GITHUB_ACTIONS: another workflow may publish nothing.
    let at = render::budget::FullPlanAt::new(
        args.full_markdown.as_deref(),
        std::env::var("ROSTER_FULL_PLAN").is_ok_and(|v| v == "job-summary"),
    );
    let within = |fitted, max| within(fitted, max, args.full_markdown.as_deref());
    // With a base: what the change does (drift shown apart); without: the whole plan. Either
    // way a refused plan is still shown, but never saved: `apply` must not be handed it.
    // `full` is the Markdown not cut, when `--max-bytes` cut what stdout gets.
    let (text, full, changed) = match &base_plan {
        Some((base, base_plan)) => {
            // The policy's verdict on the base plan too: a refusal this change causes (or lifts)
            // is part of what it does.
            let base_refused = super::refusals(base_plan, base, &observed);
            let impact = crate::impact::compare(
                (
                    &base.config,
                    base_plan,
                    base_refused
                        .as_ref()
                        .map_or(no_refusals, |r| &r.refusals[..]),
                ),
                (&loaded.config, &plan, refusals),
            );
            let (text, full) = match (args.format, args.max_bytes) {
                (Format::Text, _) => (render::impact::text(&impact), None),
                (Format::Markdown, None) => (render::impact::markdown(&impact), None),
                (Format::Markdown, Some(max)) => (
                    within(render::impact::markdown_within(&impact, max, &at), max),
                    Some(render::impact::markdown(&impact)),
                ),
                (Format::Json, _) => (
                    serde_json::to_string_pretty(&impact).into_diagnostic()? + "\n",
                    None,
                ),
            };
            (
                text,
                full,
                !impact.caused.is_empty() || !impact.avoided_units.is_empty(),
            )
        }
        None => {
            let color = args.color.enabled();
            let (text, full) = match (args.format, args.max_bytes) {
                (Format::Text, _) => (render::text::render(&plan, color), None),
                (Format::Markdown, None) => (render::markdown::render(&plan, refusals), None),
                (Format::Markdown, Some(max)) => (
                    within(
                        render::markdown::render_within(&plan, refusals, max, &at),
                        max,
                    ),
                    Some(render::markdown::render(&plan, refusals)),
                ),
                (Format::Json, _) => (render::json::render(&plan), None),
            };
            (text, full, !plan.is_empty())
        }
    };
    if let Some(path) = &args.full_markdown {
        std::fs::write(path, full.as_deref().unwrap_or(&text))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the full plan to {}", path.display()))?;
    }
    // A closed pipe (`roster plan | head`) is not an error worth a diagnostic.
    super::print(text.as_bytes())?;
    if let Some(refused) = refused {
        crate::diag::print(&miette::Report::new(refused));
        return Ok(ExitCode::from(exit::REFUSED));
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

/// The cut Markdown; a warning on stderr when even the summary did not fit, saying where the
/// full plan is (the exit code is the plan's, as ever).
fn within(fitted: render::Fitted, max: usize, full: Option<&std::path::Path>) -> String {
    if !fitted.complete {
        let full = match full {
            Some(f) => format!(
                "the full plan is in {}",
                crate::text::shown(&f.display().to_string())
            ),
            None => "give a larger N, or add --full-markdown FILE to write the full plan".into(),
        };
        crate::say!("warning: --max-bytes {max} is too small for the plan's summary; {full}");
    }
    fitted.text
}
