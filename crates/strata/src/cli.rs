//! Command-line arguments. Only this module knows about clap.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use strata_manifest::Cloud;

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Build byte-identical Python function zips and layers without Docker, and deploy them",
    long_about = "strata reads one manifest (strata.yml, or an existing serverless.yml as-is), builds \
                  byte-identical function zips and dependency layers for the target's Python, CPU and \
                  glibc without Docker, and deploys them to AWS Lambda, Azure Functions and Google \
                  Cloud Functions.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Manifest to read instead of ./strata.yml or ./serverless.yml
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Stage to resolve (default: provider.stage, then "dev")
    #[arg(long, global = true, value_name = "STAGE")]
    pub stage: Option<String>,

    /// Region override, also the value of ${opt:region}
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr; no progress
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Format of the result on stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub output_format: OutputFormat,

    /// When to use colours on stderr and stdout
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Never draw progress bars (they are only drawn when stderr is a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// Report for GitHub Actions: annotations, job summary, step outputs (on by itself when
    /// GITHUB_ACTIONS=true)
    #[arg(long, global = true)]
    pub github: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest and report every problem at once
    Validate,
    /// Print the fully resolved manifest for a stage
    Print(PrintArgs),
    /// Print the JSON Schema of the manifest, for editors
    Schema,
    /// Write a starter project (handler, strata.yml, requirements.txt)
    Init(InitArgs),
    /// Build the function zips and dependency layers the stage needs, byte-identical
    Package(PackageArgs),
    /// Pin every dependency set for every target in strata.lock
    Lock(LockArgs),
    /// Package the stage, then update every cloud it targets, changing only what differs
    Deploy(DeployArgs),
    /// Show what `deploy` would change, without changing anything
    Plan(PlanArgs),
    /// Show what is deployed for the stage on each cloud it targets
    Info(InfoArgs),
    /// Move each function's stage pointer back to the previous (or given) release
    Rollback(RollbackArgs),
    /// Delete the functions, layer versions, objects and role strata created for the stage
    Remove(RemoveArgs),
    /// Show the log lines the stage's deployed functions wrote
    Logs(LogsArgs),
    /// Call a deployed function on its stage, or run its handler here with --local
    Invoke(InvokeArgs),
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this function; repeat for several (default: every function of the stage)
    #[arg(long = "function", short = 'f', value_name = "NAME")]
    pub functions: Vec<String>,

    /// How far back to start: 30s, 10m, 2h, 1d
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub since: String,

    /// Keep following new lines until Ctrl-C
    #[arg(long)]
    pub tail: bool,

    /// Only lines containing this text
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// At most this many lines (the newest)
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub limit: usize,

    #[command(flatten)]
    pub clouds: CloudFilterArgs,
}

/// The sample events `invoke --local --event` supplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SampleEvent {
    /// API Gateway REST (proxy) request
    Api,
    /// S3 ObjectCreated records
    S3,
    /// SQS records
    Sqs,
    /// EventBridge scheduled event
    Schedule,
    /// Pub/Sub message as a CloudEvent
    Pubsub,
    /// Cloud Storage or Azure blob object
    Storage,
    /// Plain HTTP request (Azure, Cloud Functions)
    Http,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function to call (required when the stage has more than one)
    #[arg(long = "function", short = 'f', value_name = "NAME")]
    pub function: Option<String>,

    /// The event, as JSON text
    #[arg(long, value_name = "JSON", conflicts_with_all = ["path", "event"])]
    pub data: Option<String>,

    /// The event, from a JSON file
    #[arg(long, value_name = "FILE", conflicts_with = "event")]
    pub path: Option<PathBuf>,

    /// Run the handler on this machine with the target's Python instead of calling the cloud
    #[arg(long)]
    pub local: bool,

    /// A realistic sample event of this shape (with --local)
    #[arg(long, value_enum, requires = "local", value_name = "KIND")]
    pub event: Option<SampleEvent>,

    /// The cloud to call, when the function deploys to several
    #[arg(long, value_parser = cloud_parser(), value_name = "CLOUD")]
    pub cloud: Option<Cloud>,

    /// The HTTP method to call an HTTP function with (default: POST with an event when the
    /// function takes it, else the first method it takes)
    #[arg(long, value_name = "METHOD", conflicts_with = "local")]
    pub method: Option<String>,

    /// A value of the function's route parameter (`{id}` in its route); repeat for several
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = pair_parser, conflicts_with = "local")]
    pub params: Vec<(String, String)>,

    /// A query string pair to add to the function's URL; repeat for several
    #[arg(long = "query", value_name = "KEY=VALUE", value_parser = pair_parser, conflicts_with = "local")]
    pub query: Vec<(String, String)>,
}

