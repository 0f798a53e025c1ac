//! `strata logs`: the log lines the stage's deployed functions wrote, from every cloud they
//! run on, oldest first; `--tail` keeps following until Ctrl-C.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_manifest::{Cloud, ResolvedConfig};
use strata_provider::{LogEvent, LogQuery};

use crate::cli::LogsArgs;
use crate::clouds::{ConnectInput, ObserveBackend, cloud_functions, runtime};
use crate::commands::stage::{self, Targets};
use crate::commands::{Context, ManifestUse};
use crate::error::CliError;

/// The first pause between polls of a tail, and the longest.
const TAIL_FIRST_PAUSE: Duration = Duration::from_secs(1);
const TAIL_LONGEST_PAUSE: Duration = Duration::from_secs(8);

/// `30s`, `10m`, `2h`, `1d` (or plain seconds).
pub fn parse_duration(text: &str) -> Result<Duration, CliError> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => text.split_at(split),
        None => (text, "s"),
    };
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(count) if seconds_per > 0 => Ok(Duration::from_secs(count * seconds_per)),
        _ => Err(CliError::input(format!("--since {text}: not a duration"))
            .with_hint("write a number and a unit: 30s, 10m, 2h or 1d")),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// One cloud's observer and the functions (logical, deployed, handler) it runs.
struct Source {
    cloud: Cloud,
    observer: Box<dyn ObserveBackend>,
    functions: Vec<(String, String, String)>,
}

pub fn run(context: &Context, args: &LogsArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(ManifestUse::Inspect)?;
    let config = &loaded.config;
    let since = parse_duration(&args.since)?;
    let targets = stage::targets(context, config, &args.functions, &args.clouds.clouds())?;
    let runtime = runtime()?;
    let sources = runtime.block_on(connect_all(context, config, &args.functions, &targets))?;
    let mut seen = HashSet::new();
    let mut from = now_ms() - i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let first = runtime.block_on(read(&sources, config, args, from))?;
    let mut printed = show(context, first, &mut seen, &mut from);
    if !args.tail {
        if printed == 0 && !context.printer.is_json() {
            context.printer.warning(&format!(
                "no log lines in the last {} for {}",
                args.since,
                if args.functions.is_empty() {
                    format!("stage `{}`", config.stage)
                } else {
                    args.functions.join(", ")
                }
            ));
        }
        return Ok(());
    }
    let interrupt = crate::interrupt::installed().map(|signals| {
        signals.follow();
        signals.interrupt()
    });
    let stopped = || {
        interrupt
            .as_ref()
            .is_some_and(|interrupt| interrupt.is_triggered())
    };
    let mut pause = TAIL_FIRST_PAUSE;
    while !stopped() {
        // Sleep in short steps so Ctrl-C ends the tail at once.
        let wake = std::time::Instant::now() + pause;
        while std::time::Instant::now() < wake && !stopped() {
            std::thread::sleep(Duration::from_millis(100));
        }
        if stopped() {
            break;
        }
        let events = runtime.block_on(read(&sources, config, args, from))?;
        let new = show(context, events, &mut seen, &mut from);
        printed += new;
        // Back off while nothing happens; come back quickly once lines flow again.
        pause = if new == 0 {
            (pause * 2).min(TAIL_LONGEST_PAUSE)
        } else {
            TAIL_FIRST_PAUSE
        };
    }
    tracing::debug!("tail ended after {printed} lines");
    Ok(())
}

async fn connect_all(
    context: &Context,
    config: &ResolvedConfig,
    selection: &[String],
    targets: &Targets<'_>,
) -> Result<Vec<Source>, CliError> {
    let mut sources = Vec::new();
    for (cloud, adapter) in &targets.clouds {
        let Some(adapter) = adapter else {
            return Err(CliError::input(format!(
                "this version of strata has no backend for {}",
                cloud.product()
            )));
        };
        let input = ConnectInput {
            config,
            region: context.load_options.region.as_deref(),
            env: &context.env,
        };
        let observer = adapter.connect_observer(&input).await?;
        let functions = cloud_functions(config, selection, *cloud)
            .into_iter()
            .map(|(function, target)| {
                (
                    function.name.clone(),
                    target.deployed_name.clone(),
                    function.handler.clone(),
                )
            })
            .collect();
        sources.push(Source {
            cloud: *cloud,
            observer,
            functions,
        });
    }
    Ok(sources)
}

/// Every source's events since `from_ms`, merged oldest first.
async fn read(
    sources: &[Source],
    config: &ResolvedConfig,
    args: &LogsArgs,
    from_ms: i64,
) -> Result<Vec<LogEvent>, CliError> {
    let mut queries = Vec::new();
    for source in sources {
        for (logical, deployed, handler) in &source.functions {
            let query = LogQuery {
                deployed_name: deployed.clone(),
                logical_name: logical.clone(),
                handler: handler.clone(),
                stage: config.stage.clone(),
                since_ms: from_ms,
                filter: args.filter.clone(),
                limit: args.limit,
            };
            queries.push(async move {
                source
                    .observer
                    .logs(&query)
                    .await
                    .map_err(|error| CliError {
                        message: format!("{} ({}): {}", logical, source.cloud, error.message),
                        ..error
                    })
            });
        }
    }
    let mut events: Vec<LogEvent> = futures::future::try_join_all(queries)
        .await?
        .into_iter()
        .flatten()
        .collect();
    events.sort_by_key(|event| event.timestamp_ms);
    if events.len() > args.limit {
        events.drain(..events.len() - args.limit);
    }
    Ok(events)
}

/// Prints the events not shown before; moves `from_ms` to the newest one's time (a later read
/// starts there again, and `seen` drops the repeats). Returns how many were new.
fn show(
    context: &Context,
    events: Vec<LogEvent>,
    seen: &mut HashSet<(String, String)>,
    from_ms: &mut i64,
) -> usize {
    let mut new = 0;
    for event in events {
        if !seen.insert((event.cloud.clone(), event.id.clone())) {
            continue;
        }
        *from_ms = (*from_ms).max(event.timestamp_ms);
        new += 1;
        if context.printer.is_json() {
            // One object per line (NDJSON), so the stream pipes into `jq`.
            context
                .printer
                .data(&serde_json::to_string(&event).expect("log events serialize"));
        } else {
            context.printer.data(&event.to_string());
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        let error = parse_duration("10 minutes").unwrap_err();
        assert!(
            error.message.contains("not a duration"),
            "{}",
            error.message
        );
        assert!(parse_duration("m").is_err());
    }
}
