//! The audit report of an apply: a CSV in the intranet audit log's columns and a Markdown
//! summary, written to `audit/<UTC time>-<plan digest>.{csv,md}` after every apply (partial and
//! failed ones too) and committed with git2, staging only those two files.
//!
//! Pure parts (rows, CSV, Markdown, names) take the time and the identities as values; only
//! [`write_report`] and [`commit_files`] touch the disk.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::Timestamp;
use miette::Diagnostic;
use thiserror::Error;

use crate::plan::Plan;
use crate::render::show;
use crate::report::{ApplyReport, ChangeOutcome};

/// The intranet audit log's columns, in its order.
pub const COLUMNS: [&str; 9] = [
    "Date/Time",
    "User name",
    "Impersonated user",
    "IP address / Proxy IP",
    "Type",
    "Category",
    "Subcategory",
    "Object",
    "Details",
];

/// Who ran the apply, as whom, from where, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub now: SystemTime,
    /// The person or CI actor running Roster (`User name`).
    pub runner: String,
    /// The identity the SCIM token acts as (`Impersonated user`).
    pub scim_identity: String,
    /// The runner's address as the intranet sees it (`IP address / Proxy IP`).
    pub address: String,
    /// `--allow-dirty`: applied with uncommitted changes in the config.
    pub allow_dirty: bool,
    /// `--unattended`: no one watched the run; the plan fit `policy.unattended`.
    pub unattended: bool,
    /// `--approved-by`: who approved the plan.
    pub approved_by: Option<String>,
    /// The signal that interrupted the apply, if one did.
    pub interrupted: Option<String>,
}

/// A commit author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Error, Diagnostic)]
pub enum AuditError {
    #[error("could not write the audit report {path}: {problem}")]
    #[diagnostic(
        code(roster::audit::write),
        help("check that the audit directory is writable")
    )]
    Write { path: String, problem: String },

    #[error("could not commit the audit report: {problem}")]
    #[diagnostic(
        code(roster::audit::commit),
        help("the report files are written; commit them by hand, or run with --no-commit outside a git repository")
    )]
    Commit { problem: String },

    #[error("no author for the audit commit")]
    #[diagnostic(
        code(roster::audit::author),
        help(
            "set GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, or user.name and user.email in git config"
        )
    )]
    NoAuthor,
}

/// The runner's name ("Run by"): the configured one, else `GITHUB_ACTOR`, else the git identity
/// (`git`: `user.name <user.email>`, see [`git_identity`]), else `USER`, `USERNAME`; "unknown"
/// only when none is set.
pub fn runner_identity(
    configured: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    git: impl FnOnce() -> Option<String>,
) -> String {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    configured
        .map(String::from)
        .or_else(|| var("GITHUB_ACTOR"))
        .or_else(git)
        .or_else(|| ["USER", "USERNAME"].iter().find_map(|k| var(k)))
        .unwrap_or_else(|| "unknown".into())
}

/// `user.name <user.email>` from the git config of the repository holding `near` (its own,
/// then the global one), or the one of them that is set.
pub fn git_identity(near: &std::path::Path) -> Option<String> {
    let near = if near.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        near
    };
    let config = match git2::Repository::discover(near) {
        Ok(repo) => repo.config().ok()?,
        Err(_) => git2::Config::open_default().ok()?,
    };
    let get = |k: &str| config.get_string(k).ok().filter(|v| !v.trim().is_empty());
    match (get("user.name"), get("user.email")) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (name, email) => name.or(email),
    }
}

/// The commit author from the environment: `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL`, else
/// `GITHUB_ACTOR` (with its GitHub noreply address). `None`: fall back to git config.
pub fn author_from_env(env: impl Fn(&str) -> Option<String>) -> Option<Author> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let (Some(name), Some(email)) = (get("GIT_AUTHOR_NAME"), get("GIT_AUTHOR_EMAIL")) {
        return Some(Author { name, email });
    }
    let actor = get("GITHUB_ACTOR")?;
    let email = match get("GITHUB_ACTOR_ID") {
        Some(id) => format!("{id}+{actor}@users.noreply.github.com"),
        None => format!("{actor}@users.noreply.github.com"),
    };
    Some(Author { name: actor, email })
}