/// `NAME=VALUE`, split at the first `=`; the name may not be empty.
fn pair_parser(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// Which functions a deploy covers and how hard it pushes.
#[derive(Debug, Clone, Args)]
pub struct DeploySelectionArgs {
    /// Only this function (and the layers it uses); repeat for several
    #[arg(long = "function", short = 'f', value_name = "NAME")]
    pub functions: Vec<String>,

    /// Update and publish every function even when the deployed state already matches
    #[arg(long)]
    pub force: bool,

    /// Take over a function, role, layer or default deployment bucket that exists under
    /// strata's name but that strata did not create (it is then marked as strata's); without
    /// it such a resource is refused
    #[arg(long)]
    pub adopt: bool,

    #[command(flatten)]
    pub clouds: CloudFilterArgs,
}

/// Which clouds a command acts on.
#[derive(Debug, Clone, Default, Args)]
pub struct CloudFilterArgs {
    /// Act on this cloud only; repeat for several (default: every cloud the stage targets)
    #[arg(long = "cloud", value_parser = cloud_parser(), value_name = "CLOUD")]
    pub clouds: Vec<Cloud>,
}

impl CloudFilterArgs {
    pub fn clouds(&self) -> Vec<Cloud> {
        self.clouds.clone()
    }
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub clouds: CloudFilterArgs,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub selection: DeploySelectionArgs,

    /// Only show what would change, like `strata plan`
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub lock_mode: LockModeArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: DeploySelectionArgs,

    #[command(flatten)]
    pub lock_mode: LockModeArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Only this function; repeat for several (default: every function of the stage)
    #[arg(long = "function", short = 'f', value_name = "NAME")]
    pub functions: Vec<String>,

    /// Version to move the stage alias to (default: the one before the current)
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    #[command(flatten)]
    pub clouds: CloudFilterArgs,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Remove without asking for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    #[command(flatten)]
    pub clouds: CloudFilterArgs,
}

/// How builds treat `strata.lock` and the network.
#[derive(Debug, Clone, Args)]
pub struct LockModeArgs {
    /// Fail when strata.lock is missing or out of date instead of updating it (for CI)
    #[arg(long)]
    pub locked: bool,

    /// Build from strata.lock and the caches only: no network (the native resolver may
    /// resolve from its HTTP cache)
    #[arg(long)]
    pub offline: bool,

    #[command(flatten)]
    pub resolver: ResolverArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Which resolver pins requirements, and how it reads indexes.
#[derive(Debug, Clone, Default, Args)]
pub struct ResolverArgs {
    /// Resolver for stale requirements: native (strata's own, the default), uv or pip
    /// [env: STRATA_RESOLVER]
    #[arg(long, value_enum, value_name = "RESOLVER")]
    pub resolver: Option<ResolverChoice>,

    /// With several indexes, take a package from the first that has it (first-index, the
    /// default) or from all of them (merged, as pip does); native resolver only
    /// [env: STRATA_INDEX_STRATEGY]
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub index_strategy: Option<IndexStrategyChoice>,

    /// Ignore files uploaded after this time (RFC 3339, e.g. 2025-06-01T00:00:00Z); native
    /// resolver only [env: STRATA_EXCLUDE_NEWER]
    #[arg(long, value_name = "TIME")]
    pub exclude_newer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolverChoice {
    Native,
    Uv,
    Pip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IndexStrategyChoice {
    FirstIndex,
    Merged,
}

/// What to do when another strata process is using the project (`.strata/`, strata.lock).
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Fail at once when another strata process is using this project, instead of waiting
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for another strata process using this project
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub lock_timeout: u64,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Only this function (and the layers it uses); repeat for several
    #[arg(long = "function", short = 'f', value_name = "NAME")]
    pub functions: Vec<String>,

    /// Only the dependency layers
    #[arg(long)]
    pub layers_only: bool,

    /// Output directory (default: .strata/build/<stage>)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub clouds: CloudFilterArgs,

    #[command(flatten)]
    pub lock_mode: LockModeArgs,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Re-resolve every package to the newest version the requirements allow
    #[arg(long, conflicts_with = "upgrade_packages")]
    pub upgrade: bool,

    /// Re-resolve only this package (repeatable); the others keep their pins
    #[arg(long = "upgrade-package", value_name = "NAME")]
    pub upgrade_packages: Vec<String>,

    /// Only check that strata.lock is up to date; exit 1 when it is not
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub resolver: ResolverArgs,

    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct PrintArgs {
    /// Document format; defaults to YAML, or JSON with --output-format json
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<DocumentFormat>,

    /// Show environment values that look like secrets (masked as **** by default)
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocumentFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cloud to target; repeat for several (default: aws)
    #[arg(long = "cloud", value_parser = cloud_parser(), value_name = "CLOUD")]
    pub clouds: Vec<Cloud>,

    /// Service name (default: the directory's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Directory to write into (created if missing)
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
}

/// `--cloud` takes the spellings manifests use; clap lists them in `--help` and in errors.
fn cloud_parser() -> impl clap::builder::TypedValueParser<Value = Cloud> {
    clap::builder::PossibleValuesParser::new(Cloud::ALL.map(Cloud::as_str))
        .map(|name| name.parse::<Cloud>().expect("every listed name is a cloud"))
}
