//! `strata rollback`: move the stage pointer of each function back to the previous (or the
//! given) release, on each cloud the stage targets. Nothing is rebuilt or uploaded.

use strata_provider::{RollbackReport, RollbackRequest};

use crate::cli::RollbackArgs;
use crate::clouds::{cloud_functions, runtime};
use crate::commands::stage::{self, CloudReport, Ending};
use crate::commands::{Context, ManifestUse};
use crate::error::CliError;
use crate::progress::CloudSpinners;

impl CloudReport for RollbackReport {
    fn failure(&self) -> Option<CliError> {
        self.functions.is_empty().then(|| {
            CliError::input(format!(
                "nothing of service `{}`, stage `{}` is deployed on {}, so there is nothing to \
                 roll back",
                self.service, self.stage, self.cloud
            ))
            .with_hint("check --stage and --region; `strata info` shows what is deployed")
        })
    }
}

pub fn run(context: &Context, args: &RollbackArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(ManifestUse::Inspect)?;
    let config = &loaded.config;
    let asked_for = args.clouds.clouds();
    let targets = stage::targets(context, config, &args.functions, &asked_for)?;
    let spinners = &CloudSpinners::new(&context.printer);
    let outcomes = runtime()?.block_on(stage::on_each_cloud(
        context,
        config,
        &args.functions,
        &targets,
        |cloud, backend| async move {
            let _spinner = spinners.start(cloud.as_str(), "rolling back");
            // Empty means every function of the stage on that cloud.
            let functions = if args.functions.is_empty() {
                Vec::new()
            } else {
                cloud_functions(config, &args.functions, cloud)
                    .into_iter()
                    .map(|(_, target)| target.deployed_name.clone())
                    .collect()
            };
            let request = RollbackRequest {
                service: config.service.clone(),
                stage: config.stage.clone(),
                functions,
                to: args.to.clone(),
            };
            backend.rollback(&request).await
        },
    ));
    stage::finish(
        context,
        config,
        Ending {
            kind: "rollback",
            verb: "rollback",
            asked_for: &asked_for,
            interrupted: None,
            error: None,
        },
        outcomes,
    )
}
