//! `roster validate`: check the config, then (unless `--config-only`) that its groups and mapped
//! attributes resolve in the directory. The intranet is not read.

use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::{config, observe, reconcile};

pub async fn run(args: ValidateArgs) -> miette::Result<ExitCode> {
    let loaded = config::load(&args.config.config)?;
    if args.config_only {
        crate::out!(
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
            let names = crate::directory::DirectorySource::of(&loaded)
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
        crate::say!("warning: {}", crate::text::escape(&w.to_string()));
    }
    let syncing = desired.users.iter().filter(|u| u.syncing).count();
    crate::out!(
        "{} is valid: its groups and mapped attributes resolve in the directory ({syncing} syncing users). The intranet was not read.",
        loaded.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
