//! One module per subcommand. Each command takes the resolved [`Context`] and its own args.

mod deploy;
mod info;
mod init;
mod lock;
mod package;
mod plan;
mod print;
mod remove;
mod rollback;
mod schema;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use strata_manifest::{LoadOptions, Loaded};

use crate::cli::{Command, GlobalArgs};
use crate::error::{CliError, render_diagnostic};
use crate::printer::Printer;

/// Everything a command needs that came from global flags and the process environment.
pub struct Context {
    pub printer: Printer,
    pub project_dir: PathBuf,
    pub load_options: LoadOptions,
    /// The process environment, read once.
    pub env: BTreeMap<String, String>,
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
        })
    }

    /// Loads and validates the manifest; warnings go to stderr (unless `--quiet`).
    pub fn load_manifest(&self) -> Result<Loaded, CliError> {
        let loaded = strata_manifest::load(&self.load_options)?;
        self.show_warnings(&loaded.warnings);
        Ok(loaded)
    }

    fn with_cloud_variables(&self) -> Result<Self, CliError> {
        let cloud = crate::cloud_variables::aws_cloud_access().map_err(|error| {
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
        Command::Info => info::run(context),
        Command::Rollback(args) => rollback::run(context, &args),
        Command::Remove(args) => remove::run(context, &args),
    }
}
