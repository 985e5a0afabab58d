//! `roster apply`: the apply command around the executor ([`crate::apply`]): refuse a dirty
//! config, read a saved plan (or make one and ask for approval), refuse a plan whose figures lie
//! or that is stale (config revision and digest, a fresh plan from the directory and intranet
//! now), check the safety policy and that the record can be kept ([`preflight`]), run the
//! executor against the SCIM target, and write (and commit) the audit report and the state file,
//! also when the apply was partial or interrupted.
//!
//! # Exit codes (for the CLI)
//! - [`crate::exit::OK`] (0): every change applied (or the plan was empty).
//! - [`crate::exit::ERROR`] (1): nothing was written: config, connection or discovery failed, or
//!   the record could not be kept ([`preflight`]: git repository, audit folder, state file).
//! - [`crate::exit::PARTIAL`] (3): the apply ran, but some changes failed, were stale or were not
//!   started (interrupted), or the service answered without fields it was sent (did not store
//!   them); or the writes happened and their record failed ([`NotRecorded`]). Planning again
//!   shows what is left; [`ApplyReport::next_step`] says whether applying again converges.
//! - [`crate::exit::REFUSED`] (4): the safety policy refused the plan, checked on the figures
//!   derived now (never the file's), with the allowances the plan recorded; or, with
//!   `--unattended`, the plan does not fit `policy.unattended` ([`NeedsApproval`]): nothing is
//!   written, and the plan is kept for a person to approve (a fresh plan saved to `--out`).
//! - [`crate::exit::STALE`] (5): refused before any write: the config changed, or the directory or
//!   intranet changed so that the plan's changes are no longer what a fresh plan would do; the
//!   plan's recorded figures do not match its changes ([`InconsistentPlan`]); the config has
//!   uncommitted changes ([`DirtyConfig`], unless `--allow-dirty`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use miette::{Diagnostic, IntoDiagnostic, WrapErr};
use thiserror::Error;

use crate::apply::{apply_interruptible, carried_out, ApplyReport, Interrupt, Outcome};
use crate::cli::ApplyArgs;
use crate::plan::{Change, Plan};
use crate::{config, exit, observe, policy, reconcile, render};

use super::refused;

