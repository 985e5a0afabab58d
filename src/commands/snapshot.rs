//! `roster snapshot directory|intranet`: write what is read from one side as a file Roster can
//! read back (LDIF, SCIM ListResponse JSON).

use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr};

use crate::cli::Snapshot;
use crate::{config, observe};

pub async fn run(which: Snapshot) -> miette::Result<ExitCode> {
    match which {
        Snapshot::Directory { config, out } => {
            let loaded = config::load(&config.config)?;
            let attributes = observe::directory_attributes(&loaded.config);
            let written = crate::directory::DirectorySource::of(&loaded)
                .snapshot(&attributes, &out)
                .await?;
            if let Some((users, groups)) = written {
                use crate::render::plural;
                crate::say!(
                    "Wrote {users} user{} and {groups} group{} to {}.",
                    plural(users),
                    plural(groups),
                    crate::text::shown(&out.display().to_string())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Snapshot::Intranet { config, out } => {
            let loaded = config::load(&config.config)?;
            let doc = match &loaded.config.intranet.snapshot {
                Some(path) => {
                    let (_, res) = crate::intranet::snapshot::read_snapshot(&loaded.resolve(path))?;
                    crate::intranet::snapshot::to_snapshot(&res)
                }
                None => {
                    let live = crate::intranet::scim::connect(&loaded).await?;
                    live.client.snapshot(&live.caps).await?
                }
            };
            let mut text = serde_json::to_string_pretty(&doc).into_diagnostic()?;
            text.push('\n');
            write_out(&out, text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Write to a file, or to stdout for `-`.
fn write_out(out: &std::path::Path, bytes: &[u8]) -> miette::Result<()> {
    if out == std::path::Path::new("-") {
        return super::print(bytes);
    }
    std::fs::write(out, bytes)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", out.display()))?;
    crate::say!("Wrote {}.", out.display());
    Ok(())
}
