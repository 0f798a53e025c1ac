//! `strata package`: build every artifact the stage needs into `.strata/build/<stage>/`.

use strata_build::plan::PlanOptions;
use strata_build::{BuildOutcome, BuildSettings, build};

use crate::cli::{LockModeArgs, PackageArgs};
use crate::commands::Context;
use crate::error::CliError;
use crate::progress::Progress;
use crate::project_lock;

pub fn run(context: &Context, args: &PackageArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(crate::commands::ManifestUse::Build)?;
    let config = &loaded.config;
    let clouds = args.clouds.clouds();
    if !clouds.is_empty() {
        // Names the cloud no selected function targets, as the cloud commands do.
        crate::commands::stage::targets(context, config, &args.functions, &clouds)?;
    }
    let out_dir = match &args.out {
        Some(out) => context.project_dir.join(out),
        None => config
            .project_dir
            .join(".strata")
            .join("build")
            .join(&config.stage),
    };
    let settings = build_settings(
        context,
        &args.lock_mode,
        out_dir,
        PlanOptions {
            functions: args.functions.clone(),
            layers_only: args.layers_only,
            clouds,
        },
        strata_python::Upgrade::None,
    )?;
    let _project =
        project_lock::acquire(&context.printer, &config.project_dir, &args.lock_mode.wait)?;
    own_output_dir(&settings);
    let outcome = build_with_progress(context, config, &settings)?;
    if let Some(github) = context.printer.github() {
        let document = crate::printer::document("package", &outcome.report);
        let written = github
            .write_report(&context.project_dir, &document)
            .and_then(|path| {
                github.write_outputs(&[
                    ("changed", "0".to_owned()),
                    ("functions", "[]".to_owned()),
                    ("report", path.display().to_string()),
                ])?;
                github.write_summary(&crate::github::package_summary(&document))
            });
        if let Err(error) = written {
            context.printer.warning(&format!(
                "could not write the GitHub Actions report, outputs or job summary: {error}"
            ));
        }
    }
    if context.printer.is_json() {
        context.printer.json("package", &outcome.report);
    } else {
        context.printer.data(&outcome.report.to_string());
    }
    Ok(())
}

/// The output directory is this process's while it holds the project lock: an interrupt
/// that stops at once removes the unfinished `.partial` zips there.
pub fn own_output_dir(settings: &BuildSettings) {
    if let Some(signals) = crate::interrupt::installed() {
        signals.own_dir(&settings.out_dir);
    }
}

/// Builds with progress on stderr, then says what the build noticed (lock written, notes).
pub fn build_with_progress(
    context: &Context,
    config: &strata_manifest::ResolvedConfig,
    settings: &BuildSettings,
) -> Result<BuildOutcome, CliError> {
    let progress = Progress::new(&context.printer);
    let outcome = build(config, settings, &progress);
    progress.finish();
    let outcome = outcome?;
    if outcome.lock_written {
        context.printer.status(
            "Locked",
            &format!("dependencies in {}", strata_python::LOCK_FILE_NAME),
        );
    }
    for note in &outcome.report.notes {
        context.printer.warning(note);
    }
    for adapter in context.clouds.adapters() {
        for note in adapter.build_notes(&outcome.report) {
            context.printer.warning(&note);
        }
    }
    Ok(outcome)
}

/// The settings every building command shares, from flags and the environment.
pub fn build_settings(
    context: &Context,
    lock_mode: &LockModeArgs,
    out_dir: std::path::PathBuf,
    plan: PlanOptions,
    upgrade: strata_python::Upgrade,
) -> Result<BuildSettings, CliError> {
    let source_date_epoch = match context
        .env
        .get("SOURCE_DATE_EPOCH")
        .filter(|value| !value.is_empty())
    {
        Some(value) => Some(value.trim().parse::<u64>().map_err(|_| {
            CliError::input(format!(
                "SOURCE_DATE_EPOCH is `{value}`, not a number of seconds"
            ))
            .with_hint("set it to a Unix timestamp such as `git log -1 --format=%ct`, or unset it")
        })?),
        None => None,
    };
    let (resolver, native) = resolver_settings(context, &lock_mode.resolver)?;
    Ok(BuildSettings {
        out_dir,
        plan,
        locked: lock_mode.locked,
        offline: lock_mode.offline,
        upgrade,
        resolver,
        native,
        source_date_epoch,
        env: context.env.clone(),
        schema_version: crate::printer::JSON_SCHEMA_VERSION,
    })
}

/// The resolver and the native resolver's settings: flags first, then `STRATA_RESOLVER`,
/// `STRATA_INDEX_STRATEGY` and `STRATA_EXCLUDE_NEWER`. No resolver from either leaves it to
/// the manifest.
fn resolver_settings(
    context: &Context,
    args: &crate::cli::ResolverArgs,
) -> Result<
    (
        Option<strata_python::ResolverKind>,
        strata_python::NativeSettings,
    ),
    CliError,
> {
    use crate::cli::{IndexStrategyChoice, ResolverChoice};
    use strata_python::{IndexStrategy, ResolverKind};
    let env_value = |name: &str| {
        context
            .env
            .get(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    };
    // Neither the flag nor the environment: the manifest's setting, else native (strata-build).
    let resolver = match args.resolver {
        Some(ResolverChoice::Native) => Some(ResolverKind::Native),
        Some(ResolverChoice::Uv) => Some(ResolverKind::Uv),
        Some(ResolverChoice::Pip) => Some(ResolverKind::Pip),
        None => ResolverKind::from_env(&context.env).map_err(|error| {
            CliError::input(format!("STRATA_RESOLVER: {error}"))
                .with_hint("set STRATA_RESOLVER to native, uv or pip")
        })?,
    };
    let index_strategy = match args.index_strategy {
        Some(IndexStrategyChoice::FirstIndex) => IndexStrategy::FirstIndex,
        Some(IndexStrategyChoice::Merged) => IndexStrategy::Merged,
        None => match env_value("STRATA_INDEX_STRATEGY") {
            None => IndexStrategy::default(),
            Some(value) => value.parse().map_err(|error: String| {
                CliError::input(format!("STRATA_INDEX_STRATEGY: {error}"))
                    .with_hint("set STRATA_INDEX_STRATEGY to first-index or merged")
            })?,
        },
    };
    let exclude_newer = args
        .exclude_newer
        .clone()
        .or_else(|| env_value("STRATA_EXCLUDE_NEWER"));
    if let Some(time) = &exclude_newer
        && !looks_like_rfc3339(time)
    {
        return Err(
            CliError::input(format!("--exclude-newer `{time}` is not an RFC 3339 time"))
                .with_hint("write it as 2025-06-01T00:00:00Z"),
        );
    }
    Ok((
        resolver,
        strata_python::NativeSettings {
            offline: false,
            index_strategy,
            exclude_newer,
            // Packaging follows the resolution; `strata lock` turns this off.
            download_ahead: true,
        },
    ))
}

/// `YYYY-MM-DDTHH:MM:SS` followed by anything (fractions, `Z`, an offset): upload times are
/// compared as text, which is right for UTC times of that shape.
fn looks_like_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 19
        && bytes[..19]
            .iter()
            .enumerate()
            .all(|(position, byte)| match position {
                4 | 7 => *byte == b'-',
                10 => *byte == b'T',
                13 | 16 => *byte == b':',
                _ => byte.is_ascii_digit(),
            })
}