pub async fn run(args: ApplyArgs) -> miette::Result<ExitCode> {
    use std::io::BufRead;
    // A saved plan carries the allowances it was reviewed with; none are added when applying it.
    if let Some(path) = &args.plan {
        let flags = args.allow.allowances().flags();
        if !flags.is_empty() {
            let again = format!(
                "make the plan again with `roster plan {} -o {}`, review it, and apply that",
                flags.join(" "),
                crate::text::shown(&path.to_string_lossy()),
            );
            miette::bail!(
                    code = "roster::apply::allowance_with_saved_plan",
                    help = again,
                    "`{}` cannot be given with a saved plan: the one-run allowances are part of the reviewed plan",
                    flags.join(" ")
                );
        }
    }
    let loaded = config::load(&args.config.config)?;
    // What is applied must be a reviewed commit.
    if let Err(dirty) = check_clean(&loaded, args.allow_dirty) {
        crate::diag::print(&miette::Report::new(dirty));
        return Ok(ExitCode::from(exit::STALE));
    }
    let plan = match &args.plan {
        Some(path) => {
            let src = crate::diag::read_source(path)?;
            // The format version first: a plan of another version may have other keys, and
            // this version's plans are read strictly (an unknown key is an error).
            #[derive(serde::Deserialize)]
            struct Version {
                format_version: u32,
            }
            if let Ok(Version { format_version }) = serde_json::from_str(&src.text) {
                if format_version != crate::plan::FORMAT_VERSION {
                    miette::bail!(
                        code = "roster::apply::format_version",
                        help = "make the plan again with this Roster",
                        "the plan has format version {format_version}, this Roster applies {}",
                        crate::plan::FORMAT_VERSION
                    );
                }
            }
            let plan: crate::plan::Plan = serde_json::from_str(&src.text).map_err(|e| {
                crate::diag::SourceError::at(
                    "roster::apply::plan_file",
                    &src,
                    e.line(),
                    e.column(),
                    format!(
                        "not a Roster plan: {}",
                        crate::diag::json_problem(&src, &e, "the plan")
                    ),
                )
                .label("here")
                .help("apply a file written by `roster plan -o plan.json`")
            })?;
            if let Err(lie) = check_figures(&plan) {
                crate::diag::print(&miette::Report::new(lie));
                return Ok(ExitCode::from(exit::STALE));
            }
            if let Err(stale) = check_revision(&plan, loaded.revision.as_ref(), args.allow_dirty) {
                crate::diag::print(&miette::Report::new(stale));
                return Ok(ExitCode::from(exit::STALE));
            }
            plan
        }
        None => {
            // Refused before planning and asking when the intranet cannot be written to.
            let read = observe::observe_through(
                &loaded,
                &[],
                args.refresh,
                writable_target(&loaded, args.refresh),
            );
            let (observed, _) = read.await?;
            let mut plan = reconcile::plan(&loaded, &observed)?;
            plan.allowances = args.allow.allowances();
            super::print(render::text::render(&plan, args.color.enabled()).as_bytes())?;
            if let Some(code) = refused(&plan, &loaded, &observed) {
                return Ok(code);
            }
            if plan.is_empty() {
                clear_pending(&loaded);
                return Ok(ExitCode::SUCCESS);
            }
            if args.unattended {
                let bases = policy::Bases::of(&loaded.config, &observed.intranet);
                if let policy::Decision::NeedsApproval(reasons) =
                    policy::unattended(&plan, &loaded.config.policy.unattended, bases)
                {
                    return needs_approval(&args, &loaded, &plan, reasons);
                }
            } else if !args.auto_approve {
                if !std::io::stdin().is_terminal() {
                    miette::bail!(code = "roster::apply::needs_approval", help = "review a saved plan (`roster plan -o plan.json`) and `roster apply plan.json`, or pass --auto-approve", "not applying without approval: stdin is not a terminal");
                }
                crate::say_inline!(
                    "\nDo you want to apply these changes? Only 'yes' will be accepted: "
                );
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if answer.trim() != "yes" {
                    crate::say!("Apply cancelled; nothing was changed.");
                    return Ok(ExitCode::from(exit::ERROR));
                }
            }
            plan
        }
    };
    let opts = ApplyOptions {
        audit_dir: loaded.resolve(&args.audit_dir),
        no_commit: args.no_commit,
        now: std::time::SystemTime::now(),
        runner: crate::audit::runner_identity(
            None,
            |k| std::env::var(k).ok(),
            || crate::audit::git_identity(&loaded.dir),
        ),
        author: crate::audit::author_from_env(|k| std::env::var(k).ok()),
        refresh: args.refresh,
        allow_dirty: args.allow_dirty,
        unattended: args.unattended,
        approved_by: args.approved_by.clone(),
        interrupt: Interrupt::default(),
    };
    listen_for_signals(&opts.interrupt);
    let applied = match apply_saved(&loaded, &plan, &opts).await {
        Ok(a) => a,
        // Something was written: a failure to record it is a partial apply, never exit 1.
        Err(e) if e.downcast_ref::<NotRecorded>().is_some() => {
            crate::diag::print(&e);
            return Ok(ExitCode::from(exit::PARTIAL));
        }
        Err(e)
            if e.downcast_ref::<StalePlan>().is_some()
                || e.downcast_ref::<InconsistentPlan>().is_some() =>
        {
            crate::diag::print(&e);
            return Ok(ExitCode::from(exit::STALE));
        }
        Err(e) if e.downcast_ref::<NeedsApproval>().is_some() => {
            let reasons = match e.downcast::<NeedsApproval>() {
                Ok(n) => n.reasons,
                Err(e) => return Err(e),
            };
            return needs_approval(&args, &loaded, &plan, reasons);
        }
        Err(e) if e.downcast_ref::<policy::Refused>().is_some() => {
            // Applying a saved plan: its allowances are given when it is made.
            let e = match (e.downcast::<policy::Refused>(), &args.plan) {
                (Ok(r), Some(saved)) => miette::Report::new(r.for_saved_plan(saved)),
                (Ok(r), None) => miette::Report::new(r),
                (Err(e), _) => e,
            };
            crate::diag::print(&e);
            return Ok(ExitCode::from(exit::REFUSED));
        }
        Err(e) => return Err(e),
    };
    let r = &applied.report;
    if let Some(signal) = &applied.interrupted {
        crate::say!(
            "Apply interrupted by {signal}: no write started after it; {}.",
            r.tally()
        );
    } else {
        crate::say!("Apply: {}.", r.tally());
    }
    if let Some(w) = &r.writes {
        crate::say!("Writes: {}.", w.describe());
    }
    for o in r
        .outcomes
        .iter()
        .filter(|o| o.outcome != Outcome::Applied || !o.not_stored.is_empty())
    {
        say_outcome(o);
    }
    let commit = applied
        .audit
        .commit
        .as_deref()
        .map(|c| format!(" (commit {})", crate::digest::short(c, 12)))
        .unwrap_or_default();
    crate::say!("Audit: {}{commit}", applied.audit.csv.display());
    if let Some(next) = r.next_step() {
        crate::say!("{next}");
    }
    if r.exit_code() == exit::OK && applied.interrupted.is_none() {
        clear_pending(&loaded);
    }
    Ok(ExitCode::from(r.exit_code()))
}

