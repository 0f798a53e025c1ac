//! `strata logs`: the log lines the stage's deployed functions wrote, from every cloud they
//! run on, oldest first; `--tail` keeps following until Ctrl-C, through the cloud's stream
//! where it has one (a backend says so in its [`strata_provider::LogSource`]) and by polling
//! with a backoff elsewhere.

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

/// One function's log on one cloud: which source reads it, its query (whose `since_ms`
/// each read sets), and whether the cloud streams it.
struct Watch {
    source: usize,
    query: LogQuery,
    streams: bool,
}

impl Watch {
    /// The query for the events at or after `since_ms`.
    fn since(&self, since_ms: i64) -> LogQuery {
        LogQuery {
            since_ms,
            ..self.query.clone()
        }
    }
}

pub fn run(context: &Context, args: &LogsArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(ManifestUse::Inspect)?;
    let config = &loaded.config;
    let since = parse_duration(&args.since)?;
    let targets = stage::targets(context, config, &args.functions, &args.clouds.clouds())?;
    let runtime = runtime()?;
    let sources = runtime.block_on(connect_all(context, config, &args.functions, &targets))?;
    let watches = runtime.block_on(watches(context, &sources, config, args))?;
    let mut seen = HashSet::new();
    let mut from = now_ms() - i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let all: Vec<&Watch> = watches.iter().collect();
    let first = runtime.block_on(read(&sources, &all, from, args.limit))?;
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
    printed += runtime.block_on(tail(
        context,
        &sources,
        &watches,
        args.limit,
        (&mut seen, from),
        &stopped,
    ))?;
    tracing::debug!("tail ended after {printed} lines");
    Ok(())
}

/// Every selected function's log on every source, and the one line each source has to say
/// about where its lines come from (said once).
async fn watches(
    context: &Context,
    sources: &[Source],
    config: &ResolvedConfig,
    args: &LogsArgs,
) -> Result<Vec<Watch>, CliError> {
    let mut watches = Vec::new();
    let mut notes = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        for (logical, deployed, handler) in &source.functions {
            let query = LogQuery {
                deployed_name: deployed.clone(),
                logical_name: logical.clone(),
                handler: handler.clone(),
                stage: config.stage.clone(),
                since_ms: 0,
                filter: args.filter.clone(),
                limit: args.limit,
            };
            let described = source
                .observer
                .log_source(&query)
                .await
                .map_err(|error| named(logical, source.cloud, error))?;
            if let Some(note) = described.note
                && !notes.contains(&note)
            {
                context.printer.status("Note", &note);
                notes.push(note);
            }
            watches.push(Watch {
                source: index,
                query,
                streams: described.streams,
            });
        }
    }
    Ok(watches)
}

/// A backend's error, said for one function on one cloud.
fn named(logical: &str, cloud: Cloud, error: CliError) -> CliError {
    CliError {
        message: format!("{logical} ({cloud}): {}", error.message),
        ..error
    }
}

/// Follows every watched log until `stopped`: the streamed ones as the cloud pushes their
/// lines, the others polled with a backoff. Returns how many lines it printed.
async fn tail(
    context: &Context,
    sources: &[Source],
    watches: &[Watch],
    limit: usize,
    (seen, from): (&mut HashSet<(String, String)>, i64),
    stopped: &(dyn Fn() -> bool + Sync),
) -> Result<usize, CliError> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<LogEvent>();
    let streamed: Vec<&Watch> = watches.iter().filter(|watch| watch.streams).collect();
    let polled: Vec<&Watch> = watches.iter().filter(|watch| !watch.streams).collect();
    let on_event: &(dyn Fn(LogEvent) + Send + Sync) = &|event: LogEvent| {
        let _ = sender.send(event);
    };
    let mut polled_seen = seen.clone();
    let followers = async {
        futures::future::try_join_all(streamed.iter().map(|watch| async move {
            let source = &sources[watch.source];
            let query = watch.since(from);
            source
                .observer
                .follow(&query, on_event)
                .await
                .map_err(|error| named(&watch.query.logical_name, source.cloud, error))
        }))
        .await?;
        // Every stream ended: the polled logs carry on.
        std::future::pending::<Result<(), CliError>>().await
    };
    let poller = async {
        if polled.is_empty() {
            return std::future::pending::<Result<(), CliError>>().await;
        }
        let mut from = from;
        let mut pause = TAIL_FIRST_PAUSE;
        loop {
            tokio::time::sleep(pause).await;
            let mut new = 0;
            for event in read(sources, &polled, from, limit).await? {
                if polled_seen.insert((event.cloud.clone(), event.id.clone())) {
                    from = from.max(event.timestamp_ms);
                    new += 1;
                    let _ = sender.send(event);
                }
            }
            // Back off while nothing happens; come back quickly once lines flow again.
            pause = if new == 0 {
                (pause * 2).min(TAIL_LONGEST_PAUSE)
            } else {
                TAIL_FIRST_PAUSE
            };
        }
    };
    let mut printed = 0;
    let printer = async {
        let mut shown_from = from;
        while let Some(event) = receiver.recv().await {
            printed += show(context, vec![event], seen, &mut shown_from);
        }
    };
    // Checked in short steps so Ctrl-C ends the tail at once.
    let interrupted = async {
        while !stopped() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let outcome = tokio::select! {
        outcome = followers => outcome,
        outcome = poller => outcome,
        () = printer => Ok(()),
        () = interrupted => Ok(()),
    };
    outcome.map(|()| printed)
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

/// The watched logs' events since `from_ms`, merged oldest first, the newest `limit` kept.
async fn read(
    sources: &[Source],
    watches: &[&Watch],
    from_ms: i64,
    limit: usize,
) -> Result<Vec<LogEvent>, CliError> {
    let queries = watches.iter().map(|watch| async move {
        let source = &sources[watch.source];
        let query = watch.since(from_ms);
        source
            .observer
            .logs(&query)
            .await
            .map_err(|error| named(&query.logical_name, source.cloud, error))
    });
    let mut events: Vec<LogEvent> = futures::future::try_join_all(queries)
        .await?
        .into_iter()
        .flatten()
        .collect();
    events.sort_by_key(|event| event.timestamp_ms);
    if events.len() > limit {
        events.drain(..events.len() - limit);
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
