//! The `roster` binary: parse arguments, run, map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use miette::{IntoDiagnostic, WrapErr};

use roster::cli::{Cli, ColorChoice, Command, Format, PlanArgs, Snapshot};
use roster::{config, exit, observe, policy, reconcile, render};

/// glibc malloc spends much of a large directory read in arena locking and consolidation
/// (entries are decoded on one thread and freed on another); mimalloc does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Diagnostics: honour COLUMNS (terminals and CI logs), and never split a word such as a flag.
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
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
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(exit::ERROR)
        }
    }
}

async fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Validate(c) => {
            let loaded = config::load(&c.config)?;
            println!("{} is valid.", loaded.path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => plan(args).await,
        Command::Schema { plan } => {
            let schema = if plan {
                render::json::schema()
            } else {
                config::load::schema()
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).into_diagnostic()?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot(Snapshot::Directory { config, out }) => {
            let loaded = config::load(&config.config)?;
            let d = &loaded.config.directory;
            let attributes = observe::directory_attributes(&loaded.config);
            if let (Some(live), false) = (&d.ldap, out == std::path::Path::new("-")) {
                // Streamed: a large directory is never held in memory.
                let (users, groups) = roster::directory::ldif_write::snapshot_live(
                    live,
                    d,
                    &attributes,
                    &loaded.dir,
                    &out,
                )
                .await?;
                eprintln!(
                    "Wrote {users} users and {groups} groups to {}.",
                    out.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let state = observe::directory(&loaded, &attributes).await?;
            snapshot_directory(&state, &out)?;
            Ok(ExitCode::SUCCESS)
        }
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
                std::fs::write(&out, yaml)
                    .into_diagnostic()
                    .wrap_err_with(|| format!("cannot write {}", out.display()))?;
                eprintln!(
                    "Wrote {}. Review it, then: roster plan --config {}",
                    out.display(),
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "roster", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn snapshot_directory(
    state: &roster::model::DirectoryState,
    out: &std::path::Path,
) -> miette::Result<()> {
    use roster::directory::ldif_write::write_ldif;
    if out == std::path::Path::new("-") {
        // A closed pipe (`roster snapshot directory -o - | head`) is not worth a diagnostic.
        let _ = write_ldif(
            state,
            &mut std::io::BufWriter::new(std::io::stdout().lock()),
        );
        return Ok(());
    }
    let written = std::fs::File::create(out).and_then(|f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write_ldif(state, &mut w)?;
        w.flush()
    });
    written
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write the snapshot to {}", out.display()))?;
    eprintln!(
        "Wrote {} users and {} groups to {}.",
        state.users.len(),
        state.groups.len(),
        out.display()
    );
    Ok(())
}

async fn plan(args: PlanArgs) -> miette::Result<ExitCode> {
    let path = &args.config.config;
    let loaded = match &args.rev {
        Some(rev) => roster::gitops::load_at(path, rev)?,
        None => config::load(path)?,
    };
    let base = match &args.base {
        Some(rev) => Some(roster::gitops::load_at(path, rev)?),
        None => None,
    };
    let observed = observe::observe_for(&loaded, &base.iter().collect::<Vec<_>>()).await?;
    let mut plan = reconcile::plan(&loaded, &observed)?;
    if let Some(base) = &base {
        let base_plan = reconcile::plan(base, &observed)?;
        let impact = roster::impact::compare(&base.config, &base_plan, &loaded.config, &plan);
        let text = match args.format {
            Format::Text => render::impact::text(&impact),
            Format::Markdown => render::impact::markdown(&impact),
            Format::Json => serde_json::to_string_pretty(&impact).into_diagnostic()? + "\n",
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        if let Some(out) = &args.out {
            std::fs::write(out, render::json::render(&plan))
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
        }
        if let Err(refused) = policy::check(
            &plan,
            &loaded.config,
            &observed.directory,
            &observed.intranet,
        ) {
            eprintln!("{:?}", miette::Report::new(refused));
            return Ok(ExitCode::from(exit::REFUSED));
        }
        let changed = !impact.caused.is_empty() || !impact.avoided_units.is_empty();
        return Ok(ExitCode::from(if args.detailed_exitcode && changed {
            exit::CHANGES
        } else {
            exit::OK
        }));
    }
    plan.allowances.allow_blocks = args.allow_blocks;
    let verdict = policy::check(
        &plan,
        &loaded.config,
        &observed.directory,
        &observed.intranet,
    );
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
    if let Err(refused) = verdict {
        eprintln!("{:?}", miette::Report::new(refused));
        return Ok(ExitCode::from(exit::REFUSED));
    }
    if let Some(out) = &args.out {
        std::fs::write(out, render::json::render(&plan))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
        eprintln!(
            "Saved the plan to {}. Apply it with: roster apply {}",
            out.display(),
            out.display()
        );
    }
    Ok(ExitCode::from(
        if args.detailed_exitcode && !plan.is_empty() {
            exit::CHANGES
        } else {
            exit::OK
        },
    ))
}