/// After an apply that left this config converged (every change applied, or nothing to do):
/// the plan `--unattended` kept for approval in the data folder ([`PENDING_PLAN`]), when it was
/// made from this same config, is applied or moot, so it goes, in one line on stderr. A plan of
/// another config, or one that cannot be read, stays.
fn clear_pending(loaded: &config::Loaded) {
    let path = loaded.data_dir().join(PENDING_PLAN);
    let same_config = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<Plan>(&text).ok())
        .is_some_and(|p| p.inputs.config == loaded.digest);
    if same_config && std::fs::remove_file(&path).is_ok() {
        crate::say!(
            "Removed {} (the plan waiting for approval): this config is applied.",
            crate::text::shown(&path.to_string_lossy())
        );
    }
}

/// A plan that does not fit `policy.unattended`, with `--unattended`: keep it for approval (a
/// saved plan stays where it is; a fresh one is saved to `--out`, or `pending-plan.json` in the
/// data folder), say why and how to apply it, and exit 4. Nothing was written to the intranet.
fn needs_approval(
    args: &ApplyArgs,
    loaded: &config::Loaded,
    plan: &Plan,
    reasons: Vec<String>,
) -> miette::Result<ExitCode> {
    let kept = match (&args.plan, &args.out) {
        (Some(saved), _) => saved.clone(),
        (None, Some(out)) => {
            std::fs::write(out, render::json::render(plan))
                .into_diagnostic()
                .wrap_err_with(|| {
                    format!("cannot save the plan for approval to {}", out.display())
                })?;
            out.clone()
        }
        (None, None) => {
            let path = loaded.data_dir().join(PENDING_PLAN);
            crate::store::write_private_bytes(&path, render::json::render(plan).as_bytes())
                .into_diagnostic()
                .wrap_err_with(|| {
                    format!("cannot save the plan for approval to {}", path.display())
                })?;
            path
        }
    };
    // The hint names the config when it is not the one `apply` reads by default.
    let config = if args.config.config == std::path::Path::new("roster.yaml") {
        String::new()
    } else {
        format!("--config {} ", args.config.config.display())
    };
    let file = crate::text::shown(&kept.to_string_lossy()).to_string();
    let saved = if args.plan.is_some() { "kept" } else { "saved" };
    crate::diag::print(&miette::Report::new(NeedsApproval {
        reasons,
        help: format!(
            "the plan is {saved} in {file}: review it, and apply exactly it with `roster apply {config}{file}` (a person's approval; refused as stale if the config or the systems move first); or, if such changes should run unattended, allow them under `policy.unattended` in a reviewed commit"
        ),
    }));
    Ok(ExitCode::from(exit::REFUSED))
}

