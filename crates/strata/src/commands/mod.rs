//! One module per subcommand. Each command takes the resolved [`Context`] and its own args.

mod deploy;
mod info;
mod init;
mod invoke;
mod lock;
mod logs;
mod package;
mod plan;
mod print;
mod remove;
mod rollback;
mod schema;
pub mod stage;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use strata_manifest::{LoadOptions, Loaded, Severity, UnmanagedKind};

use crate::cli::{Command, GlobalArgs};
use crate::clouds::Clouds;
use crate::error::{CliError, render_diagnostic};
use crate::printer::Printer;

/// Everything a command needs that came from global flags and the process environment.
pub struct Context {
    pub printer: Printer,
    pub project_dir: PathBuf,
    pub load_options: LoadOptions,
    /// The process environment, read once.
    pub env: BTreeMap<String, String>,
    /// The backends commands reach the clouds through.
    pub clouds: Clouds,
}

/// How a command uses the manifest, which decides which warnings are worth showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestUse {
    /// `validate`, `print`, `package`, `lock`: every warning on its own line.
    Build,
    /// `deploy` and `plan`: the parts strata leaves alone are summed up in one line.
    Deploy,
    /// `info`, `rollback`, `remove`: only the service, stage and names matter.
    Inspect,
}

impl Context {
    pub fn from_args(global: &GlobalArgs, printer: Printer) -> Result<Self, CliError> {
        let project_dir = std::env::current_dir().map_err(|error| {
            CliError::from_source(&error).with_hint("run strata from an existing directory")
        })?;
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        let load_options = LoadOptions {
            project_dir: project_dir.clone(),
            config_path: global.config.clone(),
            stage: global.stage.clone(),
            region: global.region.clone(),
            env: env.clone(),
            cloud: strata_manifest::CloudAccess::Deferred,
        };
        Ok(Self {
            printer,
            project_dir,
            load_options,
            env,
            clouds: Clouds::standard(),
        })
    }

    /// Loads and validates the manifest; warnings go to stderr (unless `--quiet`). For a
    /// deploy the per-item "not managed" warnings are folded into one summary line; when only
    /// names are needed they are dropped.
    pub fn load_manifest(&self, usage: ManifestUse) -> Result<Loaded, CliError> {
        let loaded = strata_manifest::load(&self.load_options)?;
        if let Some(github) = self.printer.github() {
            for value in secret_values(&loaded.config) {
                github.mask(&value);
            }
        }
        if usage == ManifestUse::Build {
            self.show_warnings(&loaded.warnings);
            return Ok(loaded);
        }
        let config = &loaded.config;
        let folded: Vec<&str> = config
            .unmanaged
            .iter()
            .filter(|item| match item.kind {
                UnmanagedKind::Event | UnmanagedKind::Resource => true,
                // Only reported when a role ARN is given (otherwise strata's role carries
                // them): then each statement is a warning of its own, worth reading.
                UnmanagedKind::IamStatement | UnmanagedKind::Plugin | UnmanagedKind::Setting => {
                    false
                }
            })
            .map(|item| item.key_path.as_str())
            .collect();
        let warnings: Vec<_> = loaded
            .warnings
            .iter()
            .filter(|warning| {
                !(warning.severity == Severity::Warning
                    && folded.contains(&warning.key_path.as_str()))
            })
            .cloned()
            .collect();
        self.show_warnings(&warnings);
        if usage == ManifestUse::Deploy && !self.printer.is_json() {
            let items = crate::clouds::unmanaged_items(config);
            if !items.is_empty() {
                self.printer.warning(&format!(
                    "not managed yet (left as they are): {}",
                    items.join(", ")
                ));
            }
        }
        Ok(loaded)
    }

    fn with_cloud_variables(&self) -> Result<Self, CliError> {
        let cloud = crate::cloud_variables::cloud_access().map_err(|error| {
            CliError::from_source(&error).with_hint("strata could not start its async runtime")
        })?;
        Ok(Self {
            printer: self.printer.clone(),
            project_dir: self.project_dir.clone(),
            load_options: LoadOptions {
                cloud,
                ..self.load_options.clone()
            },
            env: self.env.clone(),
            clouds: self.clouds.clone(),
        })
    }

    pub fn show_warnings(&self, warnings: &[strata_manifest::Diagnostic]) {
        if self.printer.is_json() || self.printer.quiet() {
            return;
        }
        for warning in warnings {
            render_diagnostic(&self.printer, warning);
        }
    }
}

/// Every value of the stage strata would show as `****`: environment values the manifest
/// marks secret or that look secret, and Azure app settings that look secret. Inside GitHub
/// Actions they are masked in the log before any line could hold one.
fn secret_values(config: &strata_manifest::ResolvedConfig) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for function in config.functions.values() {
        for target in function.clouds.values() {
            for (key, value) in &target.environment {
                if function.secret_environment.contains(key)
                    || strata_provider::looks_secret(key, value)
                {
                    values.insert(value.clone());
                }
            }
        }
    }
    if let Some(azure) = &config.azure {
        for (key, value) in &azure.app_settings {
            if strata_provider::looks_secret(key, value) {
                values.insert(value.clone());
            }
        }
    }
    values
}

pub fn run(command: Command, context: &Context) -> Result<(), CliError> {
    // The commands that talk to the cloud anyway read `${ssm:…}`, `${cf:…}`, `${s3:…}` and
    // `${aws:accountId}` from AWS; the others report them as resolved at deploy time.
    let online;
    let context = match &command {
        Command::Package(_) | Command::Plan(_) | Command::Deploy(_) => {
            online = context.with_cloud_variables()?;
            &online
        }
        _ => context,
    };
    match command {
        Command::Validate => validate::run(context),
        Command::Print(args) => print::run(context, &args),
        Command::Schema => schema::run(context),
        Command::Init(args) => init::run(context, &args),
        Command::Package(args) => package::run(context, &args),
        Command::Lock(args) => lock::run(context, &args),
        Command::Deploy(args) => deploy::run(context, &args),
        Command::Plan(args) => plan::run(context, &args),
        Command::Info(args) => info::run(context, &args),
        Command::Rollback(args) => rollback::run(context, &args),
        Command::Remove(args) => remove::run(context, &args),
        Command::Logs(args) => logs::run(context, &args),
        Command::Invoke(args) => invoke::run(context, &args),
    }
}
