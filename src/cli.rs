//! Command-line definitions (clap), and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::intranet::scim::cache::Refresh;
use crate::plan::Allowances;

const EXAMPLES: &str = "\
Examples:
  roster plan --config examples/quickstart/roster.yaml
  roster plan --format markdown > plan.md          # for a pull-request comment
  roster plan -o plan.json --detailed-exitcode     # CI: 0 = no changes, 2 = changes
  roster plan --base origin/main --format markdown # what this pull request changes
  roster apply --unattended -o pending.json        # a scheduled sync: 4 = saved for approval
  roster explain ada.lovelace                       # every rule that decides ada's account
  roster validate --config roster.yaml
  roster snapshot directory -o directory.ldif      # what the directory holds, as read
  roster schema > schemas/roster.schema.json

Exit codes:
  0  success (with --detailed-exitcode: no changes)
  1  error: bad config or input, a conflict, an unreachable server
  2  with --detailed-exitcode: success, and the plan has changes
  3  apply: part of the plan was not applied (failed, stale or interrupted), or something was
     written and then a later step failed (audit report, state file, commit)
  4  refused by the safety policy or the read guard (nothing was changed); apply --unattended:
     the plan needs a person's approval (nothing was changed; the plan is kept)
  5  apply: the saved plan is stale (config, commit or systems moved) or its figures do not
     match its changes, or the config has uncommitted changes; nothing was changed";

/// Declarative directory → intranet user sync: plan it, review it, apply it, audit it.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log each exchange with the servers on stderr (HTTP: method, URL, status, time, retries;
    /// LDAP: bind, searches, result codes); -vv adds the bodies. Secrets are never shown.
    /// ROSTER_LOG (an env-filter directive, e.g. `roster=debug`) overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a sync would do: creates, blocks, reactivations, renames, field reverts, role changes.
    Plan(PlanArgs),
    /// Show every rule that decides one person's account: syncing groups and their nesting
    /// paths, the disabled rule, the username and ID attributes, each mapped field on both
    /// sides, admin roles, protected and adopt, and the plan's action (or why there is none).
    Explain(ExplainArgs),
    /// Carry out a plan: a saved one exactly (`roster apply plan.json`), or a fresh one after
    /// confirmation. Writes the audit report and commits it.
    Apply(ApplyArgs),
    /// Check the config file and report every problem in it; then read the directory (as plan
    /// does) and check that every configured group and mapped attribute resolves to users.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the config (or, with --plan, of the JSON plan).
    Schema {
        /// The JSON plan's schema instead of the config's.
        #[arg(long)]
        plan: bool,
    },
    /// Write what a source holds right now to a file, as it was read.
    #[command(subcommand)]
    Snapshot(Snapshot),
    /// Write a starting config from the live systems: intranet groups and their holders as admin
    /// roles, the populated fields, and the directory's groups to pick syncing groups from.
    Export {
        /// A config with at least `directory:` and `intranet:` (where to read from).
        #[arg(
            long,
            short = 'c',
            default_value = "roster.yaml",
            env = "ROSTER_CONFIG"
        )]
        config: PathBuf,
        /// Where to write the new config (`-` for stdout).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file; relative paths inside it resolve from its folder.
    #[arg(
        long,
        short = 'c',
        default_value = "roster.yaml",
        env = "ROSTER_CONFIG"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Check the config file only: do not read the directory, so groups and mapped attributes
    /// are not checked against it.
    #[arg(long)]
    pub config_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum Snapshot {
    /// The directory's users and groups in the source's own format, readable back as the
    /// directory: LDIF (RFC 2849) for `ldap` and `ldif` (`directory.ldif`), CSV for `csv`
    /// (`directory.csv.file`), Entra ID JSON for `entra` (`directory.entra_snapshot`).
    Directory {
        #[command(flatten)]
        config: ConfigArg,
        /// The file to write (`.ldif`, `.csv` or `.json`, as the source writes); `-` for stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
    /// The intranet's users and groups as SCIM ListResponse JSON, readable back as `intranet.json`.
    Intranet {
        #[command(flatten)]
        config: ConfigArg,
        /// The JSON file to write; `-` for stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// A plan saved with `roster plan -o`. Without it, Roster plans now, shows the plan and asks.
    pub plan: Option<PathBuf>,
    /// Apply a fresh plan without asking (needed when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// A run with no one watching (a scheduled sync): apply the plan, without asking, only if it
    /// fits `policy.unattended`; otherwise exit 4, write nothing, and keep the plan for a person
    /// to approve (a fresh plan is saved to --out). Recorded in the audit.
    #[arg(long, conflicts_with = "auto_approve")]
    pub unattended: bool,
    /// Who approved this saved plan (the reviewers of the CI environment that gated it, say):
    /// recorded in the audit, in each row's Details and in the report. Only with a saved plan
    /// (a fresh plan was seen by no one), and not with --unattended.
    #[arg(
        long,
        value_name = "NAME",
        requires = "plan",
        conflicts_with = "unattended",
        value_parser = approver
    )]
    pub approved_by: Option<String>,
    /// With --unattended and no saved plan: where to save a plan that needs approval. Default
    /// `pending-plan.json` in Roster's data folder (`.roster/` beside the config, or
    /// `$ROSTER_DATA_DIR`).
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        requires = "unattended",
        conflicts_with = "plan"
    )]
    pub out: Option<PathBuf>,
    /// One-run exceptions to the safety policy, for a fresh plan.
    #[command(flatten)]
    pub allow: AllowArgs,
    /// Where the audit report goes, relative to the config's folder.
    #[arg(long, default_value = "audit", value_name = "DIR")]
    pub audit_dir: PathBuf,
    /// Write the audit report (and state file) without committing them.
    #[arg(long)]
    pub no_commit: bool,
    /// Apply although the config has uncommitted changes (recorded in the audit report).
    /// Without it, apply refuses a config that differs from its last commit: commit it first.
    #[arg(long)]
    pub allow_dirty: bool,
    /// How to read a live intranet: `auto` reads only the Users changed since the cache (when it
    /// can be verified, else everything); `full` reads everything and rewrites the cache.
    #[arg(long, value_enum, default_value_t = Refresh::Auto, value_name = "MODE")]
    pub refresh: Refresh,
    /// When to colour the plan shown before asking (as `plan --color`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Show what the config change since REF does: plan the config at REF and the current one
    /// against one read of the systems, and compare (drift shown apart).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Plan the config as it is at REF (a branch, tag or commit) instead of the work tree's.
    #[arg(long, value_name = "REF")]
    pub rev: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also save the plan as JSON, for `roster apply`.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// With `--format markdown`: keep the output within N bytes (a GitHub comment holds 65536
    /// characters). The refusals, the warnings and the summary come first and whole, then each
    /// section's first rows and how many more it has; a cut output says so at its top.
    #[arg(long, value_name = "N")]
    pub max_bytes: Option<usize>,
    /// With `--max-bytes`: also write the whole Markdown, not cut, to FILE (for a job summary or
    /// an artifact), from the same read.
    #[arg(long, value_name = "FILE", requires = "max_bytes")]
    pub full_markdown: Option<PathBuf>,
    /// Exit 2 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub allow: AllowArgs,
    /// When to colour the text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// How to read a live intranet: `auto` reads only the Users changed since the cache (when it
    /// can be verified, else everything); `full` reads everything and rewrites the cache.
    #[arg(long, value_enum, default_value_t = Refresh::Auto, value_name = "MODE")]
    pub refresh: Refresh,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The person: a username (any case), a DN, an immutable ID or an intranet account's SCIM id.
    pub user: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output format on stdout (`text` or `json`).
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
    /// How to read a live intranet (as `plan --refresh`).
    #[arg(long, value_enum, default_value_t = Refresh::Auto, value_name = "MODE")]
    pub refresh: Refresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