/// Where `roster apply --unattended` saves a plan that needs approval, without `--out`: in the
/// data folder ([`config::Loaded::data_dir`]), which git ignores (a plan holds profile data).
pub const PENDING_PLAN: &str = "pending-plan.json";

/// The plan does not fit `policy.unattended`: an unattended run applies none of it.
#[derive(Debug, Error, Diagnostic)]
#[error("the plan needs approval: it does not fit policy.unattended, so this unattended run applied nothing:\n{}", reasons.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(code(roster::apply::unattended))]
pub struct NeedsApproval {
    pub reasons: Vec<String>,
    #[help]
    pub help: String,
}

/// SIGINT and SIGTERM during the apply: the first stops new writes, the second stops waiting
/// for those in flight; either way the apply then records what it knows and exits 3.
fn listen_for_signals(interrupt: &Interrupt) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                if interrupt.signal(name) == 1 {
                    crate::say!("\n{name}: starting no new write; waiting for the writes in flight, then recording what was done (signal again to stop waiting).");
                } else {
                    crate::say!("\n{name}: not waiting for the writes in flight (their outcome is unknown); recording what is known.");
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                interrupt.signal("Ctrl-C");
            }
        });
    }
}

/// A saved plan that no longer matches what a fresh plan would do.
#[derive(Debug, Error, Diagnostic)]
#[error("the plan is stale; nothing was applied:\n{}", differences.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(roster::apply::stale_plan),
    help("run `roster plan` again, review it, and apply the new plan")
)]
pub struct StalePlan {
    pub differences: Vec<String>,
}

/// A saved plan whose recorded figures (summary counts, licence use) are not what its changes
/// give: edited by hand, or not written by Roster. Refused before anything is read or written.
#[derive(Debug, Error, Diagnostic)]
#[error("the plan's recorded figures do not match its changes; nothing was applied:\n{}", mismatches.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(roster::apply::inconsistent_plan),
    help("a plan's counts are derived from its changes: make the plan again with `roster plan -o plan.json`, review it, and apply that")
)]
pub struct InconsistentPlan {
    pub mismatches: Vec<String>,
}

/// Refuse a saved plan whose summary or licence figures disagree with its changes.
pub fn check_figures(saved: &Plan) -> Result<(), InconsistentPlan> {
    let mismatches = saved.figure_mismatches();
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(InconsistentPlan { mismatches })
    }
}

/// The config has uncommitted changes, and `--allow-dirty` was not given.
#[derive(Debug, Error, Diagnostic)]
#[error("{path} has uncommitted edits on top of {commit}: commit it first; nothing was applied")]
#[diagnostic(
    code(roster::apply::dirty_config),
    help("what is applied must be a reviewed commit: commit the config (and plan again), or pass --allow-dirty to apply anyway (recorded in the audit report)")
)]
pub struct DirtyConfig {
    pub path: String,
    pub commit: String,
}

/// Refuse a config with uncommitted changes, unless `allow_dirty`. A config outside a git
/// repository has nothing to compare with (apply's preflight then needs `--no-commit`).
pub fn check_clean(cfg: &crate::config::Loaded, allow_dirty: bool) -> Result<(), DirtyConfig> {
    match &cfg.revision {
        Some(rev) if rev.dirty && !allow_dirty => Err(DirtyConfig {
            path: cfg.path.display().to_string(),
            commit: short(&rev.commit).to_string(),
        }),
        _ => Ok(()),
    }
}

