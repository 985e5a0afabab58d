//! Command-line definitions (clap), and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  roster plan --config examples/quickstart/roster.yaml
  roster plan --format markdown > plan.md          # for a pull-request comment
  roster plan -o plan.json --detailed-exitcode     # CI: 0 = no changes, 2 = changes
  roster validate --config roster.yaml
  roster schema > schemas/roster.schema.json

Exit codes:
  0  success (with --detailed-exitcode: no changes)
  1  error: bad config or input, a conflict, an unreachable server
  2  with --detailed-exitcode: success, and the plan has changes";

/// Declarative directory → intranet user sync: plan it, review it, apply it, audit it.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a sync would do: creates, blocks, reactivations, renames, field reverts, role changes.
    Plan(PlanArgs),
    /// Check the config file and report every problem in it.
    Validate(ConfigArg),
    /// Print the JSON Schema of the config (or, with --plan, of the JSON plan).
    Schema {
        /// The JSON plan's schema instead of the config's.
        #[arg(long)]
        plan: bool,
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
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also save the plan as JSON, for `roster apply`.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// When to colour the text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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
