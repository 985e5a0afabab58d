//! Git, read-only: where the checked-out config stands (its commit, and whether it has
//! uncommitted edits), and the config file's text as it is at another commit — read through
//! git2, without a checkout and without touching the work tree. Loading that text is the
//! config's business ([`crate::config::load::load_at`]): git knows nothing of configs.

use std::path::{Path, PathBuf};

use git2::{Repository, Status, StatusOptions};

use crate::diag::Source;
use crate::plan::Revision;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GitError {
    #[error("{path} is not in a git repository")]
    #[diagnostic(code(roster::git::no_repository), help("`--base` and `--rev` read the config from git history: run Roster inside the config repository"))]
    NoRepository { path: String },
    #[error("cannot resolve `{rev}` in {repo}: {message}")]
    #[diagnostic(code(roster::git::revision), help("name a branch, tag or commit that exists locally (in CI, fetch the base branch first: `git fetch origin main`)"))]
    Revision {
        rev: String,
        repo: String,
        message: String,
    },
    #[error("{path} does not exist at `{rev}`")]
    #[diagnostic(
        code(roster::git::no_config),
        help("the config was added after that commit; plan against a later base")
    )]
    NoConfig { path: String, rev: String },
    #[error("{path} at `{rev}` is not UTF-8 text")]
    #[diagnostic(code(roster::git::not_text))]
    NotText { path: String, rev: String },
}

/// The repository holding `path`, and `path` relative to its work tree.
fn locate(path: &Path) -> Result<(Repository, PathBuf), GitError> {
    let no_repo = || GitError::NoRepository {
        path: path.display().to_string(),
    };
    let abs = std::path::absolute(path).map_err(|_| no_repo())?;
    let folder = abs.parent().ok_or_else(no_repo)?;
    let repo = Repository::discover(folder).map_err(|_| no_repo())?;
    let workdir = repo.workdir().ok_or_else(no_repo)?;
    let workdir = workdir
        .canonicalize()
        .unwrap_or_else(|_| workdir.to_path_buf());
    let folder = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    let rel = folder
        .strip_prefix(&workdir)
        .map_err(|_| no_repo())?
        .join(abs.file_name().ok_or_else(no_repo)?);
    Ok((repo, rel))
}

/// HEAD's commit and whether the config file differs from it; `None` outside a repository or
/// before the first commit.
pub fn revision(path: &Path) -> Option<Revision> {
    let (repo, rel) = locate(path).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    let mut opts = StatusOptions::new();
    opts.pathspec(&rel)
        .include_untracked(true)
        .disable_pathspec_match(true);
    let dirty = repo
        .statuses(Some(&mut opts))
        .ok()?
        .iter()
        .any(|e| e.status() != Status::CURRENT && !e.status().is_ignored());
    Some(Revision {
        commit: head.id().to_string(),
        dirty,
    })
}

/// The file at `path` as it is at `rev`, named `<path>@<short commit>` for diagnostics, and
/// that commit's revision.
pub fn file_at(path: &Path, rev: &str) -> Result<(Source, Revision), GitError> {
    let (repo, rel) = locate(path)?;
    let repo_name = repo
        .workdir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| GitError::Revision {
            rev: rev.to_owned(),
            repo: repo_name,
            message: e.message().to_owned(),
        })?;
    let no_config = || GitError::NoConfig {
        path: rel.display().to_string(),
        rev: rev.to_owned(),
    };
    let entry = commit
        .tree()
        .map_err(|_| no_config())?
        .get_path(&rel)
        .map_err(|_| no_config())?;
    let blob = repo.find_blob(entry.id()).map_err(|_| no_config())?;
    let text = std::str::from_utf8(blob.content()).map_err(|_| GitError::NotText {
        path: rel.display().to_string(),
        rev: rev.to_owned(),
    })?;
    let id = commit.id().to_string();
    let short = crate::digest::short(&id, 12);
    let src = Source::new(
        Path::new(&format!("{}@{short}", path.display())),
        text.to_owned(),
    );
    let revision = Revision {
        commit: id,
        dirty: false,
    };
    Ok((src, revision))
}