/// Check that a saved plan was made from the config commit that is checked out now, and not from
/// uncommitted edits: what is applied must be what was reviewed. With `allow_dirty`
/// (`--allow-dirty`), uncommitted edits are accepted on both sides (the config digest still has to
/// match, see [`check_fresh`]).
pub fn check_revision(
    saved: &Plan,
    now: Option<&crate::plan::Revision>,
    allow_dirty: bool,
) -> Result<(), StalePlan> {
    let mut differences = Vec::new();
    match (&saved.inputs.config_revision, now) {
        (Some(planned), _) if planned.dirty && !allow_dirty => differences.push(format!("the plan was made from uncommitted edits on top of {}", short(&planned.commit))),
        (Some(planned), Some(now)) if planned.commit != now.commit => {
            differences.push(format!("the plan was made from config commit {}, but {} is checked out", short(&planned.commit), short(&now.commit)))
        }
        (Some(planned), None) => differences.push(format!("the plan was made from config commit {}, but the config is not in a git repository now", short(&planned.commit))),
        _ => {}
    }
    if let Some(now) = now.filter(|n| n.dirty && !allow_dirty) {
        differences.push(format!(
            "the config has uncommitted edits on top of {}",
            short(&now.commit)
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(StalePlan { differences })
    }
}

fn short(commit: &str) -> &str {
    crate::digest::short(commit, 12)
}

/// Check a saved plan against the config digest now and against a plan computed fresh from the
/// directory and intranet now. ETags and reasons are not compared: an ETag that moved without
/// changing what the plan does is caught per change by `If-Match` (412 → stale).
pub fn check_fresh(saved: &Plan, config_digest: &str, fresh: &Plan) -> Result<(), StalePlan> {
    let mut differences = Vec::new();
    if saved.inputs.config != config_digest {
        differences.push(format!(
            "the config changed since the plan was made ({} → {config_digest})",
            saved.inputs.config
        ));
    }
    let key = |c: &Change| {
        (
            c.action,
            c.username.clone(),
            c.role.as_ref().map(|r| r.role.clone()),
        )
    };
    let norm = |c: &Change| {
        let mut c = c.clone();
        c.etag = None;
        c.reason = String::new();
        if let Some(r) = c.role.as_mut() {
            r.group_etag = None;
        }
        c
    };
    let describe = |c: &Change| match &c.role {
        Some(r) => format!("{} {} ({})", c.action.name(), c.username, r.role),
        None => format!("{} {}", c.action.name(), c.username),
    };
    let old: BTreeMap<_, _> = saved.changes.iter().map(|c| (key(c), norm(c))).collect();
    let new: BTreeMap<_, _> = fresh.changes.iter().map(|c| (key(c), norm(c))).collect();
    for (k, c) in &old {
        match new.get(k) {
            None => differences.push(format!("- no longer needed: {}", describe(c))),
            Some(n) if n != c => differences.push(format!("~ differs now: {}", describe(c))),
            Some(_) => {}
        }
    }
    for (k, c) in &new {
        if !old.contains_key(k) {
            differences.push(format!("+ newly needed: {}", describe(c)));
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(StalePlan { differences })
    }
}

/// What `roster apply` needs besides the config and the plan: passed in, so nothing below reads
/// the clock or the identity of the runner itself.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Where the audit report goes (`audit/` next to the config, by default).
    pub audit_dir: std::path::PathBuf,
    /// Write the report without committing it.
    pub no_commit: bool,
    pub now: std::time::SystemTime,
    /// `User name` in the audit report.
    pub runner: String,
    /// Commit author; `None`: git config.
    pub author: Option<crate::audit::Author>,
    /// Whether the freshness re-read of the intranet may use the cache (`--refresh`).
    pub refresh: crate::intranet::scim::cache::Refresh,
    /// `--allow-dirty`: the config had uncommitted changes and the run was allowed anyway
    /// (recorded in the audit report).
    pub allow_dirty: bool,
    /// `--unattended`: apply only a plan that fits `policy.unattended` (else [`NeedsApproval`],
    /// before any write); recorded in the audit report.
    pub unattended: bool,
    /// `--approved-by`: who approved the plan, for the audit.
    pub approved_by: Option<String>,
    /// Signalled on SIGINT/SIGTERM (by the CLI); never signalled: the apply runs to its end.
    pub interrupt: Interrupt,
}

/// The result of `apply_saved`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub report: ApplyReport,
    pub audit: crate::audit::AuditFiles,
    /// The signal that interrupted the apply, if one did.
    pub interrupted: Option<String>,
}

/// The checks before the first write failed: nothing was written.
#[derive(Debug, Error, Diagnostic)]
#[error("apply cannot record what it would write; nothing was written:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(roster::apply::preflight),
    help("every apply writes an audit report and the state file and commits them: run it in the config's git repository with write access to both (or pass --no-commit to write them without committing)")
)]
pub struct NotReady {
    pub problems: Vec<String>,
}

