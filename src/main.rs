//! The `roster` binary: parse arguments, run, map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use miette::{IntoDiagnostic, WrapErr};

use roster::cli::{Cli, ColorChoice, Command, Format, PlanArgs, Snapshot};
use roster::{config, observe, reconcile, render};

/// glibc malloc spends much of a large directory read in arena locking and consolidation
/// (entries are decoded on one thread and freed on another); mimalloc does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(1)
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
            if let (Some(live), false) = (&d.ldap, out == std::path::Path::new("-")) {
                // Streamed: a large directory is never held in memory.
                let attributes = observe::directory_attributes(&loaded.config);
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
            let state = observe::directory(&loaded).await?;
            snapshot_directory(&state, &out)?;
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
    let loaded = config::load(&args.config.config)?;
    let observed = observe::observe(&loaded).await?;
    let plan = reconcile::plan(&loaded.config, &observed)?;
    if let Some(out) = &args.out {
        std::fs::write(out, render::json::render(&plan))
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
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
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`roster plan | head`) is not an error worth a diagnostic.
    let _ = stdout.write_all(text.as_bytes());
    if let Some(out) = &args.out {
        eprintln!(
            "Saved the plan to {}. Apply it with: roster apply {}",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