/// `sha256:<hex>` of the plan's JSON form.
pub fn plan_digest(plan: &Plan) -> String {
    crate::digest::bytes(&serde_json::to_vec(plan).unwrap_or_default())
}

/// The instant of a system time (the epoch for one outside jiff's years -9999 to 9999).
fn utc(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2026-11-26 01:19:44 UTC`
pub fn display_time(t: SystemTime) -> String {
    utc(t).strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `20261126T011944Z-<first 12 hex of the plan digest>`
pub fn file_stem(t: SystemTime, digest: &str) -> String {
    let short = crate::digest::short(digest, 12);
    format!("{}-{short}", utc(t).strftime("%Y%m%dT%H%M%SZ"))
}

/// Neutralise a cell a spreadsheet would run as a formula (OWASP CSV injection): prefix `'`.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn details(co: &ChangeOutcome) -> String {
    let c = &co.change;
    let mut parts: Vec<String> = Vec::new();
    if let Some(r) = &c.role {
        parts.push(format!("role {} via group {}", r.role, r.group));
    }
    parts.extend(c.fields.iter().map(|f| {
        format!(
            "{}: {} -> {}",
            f.name,
            show(f.before.as_deref()),
            show(f.after.as_deref())
        )
    }));
    parts.push(format!("outcome: {}", co.describe()));
    parts.join("; ")
}

/// How a row's Details say that no one watched the run (`roster apply --unattended`).
pub const UNATTENDED_DETAIL: &str = "run: unattended (fit policy.unattended)";

/// One row per change, in the plan's order, cells already escaped (control characters shown as
/// `\n`, `\x1b`…, as in the plan: see [`crate::text`]) and neutralised.
pub fn rows(report: &ApplyReport, ctx: &AuditContext) -> Vec<[String; 9]> {
    let when = display_time(ctx.now);
    report
        .outcomes
        .iter()
        .map(|co| {
            let c = &co.change;
            [
                when.clone(),
                ctx.runner.clone(),
                ctx.scim_identity.clone(),
                ctx.address.clone(),
                if c.action.is_role() {
                    "Groups"
                } else {
                    "Users"
                }
                .to_string(),
                "Sync".to_string(),
                c.action.name().to_string(),
                c.username.clone(),
                match (ctx.unattended, &ctx.approved_by) {
                    (true, _) => format!("{}; {UNATTENDED_DETAIL}", details(co)),
                    (false, Some(who)) => format!("{}; approved by: {who}", details(co)),
                    (false, None) => details(co),
                },
            ]
            .map(|cell| neutralise(&crate::text::escape(&cell)))
        })
        .collect()
}

/// RFC 4180 CSV: header row, CRLF line ends, quotes where needed.
pub fn render_csv(rows: &[[String; 9]]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(COLUMNS);
    for r in rows {
        let _ = w.write_record(r);
    }
    w.into_inner().unwrap_or_default()
}

/// A cell of the audit Markdown: escaped as in the Markdown plan ([`crate::text::markdown`]).
fn md_escape(s: &str) -> std::borrow::Cow<'_, str> {
    crate::text::markdown(s)
}