/// One-run exceptions to the safety policy's limits, recorded in the plan's `allowances` and the
/// audit.
#[derive(Debug, Args)]
pub struct AllowArgs {
    /// Allow up to N blocks in this run, whatever `policy.max_blocks` says (recorded in the plan).
    #[arg(long, value_name = "N")]
    pub allow_blocks: Option<usize>,
    /// Allow up to N cleared field values (a mapped field going from a value to none) in this
    /// run, whatever `policy.max_clears` says (recorded in the plan).
    #[arg(long, value_name = "N")]
    pub allow_clears: Option<usize>,
    /// Allow up to N role revokes in this run, whatever `policy.max_revokes` says (recorded in
    /// the plan).
    #[arg(long, value_name = "N")]
    pub allow_revokes: Option<usize>,
    /// Allow up to N renames (each changes a login) in this run, whatever `policy.max_renames`
    /// says (recorded in the plan).
    #[arg(long, value_name = "N")]
    pub allow_renames: Option<usize>,
}

impl AllowArgs {
    pub fn allowances(&self) -> Allowances {
        Allowances {
            allow_blocks: self.allow_blocks,
            allow_clears: self.allow_clears,
            allow_revokes: self.allow_revokes,
            allow_renames: self.allow_renames,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stdout: `auto` on a terminal unless `NO_COLOR` is set.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// `--approved-by`: a name for the audit, one line of printable text.
fn approver(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty name: say who approved the plan, or leave --approved-by out".into());
    }
    if s.chars().any(crate::text::is_hostile) {
        return Err("a name with control characters: give the approver's login or name".into());
    }
    if s.chars().count() > 256 {
        return Err("longer than 256 characters: give the approvers' logins".into());
    }
    Ok(s.to_owned())
}