/// Writes happened, but their record (state file, audit report, commit) is incomplete. Exit
/// code [`crate::exit::PARTIAL`]: planning again shows what is left.
#[derive(Debug, Error, Diagnostic)]
#[error("the apply wrote to the intranet ({tally}), but its record is incomplete:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(roster::apply::not_recorded),
    help("the outcome of every change is listed above; fix the problem, commit what was written by hand, and plan again to see what is left")
)]
pub struct NotRecorded {
    pub tally: String,
    pub problems: Vec<String>,
    pub report: ApplyReport,
}

/// An interruption before the first write: nothing was written.
#[derive(Debug, Error, Diagnostic)]
#[error("interrupted by {signal} before the first write; nothing was written")]
#[diagnostic(code(roster::apply::interrupted))]
pub struct InterruptedBeforeWrites {
    pub signal: String,
}

/// The existing folder nearest to `path` (itself, when it exists).
fn nearest_existing(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = if path.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        path
    };
    let abs = std::path::absolute(path).ok()?;
    abs.ancestors()
        .find(|p| p.is_dir())
        .map(|p| p.to_path_buf())
}

/// Create and remove a probe file in `folder`.
fn probe(folder: &std::path::Path) -> Result<(), String> {
    let file = folder.join(format!(".roster-probe-{}", std::process::id()));
    std::fs::write(&file, b"").map_err(|e| e.to_string())?;
    std::fs::remove_file(&file).map_err(|e| e.to_string())
}