/// The run's facts as a `- Key: value` list, each outside value passed through `escape`:
/// Markdown escaping for the report, [`crate::text::shown`] for the commit message (plain
/// text, where `&lt;` would show as such).
fn facts(
    plan: &Plan,
    report: &ApplyReport,
    ctx: &AuditContext,
    digest: &str,
    escape: fn(&str) -> std::borrow::Cow<'_, str>,
) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "- Plan: `{digest}` ({} change{})\n",
        plan.changes.len(),
        crate::render::plural(plan.changes.len())
    ));
    md.push_str(&format!(
        "- Run by: {} as {} from {}\n",
        escape(&ctx.runner),
        escape(&ctx.scim_identity),
        escape(&ctx.address)
    ));
    md.push_str(&format!("- Outcome: {}\n", report.tally()));
    if let Some(w) = &report.writes {
        md.push_str(&format!("- Writes: {}\n", w.describe()));
    }
    for exception in plan.allowances.describe() {
        md.push_str(&format!("- Exception: {exception}\n"));
    }
    if ctx.allow_dirty {
        md.push_str(
            "- Exception: `--allow-dirty` applied with uncommitted changes in the config\n",
        );
    }
    if let Some(who) = &ctx.approved_by {
        md.push_str(&format!("- Approved by: {}\n", escape(who)));
    }
    if ctx.unattended {
        md.push_str("- Run: unattended (`roster apply --unattended`): the plan fit `policy.unattended`, no one approved it\n");
    }
    if let Some(rev) = &plan.inputs.config_revision {
        md.push_str(&format!("- Config commit: `{}`\n", rev.commit));
    }
    if let Some(signal) = &ctx.interrupted {
        md.push_str(&format!(
            "- Interrupted: by {signal}; no write started after it (changes marked `not_started`), and writes in flight were waited for (or, after a second signal, marked `unknown`)\n"
        ));
    }
    md
}

/// The Markdown summary beside the CSV.
pub fn render_markdown(
    plan: &Plan,
    report: &ApplyReport,
    ctx: &AuditContext,
    digest: &str,
) -> String {
    let mut md = format!("# Roster apply, {}\n\n", display_time(ctx.now));
    md.push_str(&facts(plan, report, ctx, digest, md_escape));
    md.push_str("\n| Outcome | Action | Object | Details |\n|---|---|---|---|\n");
    for co in &report.outcomes {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            co.outcome.name(),
            co.change.action.name(),
            md_escape(&crate::text::shown(&co.change.username)),
            md_escape(&details(co))
        ));
    }
    // The same words as the terminal's (after the table, which lists the changes it means).
    if let Some(next) = report.next_step() {
        md.push_str(&format!("\nThis apply is partial. {next}\n"));
    }
    md
}

/// The report's two files, written (and committed, unless `no_commit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFiles {
    pub csv: PathBuf,
    pub markdown: PathBuf,
    /// The commit's id, when committed.
    pub commit: Option<String>,
}

pub(crate) fn write_error(path: &Path, e: std::io::Error) -> AuditError {
    AuditError::Write {
        path: path.display().to_string(),
        problem: e.to_string(),
    }
}

/// Write `<dir>/<stem>.csv` and `.md`; then, unless `no_commit`, commit only those files (and
/// `also_commit`: the state file) in the git repository holding `dir`.
pub fn write_report(
    dir: &Path,
    plan: &Plan,
    report: &ApplyReport,
    ctx: &AuditContext,
    author: Option<&Author>,
    no_commit: bool,
    also_commit: &[PathBuf],
) -> Result<AuditFiles, AuditError> {
    let digest = plan_digest(plan);
    let stem = file_stem(ctx.now, &digest);
    let csv = dir.join(format!("{stem}.csv"));
    let markdown = dir.join(format!("{stem}.md"));
    let summary = render_markdown(plan, report, ctx, &digest);
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    std::fs::write(&csv, render_csv(&rows(report, ctx))).map_err(|e| write_error(&csv, e))?;
    std::fs::write(&markdown, &summary).map_err(|e| write_error(&markdown, e))?;
    let commit = if no_commit {
        None
    } else {
        let message = format!(
            "Roster apply: {}\n\n{}\nPlan-Digest: {digest}\n",
            report.tally(),
            facts(plan, report, ctx, &digest, crate::text::shown),
        );
        let mut files = vec![csv.clone(), markdown.clone()];
        files.extend(also_commit.iter().cloned());
        Some(commit_files(dir, &files, author, &message, ctx.now)?)
    };
    Ok(AuditFiles {
        csv,
        markdown,
        commit,
    })
}

