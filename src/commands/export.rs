//! `roster export`: write a starting config from the live systems (see [`crate::export`]).

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr};

use crate::{config, observe};

pub async fn run(path: PathBuf, out: PathBuf) -> miette::Result<ExitCode> {
    let loaded = config::load::load_connection(&path)?;
    // Export reads both sides: every secret that cannot be read is named at once, as for plan.
    observe::missing_secrets(&loaded)?;
    // The attributes are guesses: a source that refuses a column it lacks (CSV) reads the rest.
    let directory = crate::directory::DirectorySource::of(&loaded)
        .read_guessing(&crate::export::attributes())
        .await?;
    let intranet = observe::intranet(&loaded, &crate::export::fields()).await?;
    let yaml = crate::export::export(
        &loaded.config.directory,
        &loaded.config.intranet,
        &directory,
        &intranet,
    );
    if out == std::path::Path::new("-") {
        super::print(yaml.as_bytes())?;
    } else {
        if out.exists() {
            miette::bail!(
                code = "roster::export::exists",
                help = "choose another file, or remove it first: export never overwrites a config",
                "{} already exists",
                out.display()
            );
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
        crate::say!(
            "Wrote {}. Review it, then: roster plan --config {}",
            out.display(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