/// Check, before any write to the intranet, that its record can be kept: the audit folder can
/// be created and written, the state file written, and (unless `no_commit`) both are in a git
/// work tree with an author for the commit. Touches nothing (probe files are removed).
pub fn preflight(
    audit_dir: &std::path::Path,
    state_path: &std::path::Path,
    no_commit: bool,
    author: Option<&crate::audit::Author>,
) -> Result<(), NotReady> {
    let mut problems = Vec::new();
    let audit_base = nearest_existing(audit_dir);
    match &audit_base {
        Some(base) if audit_dir.exists() && !audit_dir.is_dir() => problems.push(format!(
            "the audit folder {} is a file ({} exists)",
            audit_dir.display(),
            base.display()
        )),
        Some(base) => {
            if let Err(e) = probe(base) {
                problems.push(format!(
                    "the audit folder {} cannot be written ({}: {e})",
                    audit_dir.display(),
                    base.display()
                ));
            }
        }
        None => problems.push(format!(
            "the audit folder {} has no existing parent",
            audit_dir.display()
        )),
    }
    let state_dir = nearest_existing(
        state_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    );
    match &state_dir {
        Some(dir) => {
            if let Err(e) = probe(dir) {
                problems.push(format!(
                    "the state file's folder {} cannot be written: {e}",
                    dir.display()
                ));
            } else if state_path.exists() {
                if let Err(e) = std::fs::OpenOptions::new().append(true).open(state_path) {
                    problems.push(format!(
                        "the state file {} cannot be written: {e}",
                        state_path.display()
                    ));
                }
            }
        }
        None => problems.push(format!(
            "the state file {} has no existing folder",
            state_path.display()
        )),
    }
    if !no_commit {
        if let Some(base) = &audit_base {
            match git2::Repository::discover(base) {
                Err(_) => problems.push(format!(
                    "the audit folder {} is not in a git repository, so the record cannot be committed",
                    audit_dir.display()
                )),
                Ok(repo) => match repo.workdir().and_then(|w| w.canonicalize().ok()) {
                    None => problems.push("the git repository is bare".into()),
                    Some(workdir) => {
                        let inside = |p: &Option<std::path::PathBuf>| {
                            p.as_ref()
                                .and_then(|p| p.canonicalize().ok())
                                .is_some_and(|p| p.starts_with(&workdir))
                        };
                        if !inside(&state_dir) {
                            problems.push(format!(
                                "the state file {} is outside the git work tree {} of the audit folder",
                                state_path.display(),
                                workdir.display()
                            ));
                        }
                        if author.is_none() && repo.signature().is_err() {
                            problems.push(
                                "no author for the audit commit: set GIT_AUTHOR_NAME and \
                                 GIT_AUTHOR_EMAIL, or user.name and user.email in git config"
                                    .into(),
                            );
                        }
                    }
                },
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(NotReady { problems })
    }
}

/// The intranet target the config names, when `apply` can write to it: a snapshot file is
/// refused ([`crate::intranet::snapshot::ReadOnlyIntranet`]), before anything is read.
async fn writable_target(
    cfg: &crate::config::Loaded,
    refresh: crate::cli::Refresh,
) -> miette::Result<crate::intranet::scim::target::ScimTarget> {
    use crate::intranet::Intranet;
    match observe::target_for(cfg, &[], refresh).await? {
        Intranet::Scim(target) => Ok(*target),
        Intranet::Snapshot(file) => Err(file.refusal().into()),
    }
}

/// `roster apply PLAN`: connect, refuse a stale plan (config digest, and a fresh plan from the
/// directory and intranet now), check that the record can be kept, carry out the saved plan, and
/// write (and commit) the audit report and the state file, also when the apply was partial or
/// interrupted. Errors before any write are diagnostics ([`StalePlan`], [`InconsistentPlan`] →
/// [`crate::exit::STALE`], [`crate::policy::Refused`] → [`crate::exit::REFUSED`], others →
/// [`crate::exit::ERROR`]); after the first write, [`NotRecorded`] ([`crate::exit::PARTIAL`]) or
/// the report's [`ApplyReport::exit_code`].
pub async fn apply_saved(
    cfg: &crate::config::Loaded,
    saved: &Plan,
    opts: &ApplyOptions,
) -> miette::Result<Applied> {
    use crate::intranet::scim;
    check_figures(saved)?;
    let state_path = cfg.state_path();
    preflight(
        &opts.audit_dir,
        &state_path,
        opts.no_commit,
        opts.author.as_ref(),
    )?;
    // The target read is the one written: a snapshot file is refused before anything is read.
    let read = observe::observe_through(cfg, &[], opts.refresh, writable_target(cfg, opts.refresh));
    // A signal while reading (nothing written yet) ends the run at once.
    let (observed, target) = tokio::select! {
        read = read => read?,
        _ = opts.interrupt.signalled() => {
            let signal = opts.interrupt.signal_name().unwrap_or_default();
            return Err(InterruptedBeforeWrites { signal }.into());
        }
    };
    let fresh = crate::reconcile::plan(cfg, &observed)?;
    check_fresh(saved, &cfg.digest, &fresh)?;
    // The policy holds at apply time too, whatever the file says: on the plan made fresh now
    // (its counts and licence use derived from what was read, never the file's figures; its
    // changes are the saved plan's, as `check_fresh` just made sure), with the one-run
    // allowances the saved plan recorded.
    let checked = Plan {
        allowances: saved.allowances.clone(),
        ..fresh
    };
    crate::policy::check(
        &checked,
        &cfg.config,
        &observed.directory,
        &observed.intranet,
    )?;
    // An unattended run decides on the same figures, derived now.
    if opts.unattended {
        let bases = policy::Bases::of(&cfg.config, &observed.intranet);
        if let policy::Decision::NeedsApproval(reasons) =
            policy::unattended(&checked, &cfg.config.policy.unattended, bases)
        {
            return Err(NeedsApproval {
                reasons,
                help: String::new(),
            }
            .into());
        }
    }
    if let Some(signal) = opts.interrupt.signal_name() {
        return Err(InterruptedBeforeWrites { signal }.into());
    }
    // Writes in flight after a first signal are waited for as long as one request may take.
    let grace = std::time::Duration::from_secs(
        cfg.config
            .intranet
            .scim
            .as_ref()
            .map_or(30, |s| s.timeout.max(1)),
    );
    let mut report =
        apply_interruptible(&target, saved, &observed.intranet, &opts.interrupt, grace).await;
    report.writes = Some(target.client().writes_summary());
    let interrupted = opts.interrupt.signal_name();

    // From here on, writes happened: every problem is collected, and the rest still recorded.
    let mut problems = Vec::new();
    // The state file (last-applied values) goes into the audit commit with the report.
    let not_applied: std::collections::HashSet<usize> = report
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.outcome != Outcome::Applied)
        .map(|(i, _)| i)
        .collect();
    let after = carried_out(&observed.intranet, saved, &not_applied).await;
    let state = crate::state::after_apply(
        observed.state.as_ref(),
        &after,
        saved,
        &not_applied,
        &scim::mapped_fields(cfg),
        &crate::reconcile::mapping::digests(&cfg.config),
        &report.not_stored_by_account(),
    );
    let mut also_commit = Vec::new();
    match std::fs::write(&state_path, crate::state::render(&state)) {
        Ok(()) => also_commit.push(state_path.clone()),
        Err(e) => problems.push(crate::audit::write_error(&state_path, e).to_string()),
    }

    // Asking the service who the token is would wait on it again: not after a signal.
    let whoami = match interrupted {
        None => target.client().whoami().await,
        Some(_) => None,
    };
    let identity = whoami.unwrap_or_else(|| {
        format!(
            "scim-token@{}",
            target.client().base_url().host_str().unwrap_or("intranet")
        )
    });
    let ctx = crate::audit::AuditContext {
        now: opts.now,
        runner: opts.runner.clone(),
        scim_identity: identity,
        address: scim::local_address_for(target.client().base_url())
            .map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        allow_dirty: opts.allow_dirty,
        unattended: opts.unattended,
        approved_by: opts.approved_by.clone(),
        interrupted: interrupted.clone(),
    };
    let audit = crate::audit::write_report(
        &opts.audit_dir,
        saved,
        &report,
        &ctx,
        opts.author.as_ref(),
        opts.no_commit,
        &also_commit,
    );
    match audit {
        Ok(audit) if problems.is_empty() => Ok(Applied {
            report,
            audit,
            interrupted,
        }),
        // An empty plan wrote nothing: its failure to record is an error like any other.
        Err(e) if report.outcomes.is_empty() => Err(e.into()),
        other => {
            if let Err(e) = other {
                problems.push(e.to_string());
            }
            // The writes happened: the record of them must not be lost with the report.
            print_outcomes(&report);
            Err(NotRecorded {
                tally: report.tally(),
                problems,
                report,
            }
            .into())
        }
    }
}

/// Every outcome on stderr, one line each: the last record when the audit report could not be
/// written.
fn print_outcomes(report: &ApplyReport) {
    crate::say!("The record of this apply is incomplete; what was done:");
    for o in &report.outcomes {
        say_outcome(o);
    }
}

/// One change's outcome for the terminal: `  block derek.stone: failed (HTTP 500): …`, the
/// username and the service's detail escaped.
fn say_outcome(o: &crate::report::ChangeOutcome) {
    crate::say!("  {}", crate::text::escape(&o.line()));
}