/// Commit exactly `files` on top of HEAD: the new tree is HEAD's tree with these files put in;
/// the index gets these entries only, so the user's other changes stay as they were.
pub fn commit_files(
    near: &Path,
    files: &[PathBuf],
    author: Option<&Author>,
    message: &str,
    now: SystemTime,
) -> Result<String, AuditError> {
    let err = |e: git2::Error| AuditError::Commit {
        problem: e.message().to_string(),
    };
    let repo = git2::Repository::discover(near).map_err(err)?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| AuditError::Commit {
            problem: "the repository is bare".into(),
        })?
        .canonicalize()
        .map_err(|e| AuditError::Commit {
            problem: e.to_string(),
        })?;
    let secs = utc(now).as_second();
    let sig = match author {
        Some(a) => {
            git2::Signature::new(&a.name, &a.email, &git2::Time::new(secs, 0)).map_err(err)?
        }
        None => {
            let cfg = repo.signature().map_err(|_| AuditError::NoAuthor)?;
            let (name, email) = (
                cfg.name().unwrap_or_default().to_string(),
                cfg.email().unwrap_or_default().to_string(),
            );
            git2::Signature::new(&name, &email, &git2::Time::new(secs, 0)).map_err(err)?
        }
    };
    let parent = match repo.head() {
        Ok(h) => Some(h.peel_to_commit().map_err(err)?),
        Err(e)
            if e.code() == git2::ErrorCode::UnbornBranch
                || e.code() == git2::ErrorCode::NotFound =>
        {
            None
        }
        Err(e) => return Err(err(e)),
    };
    let base = match &parent {
        Some(c) => c.tree().map_err(err)?,
        None => {
            let empty = repo.treebuilder(None).map_err(err)?.write().map_err(err)?;
            repo.find_tree(empty).map_err(err)?
        }
    };
    let mut update = git2::build::TreeUpdateBuilder::new();
    let mut rels = Vec::new();
    for f in files {
        let abs = f.canonicalize().map_err(|e| AuditError::Commit {
            problem: format!("{}: {e}", f.display()),
        })?;
        let rel = abs
            .strip_prefix(&workdir)
            .map_err(|_| AuditError::Commit {
                problem: format!("{} is outside the repository", f.display()),
            })?
            .to_path_buf();
        let bytes = std::fs::read(&abs).map_err(|e| AuditError::Commit {
            problem: e.to_string(),
        })?;
        let blob = repo.blob(&bytes).map_err(err)?;
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        update.upsert(&rel_str, blob, git2::FileMode::Blob);
        rels.push(rel);
    }
    let tree_id = update.create_updated(&repo, &base).map_err(err)?;
    let tree = repo.find_tree(tree_id).map_err(err)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let oid = repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .map_err(err)?;
    // Stage just these paths so `git status` agrees with the new HEAD for them.
    let mut index = repo.index().map_err(err)?;
    for rel in &rels {
        index.add_path(rel).map_err(err)?;
    }
    index.write().map_err(err)?;
    Ok(oid.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::{Action, Change, FieldChange, Inputs};
    use crate::report::ChangeOutcome;
    use crate::report::Outcome;

    fn at(secs: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn civil_time() {
        assert_eq!(display_time(at(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(display_time(at(951_782_400)), "2000-02-29 00:00:00 UTC");
        assert_eq!(display_time(at(1_795_655_984)), "2026-11-26 01:19:44 UTC");
        assert_eq!(
            file_stem(at(1_795_655_984), "sha256:0123456789abcdef"),
            "20261126T011944Z-0123456789ab"
        );
        // A fraction of a second is dropped, never rounded up.
        let late = at(1_795_655_984) + Duration::from_millis(999);
        assert_eq!(display_time(late), "2026-11-26 01:19:44 UTC");
        assert_eq!(display_time(at(1_798_761_599)), "2026-12-31 23:59:59 UTC");
    }

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=1+1", "+x", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("alice"), "alice");
    }

    /// An apply of one update of `username`'s `field`, run by `runner`.
    fn one_update(
        username: &str,
        field: (&str, Option<&str>, Option<&str>),
        runner: &str,
    ) -> (ApplyReport, AuditContext) {
        let change = Change {
            action: Action::Update,
            username: username.into(),
            external_id: None,
            intranet_id: Some("1".into()),
            etag: None,
            fields: vec![FieldChange {
                name: field.0.into(),
                before: field.1.map(Into::into),
                after: field.2.map(Into::into),
                origin: None,
            }],
            role: None,
            reason: String::new(),
        };
        let report = ApplyReport {
            outcomes: vec![ChangeOutcome {
                change,
                outcome: Outcome::Applied,
                not_stored: Vec::new(),
            }],
            writes: None,
        };
        let ctx = AuditContext {
            now: at(0),
            runner: runner.into(),
            scim_identity: "scim".into(),
            address: "127.0.0.1".into(),
            allow_dirty: false,
            unattended: false,
            approved_by: None,
            interrupted: None,
        };
        (report, ctx)
    }

    #[test]
    fn an_unattended_run_is_recorded_in_each_row_and_the_summary() {
        let (report, mut ctx) = one_update("ada", ("phone", Some("1"), Some("2")), "ci");
        let plan = Plan::new(Default::default(), Vec::new(), Vec::new());
        let attended = render_markdown(&plan, &report, &ctx, "sha256:0");
        assert!(!attended.contains("unattended"), "{attended}");
        assert!(!rows(&report, &ctx)[0][8].contains("unattended"));
        ctx.unattended = true;
        assert_eq!(
            rows(&report, &ctx)[0][8],
            "phone: \"1\" -> \"2\"; outcome: applied; run: unattended (fit policy.unattended)"
        );
        assert!(render_markdown(&plan, &report, &ctx, "sha256:0")
            .contains("- Run: unattended (`roster apply --unattended`)"));
    }

    #[test]
    fn who_approved_is_recorded_in_each_row_and_the_summary() {
        let (report, mut ctx) = one_update("ada", ("phone", Some("1"), Some("2")), "ci");
        let plan = Plan::new(Default::default(), Vec::new(), Vec::new());
        assert!(!render_markdown(&plan, &report, &ctx, "sha256:0").contains("Approved by"));
        ctx.approved_by = Some("octo, <b>hubot</b>".into());
        assert_eq!(
            rows(&report, &ctx)[0][8],
            "phone: \"1\" -> \"2\"; outcome: applied; approved by: octo, <b>hubot</b>"
        );
        let md = render_markdown(&plan, &report, &ctx, "sha256:0");
        assert!(
            md.contains("- Approved by: octo, &lt;b&gt;hubot&lt;/b&gt;\n"),
            "{md}"
        );
    }

    #[test]
    fn first_a_one_change_plan_says_1_change_in_text_markdown_and_the_audit_summary() {
        let (report, ctx) = one_update("ada", ("phone", Some("1"), Some("2")), "ci");
        let changes = vec![report.outcomes[0].change.clone()];
        let plan = Plan::new(Default::default(), Vec::new(), changes);
        let audit = render_markdown(&plan, &report, &ctx, "sha256:0");
        assert!(audit.contains("(1 change)"), "{audit}");
        let text = crate::render::text::render(&plan, false);
        let md = crate::render::markdown::render(&plan, &[]);
        for out in [&text, &md] {
            assert!(
                out.contains("Plan: 1 to update (1 field differs)."),
                "{out}"
            );
        }
        for out in [&audit, &text, &md] {
            for noun in [
                "changes",
                "fields",
                "users",
                "accounts",
                "overrides",
                "members",
            ] {
                assert!(!out.contains(&format!(" 1 {noun}")), "{out}");
            }
        }
    }

    #[test]
    fn csv_has_the_columns_and_quotes() {
        let (report, ctx) = one_update(
            "=cmd|' /C calc'!A0",
            ("display_name", Some("A, \"B\""), None),
            "ci",
        );
        let out = String::from_utf8(render_csv(&rows(&report, &ctx))).unwrap();
        let mut r = csv::Reader::from_reader(out.as_bytes());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(&rec[7], "'=cmd|' /C calc'!A0");
        // Inner quotes are escaped in the display form, so the value reads back unambiguously.
        assert!(
            rec[8].contains(r#"display_name: "A, \"B\"" -> (none)"#),
            "{}",
            &rec[8]
        );
        assert!(out.contains("\r\n"));
        let plan = Plan::new(Inputs::default(), vec![], vec![]);
        assert!(plan_digest(&plan).starts_with("sha256:"));
    }

    #[test]
    fn hostile_values_are_escaped_in_the_csv_and_the_markdown() {
        let (report, ctx) = one_update(
            "mallory\n  ⊘ block ceo",
            (
                "job_title",
                Some("\x1b]0;pwned\x07"),
                Some("<b>x</b> | \x1b[2J\r\u{202e}"),
            ),
            "ci\x1b[2J",
        );
        let csv = String::from_utf8(render_csv(&rows(&report, &ctx))).unwrap();
        let rec = csv::Reader::from_reader(csv.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(&rec[1], "ci\\x1b[2J");
        assert_eq!(&rec[7], "mallory\\n  ⊘ block ceo");
        assert!(
            rec[8].contains(r#"job_title: "\x1b]0;pwned\x07" -> "<b>x</b> | \x1b[2J\r\u{202e}""#),
            "{}",
            &rec[8]
        );
        let plan = Plan::new(Inputs::default(), vec![], vec![]);
        let md = render_markdown(&plan, &report, &ctx, "sha256:00");
        for out in [&csv, &md] {
            for raw in ['\x1b', '\u{202e}', '\x07'] {
                assert!(!out.contains(raw), "{raw:?} in {out}");
            }
            assert!(!out.contains("mallory\n"), "{out}");
            assert!(!out.contains("\r\u{202e}"), "{out}");
        }
        assert!(md.contains(r#"| "mallory\\n  ⊘ block ceo" |"#), "{md}");
        assert!(md.contains("&lt;b&gt;x&lt;/b&gt; \\|"), "{md}");
        assert!(!md.contains("<b>"), "{md}");
    }

    #[test]
    fn identities_from_env() {
        let env = |k: &str| match k {
            "GITHUB_ACTOR" => Some("octo".to_string()),
            "USER" => Some("root".to_string()),
            _ => None,
        };
        let git = || Some("Ada Lovelace <ada@example.com>".to_string());
        assert_eq!(runner_identity(None, env, git), "octo");
        assert_eq!(runner_identity(Some("me"), env, git), "me");
        // No GITHUB_ACTOR: the git identity, before USER.
        let local = |k: &str| (k == "USER").then(|| "root".to_string());
        assert_eq!(
            runner_identity(None, local, git),
            "Ada Lovelace <ada@example.com>"
        );
        // An empty GITHUB_ACTOR counts as unset.
        let empty = |k: &str| (k == "GITHUB_ACTOR").then(String::new);
        assert_eq!(
            runner_identity(None, empty, git),
            "Ada Lovelace <ada@example.com>"
        );
        assert_eq!(runner_identity(None, local, || None), "root");
        assert_eq!(runner_identity(None, |_| None, || None), "unknown");
        assert_eq!(
            author_from_env(env).unwrap().email,
            "octo@users.noreply.github.com"
        );
        assert_eq!(author_from_env(|_| None), None);
    }

    #[test]
    fn first_git_identity_reads_the_config_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let mut config = repo.config().unwrap();
        config.set_str("user.name", "Grace Hopper").unwrap();
        config.set_str("user.email", "grace@example.com").unwrap();
        let sub = dir.path().join("ops");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(
            git_identity(&sub).as_deref(),
            Some("Grace Hopper <grace@example.com>")
        );
    }
}
