//! The `roster` binary: parse arguments, run, map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use miette::{IntoDiagnostic, WrapErr};

use roster::cli::{ApplyArgs, Cli, ColorChoice, Command, Format, PlanArgs, Snapshot};
use roster::{config, exit, observe, policy, reconcile, render};

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
    // Diagnostics: honour COLUMNS (terminals and CI logs), and never split a word such as a flag.
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    // Colour only on a terminal, and not with NO_COLOR; printed diagnostics keep only the
    // colour sequences miette writes then (roster::diag::print).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    roster::diag::set_colour(colour);
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(colour)
                .terminal_links(false)
                .width(width)
                .break_words(false)
                .build(),
        )
    }));
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(report) => {
            roster::diag::print(&report);
            ExitCode::from(exit::ERROR)
        }
    }
}

async fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => {
            let loaded = config::load(&args.config.config)?;
            if args.config_only {
                roster::out!(
                    "{} is valid (config only: the directory was not read, so its groups and mapped attributes were not checked).",
                    loaded.path.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let attributes = observe::directory_attributes(&loaded.config);
            let directory = observe::directory(&loaded, &attributes).await?;
            let desired = reconcile::desired::compute(&loaded.config, &directory);
            let mut checked = reconcile::resolve::verify(&loaded, &directory, &desired, None);
            // A live read holds only the attributes the config names: for a "did you mean" on
            // one no user has, look at the names on a whole entry (names only, no values).
            if let Err(e) = &checked {
                let syncing = desired.users.iter().find(|u| u.syncing);
                if let Some(user) = syncing.filter(|_| {
                    e.problems
                        .iter()
                        .any(|p| p.code == "roster::resolve::attribute_missing")
                }) {
                    let names = roster::directory::DirectorySource::of(&loaded)
                        .attribute_names(user.username)
                        .await;
                    if let Some(names) = names {
                        checked = reconcile::resolve::verify(
                            &loaded,
                            &directory,
                            &desired,
                            Some((user.username, &names)),
                        );
                    }
                }
            }
            let warnings = checked?;
            for w in &warnings {
                roster::say!("warning: {}", roster::text::escape(&w.to_string()));
            }
            let syncing = desired.users.iter().filter(|u| u.syncing).count();
            roster::out!(
                "{} is valid: its groups and mapped attributes resolve in the directory ({syncing} syncing users). The intranet was not read.",
                loaded.path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => plan(args).await,
        Command::Schema { plan } => {
            let schema = if plan {
                render::json::schema()
            } else {
                config::load::schema()
            };
            roster::out!(
                "{}",
                serde_json::to_string_pretty(&schema).into_diagnostic()?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot(Snapshot::Directory { config, out }) => {
            let loaded = config::load(&config.config)?;
            let attributes = observe::directory_attributes(&loaded.config);
            let written = roster::directory::DirectorySource::of(&loaded)
                .snapshot(&attributes, &out)
                .await?;
            if let Some((users, groups)) = written {
                roster::say!(
                    "Wrote {users} users and {groups} groups to {}.",
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot(Snapshot::Intranet { config, out }) => {
            let loaded = config::load(&config.config)?;
            let doc = match &loaded.config.intranet.snapshot {
                Some(path) => {
                    let (_, res) =
                        roster::intranet::snapshot::read_snapshot(&loaded.resolve(path))?;
                    roster::intranet::snapshot::to_snapshot(&res)
                }
                None => {
                    let live = roster::intranet::scim::connect(&loaded).await?;
                    live.client.snapshot(&live.caps).await?
                }
            };
            let mut text = serde_json::to_string_pretty(&doc).into_diagnostic()?;
            text.push('\n');
            write_out(&out, text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply(args) => apply(args).await,
        Command::Export { config: path, out } => {
            let loaded = config::load::load_connection(&path)?;
            let directory = observe::directory(&loaded, &roster::export::attributes()).await?;
            let intranet = observe::intranet(&loaded, &roster::export::fields()).await?;
            let yaml = roster::export::export(
                &loaded.config.directory,
                &loaded.config.intranet,
                &directory,
                &intranet,
            );
            if out == std::path::Path::new("-") {
                let _ = std::io::stdout().lock().write_all(yaml.as_bytes());
            } else {
                if out.exists() {
                    miette::bail!(code = "roster::export::exists", help = "choose another file, or remove it first: export never overwrites a config", "{} already exists", out.display());
                }
                // The connection settings are copied as written, and a config's relative paths
                // (snapshots, ca_file, `file:` secrets) resolve from its own folder.
                let folder = |p: &std::path::Path| {
                    let p = if p.as_os_str().is_empty() {
                        std::path::Path::new(".")
                    } else {
                        p
                    };
                    std::fs::canonicalize(p).ok()
                };
                let home = folder(&loaded.dir);
                if folder(out.parent().unwrap_or(std::path::Path::new("."))) != home {
                    let home = home.unwrap_or_else(|| loaded.dir.clone());
                    miette::bail!(code = "roster::export::elsewhere", help = format!("write it into {} (the config's folder), where its relative paths still resolve", home.display()), "{} is not in the folder of the config it exports", out.display());
                }
                std::fs::write(&out, yaml)
                    .into_diagnostic()
                    .wrap_err_with(|| format!("cannot write {}", out.display()))?;
                roster::say!(
                    "Wrote {}. Review it, then: roster plan --config {}",
                    out.display(),
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
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
    plan: &roster::plan::Plan,
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
    roster::diag::print(&miette::Report::new(refused));
    Some(ExitCode::from(exit::REFUSED))
}

/// Write to a file, or to stdout for `-`.
fn write_out(out: &std::path::Path, bytes: &[u8]) -> miette::Result<()> {
    if out == std::path::Path::new("-") {
        let _ = std::io::stdout().lock().write_all(bytes);
        return Ok(());
    }
    std::fs::write(out, bytes)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", out.display()))?;
    roster::say!("Wrote {}.", out.display());
    Ok(())
}

async fn apply(args: ApplyArgs) -> miette::Result<ExitCode> {
    use std::io::BufRead;
    // A saved plan carries the allowances it was reviewed with; none are added when applying it.
    if let Some(path) = &args.plan {
        let flags = args.allow.allowances().flags();
        if !flags.is_empty() {
            let again = format!(
                "make the plan again with `roster plan {} -o {}`, review it, and apply that",
                flags.join(" "),
                roster::text::shown(&path.to_string_lossy()),
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
    if let Err(dirty) = roster::apply::check_clean(&loaded, args.allow_dirty) {
        roster::diag::print(&miette::Report::new(dirty));
        return Ok(ExitCode::from(exit::STALE));
    }
    let plan = match &args.plan {
        Some(path) => {
            let src = roster::diag::read_source(path)?;
            // The format version first: a plan of another version may have other keys, and
            // this version's plans are read strictly (an unknown key is an error).
            #[derive(serde::Deserialize)]
            struct Version {
                format_version: u32,
            }
            if let Ok(Version { format_version }) = serde_json::from_str(&src.text) {
                if format_version != roster::plan::FORMAT_VERSION {
                    miette::bail!(
                        code = "roster::apply::format_version",
                        help = "make the plan again with this Roster",
                        "the plan has format version {format_version}, this Roster applies {}",
                        roster::plan::FORMAT_VERSION
                    );
                }
            }
            let plan: roster::plan::Plan = serde_json::from_str(&src.text).map_err(|e| {
                roster::diag::SourceError::at(
                    "roster::apply::plan_file",
                    &src,
                    e.line(),
                    e.column(),
                    format!(
                        "not a Roster plan: {}",
                        roster::diag::json_problem(&src, &e, "the plan")
                    ),
                )
                .label("here")
                .help("apply a file written by `roster plan -o plan.json`")
            })?;
            if let Err(lie) = roster::apply::check_figures(&plan) {
                roster::diag::print(&miette::Report::new(lie));
                return Ok(ExitCode::from(exit::STALE));
            }
            if let Err(stale) =
                roster::apply::check_revision(&plan, loaded.revision.as_ref(), args.allow_dirty)
            {
                roster::diag::print(&miette::Report::new(stale));
                return Ok(ExitCode::from(exit::STALE));
            }
            plan
        }
        None => {
            let observed = observe::observe_for(&loaded, &[], args.refresh).await?;
            let mut plan = reconcile::plan(&loaded, &observed)?;
            plan.allowances = args.allow.allowances();
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let _ = std::io::stdout()
                .lock()
                .write_all(render::text::render(&plan, color).as_bytes());
            if let Some(code) = refused(&plan, &loaded, &observed) {
                return Ok(code);
            }
            if plan.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if !args.auto_approve {
                if !std::io::stdin().is_terminal() {
                    miette::bail!(code = "roster::apply::needs_approval", help = "review a saved plan (`roster plan -o plan.json`) and `roster apply plan.json`, or pass --auto-approve", "not applying without approval: stdin is not a terminal");
                }
                roster::say_inline!(
                    "\nDo you want to apply these changes? Only 'yes' will be accepted: "
                );
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if answer.trim() != "yes" {
                    roster::say!("Apply cancelled; nothing was changed.");
                    return Ok(ExitCode::from(exit::ERROR));
                }
            }
            plan
        }
    };
    let opts = roster::apply::ApplyOptions {
        audit_dir: loaded.resolve(&args.audit_dir),
        no_commit: args.no_commit,
        now: std::time::SystemTime::now(),
        runner: roster::audit::runner_identity(None, |k| std::env::var(k).ok()),
        author: roster::audit::author_from_env(|k| std::env::var(k).ok()),
        refresh: args.refresh,
        allow_dirty: args.allow_dirty,
        interrupt: roster::apply::Interrupt::default(),
    };
    listen_for_signals(&opts.interrupt);
    let applied = match roster::apply::apply_saved(&loaded, &plan, &opts).await {
        Ok(a) => a,
        // Something was written: a failure to record it is a partial apply, never exit 1.
        Err(e) if e.downcast_ref::<roster::apply::NotRecorded>().is_some() => {
            roster::diag::print(&e);
            return Ok(ExitCode::from(exit::PARTIAL));
        }
        Err(e)
            if e.downcast_ref::<roster::apply::StalePlan>().is_some()
                || e.downcast_ref::<roster::apply::InconsistentPlan>()
                    .is_some() =>
        {
            roster::diag::print(&e);
            return Ok(ExitCode::from(exit::STALE));
        }
        Err(e) if e.downcast_ref::<policy::Refused>().is_some() => {
            // Applying a saved plan: its allowances are given when it is made.
            let e = match (e.downcast::<policy::Refused>(), &args.plan) {
                (Ok(r), Some(saved)) => miette::Report::new(r.for_saved_plan(saved)),
                (Ok(r), None) => miette::Report::new(r),
                (Err(e), _) => e,
            };
            roster::diag::print(&e);
            return Ok(ExitCode::from(exit::REFUSED));
        }
        Err(e) => return Err(e),
    };
    let r = &applied.report;
    if let Some(signal) = &applied.interrupted {
        roster::say!(
            "Apply interrupted by {signal}: no write started after it; {}.",
            r.tally()
        );
    } else {
        roster::say!("Apply: {}.", r.tally());
    }
    for o in r
        .outcomes
        .iter()
        .filter(|o| o.outcome != roster::apply::Outcome::Applied)
    {
        roster::say!(
            "  {} {}: {}",
            o.change.action.name(),
            roster::text::shown(&o.change.username),
            roster::text::escape(&o.outcome.describe())
        );
    }
    let commit = applied
        .audit
        .commit
        .as_deref()
        .map(|c| format!(" (commit {})", roster::digest::short(c, 12)))
        .unwrap_or_default();
    roster::say!("Audit: {}{commit}", applied.audit.csv.display());
    if !r.is_complete() {
        roster::say!("Plan again to see what is left; a second apply converges.");
    }
    Ok(ExitCode::from(r.exit_code()))
}

/// SIGINT and SIGTERM during the apply: the first stops new writes, the second stops waiting
/// for those in flight; either way the apply then records what it knows and exits 3.
fn listen_for_signals(interrupt: &roster::apply::Interrupt) {
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
                    roster::say!("\n{name}: starting no new write; waiting for the writes in flight, then recording what was done (signal again to stop waiting).");
                } else {
                    roster::say!("\n{name}: not waiting for the writes in flight (their outcome is unknown); recording what is known.");
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

async fn plan(args: PlanArgs) -> miette::Result<ExitCode> {
    let path = &args.config.config;
    let loaded = match &args.rev {
        Some(rev) => roster::gitops::load_at(path, rev)?,
        None => config::load(path)?,
    };
    // A base that cannot be planned (the change fixes its config, a group it names or a
    // conflict) has no impact to compare with: the whole plan of this config is shown instead.
    let cannot_compare = |rev: &str, why: &dyn std::fmt::Display| {
        roster::say!("Note: the config at {} cannot be planned ({}); showing the whole plan of this config instead of what the change does.", roster::text::shown(rev), roster::text::escape(&why.to_string()));
    };
    let base = match &args.base {
        Some(rev) => match roster::gitops::load_at(path, rev) {
            Ok(base) => Some(base),
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
    if let Some((base, base_plan)) = &base_plan {
        let impact = roster::impact::compare(&base.config, base_plan, &loaded.config, &plan);
        let text = match args.format {
            Format::Text => render::impact::text(&impact),
            Format::Markdown => render::impact::markdown(&impact),
            Format::Json => serde_json::to_string_pretty(&impact).into_diagnostic()? + "\n",
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        // A refused plan is shown, never saved: `apply` must not be handed it.
        if let Some(code) = refused(&plan, &loaded, &observed) {
            return Ok(code);
        }
        if let Some(out) = &args.out {
            std::fs::write(out, render::json::render(&plan))
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
        }
        let changed = !impact.caused.is_empty() || !impact.avoided_units.is_empty();
        return Ok(ExitCode::from(if args.detailed_exitcode && changed {
            exit::CHANGES
        } else {
            exit::OK
        }));
    }
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let text = match args.format {
        Format::Text => render::text::render(&plan, color),
        Format::Markdown => render::markdown::render(&plan),
        Format::Json => render::json::render(&plan),
    };
    // A closed pipe (`roster plan | head`) is not an error worth a diagnostic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    // A refused plan is still shown above, but not saved.
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
        roster::say!(
            "Saved the plan to {}. Apply it with: roster apply {config}{}",
            out.display(),
            out.display()
        );
    }
    let code = if args.detailed_exitcode && !plan.is_empty() {
        exit::CHANGES
    } else {
        exit::OK
    };
    // The process ends next: freeing millions of records one at a time would only cost time.
    std::mem::forget(observed);
    std::mem::forget(plan);
    Ok(ExitCode::from(code))
}
