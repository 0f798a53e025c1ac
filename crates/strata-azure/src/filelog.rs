//! `strata logs` on an app without Application Insights: the Functions host's own log files,
//! read through the app's SCM (Kudu) site with the credentials deploys use.
//!
//! The host writes each function's lines under `LogFiles/Application/Functions/Function/<name>/`
//! and its own (start-up, `Executing 'Functions.<name>'`, failures) under
//! `LogFiles/Application/Functions/Host/`. Kudu's VFS API lists a folder as JSON (`name`,
//! `mtime`, `href` per entry) and gives a file's text; its log stream
//! (`/api/logstream/application/functions/function/<name>`) keeps an HTTP answer open and
//! writes each new line as the host logs it, with a welcome line and a heartbeat every minute
//! of silence, which are Kudu's own and not shown.
//!
//! A line is `2026-12-02T05:31:07.123 [Information] text`; a line without a time (a
//! traceback's) continues the one before. The host keeps these files for a while only, so this
//! is a recent view, not a history.

use strata_provider::{LogEvent, LogQuery, parse_timestamp};

use crate::client::Payload;
use crate::error::AzureError;
use crate::kudu::Kudu;

/// Where the host writes the lines of function `name`, and its own.
fn function_folder(name: &str) -> String {
    format!("LogFiles/Application/Functions/Function/{name}/")
}
const HOST_FOLDER: &str = "LogFiles/Application/Functions/Host/";

/// Lines Kudu's log stream writes itself.
const STREAM_OWN_LINES: [&str; 2] = [
    "Welcome, you are now connected to log-streaming service",
    "No new trace in the past",
];

/// One entry of a host log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub timestamp_ms: i64,
    pub level: Option<String>,
    pub message: String,
}

/// The time a line starts with (`2026-12-02T05:31:07.123`, UTC, with or without `Z`), and
/// the rest of the line.
fn leading_time(line: &str) -> Option<(i64, &str)> {
    let (first, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    if !first.contains('T') {
        return None;
    }
    let utc = if first.ends_with(['Z', 'z'])
        || first
            .get(10..)
            .is_some_and(|time| time.contains(['+', '-']))
    {
        first.to_owned()
    } else {
        format!("{first}Z")
    };
    Some((parse_timestamp(&utc)?, rest.trim_start()))
}

/// The host's level names as Python names its levels.
fn level_name(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_lowercase().as_str() {
        "trace" | "debug" | "verbose" => "DEBUG",
        "information" | "info" => "INFO",
        "warning" | "warn" => "WARNING",
        "error" => "ERROR",
        "critical" => "CRITICAL",
        _ => return None,
    })
}

/// One line that starts an entry: its time, level (from `[Level]`) and message.
fn parse_line(line: &str) -> Option<Entry> {
    let (timestamp_ms, rest) = leading_time(line)?;
    let (level, message) = match rest
        .strip_prefix('[')
        .and_then(|tail| tail.split_once(']'))
        .and_then(|(level, message)| Some((level_name(level)?, message)))
    {
        Some((level, message)) => (Some(level.to_owned()), message.trim_start()),
        None => (None, rest),
    };
    Some(Entry {
        timestamp_ms,
        level,
        message: message.trim_end().to_owned(),
    })
}

/// The entries of a host log file, a line without a time joined to the one before.
pub fn parse_log(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for line in text.lines() {
        match (parse_line(line), entries.last_mut()) {
            (Some(entry), _) => entries.push(entry),
            (None, Some(last)) if !line.trim().is_empty() => {
                last.message.push('\n');
                last.message.push_str(line.trim_end());
            }
            (None, _) => {}
        }
    }
    entries
}

fn event(entry: Entry, query: &LogQuery) -> LogEvent {
    LogEvent {
        // Kudu names no event: a line read from a file and the same line streamed are one.
        id: format!("{}:{}", entry.timestamp_ms, entry.message),
        timestamp_ms: entry.timestamp_ms,
        cloud: "azure".to_owned(),
        function: query.logical_name.clone(),
        level: entry.level,
        message: entry.message,
    }
}

fn wanted(entry: &Entry, query: &LogQuery) -> bool {
    query
        .filter
        .as_ref()
        .is_none_or(|text| entry.message.contains(text.as_str()))
}

/// The entries of `function` since the query's time, newest last: every line of its own
/// files, and the host's lines that name it (`Functions.<name>`).
pub async fn read(
    kudu: &Kudu<'_>,
    function: &str,
    query: &LogQuery,
) -> Result<Vec<LogEvent>, AzureError> {
    let mut entries = Vec::new();
    for file in files(kudu, &function_folder(function), query.since_ms).await? {
        entries.extend(read_file(kudu, &file).await?);
    }
    let named = format!("Functions.{function}");
    for file in files(kudu, HOST_FOLDER, query.since_ms).await? {
        entries.extend(
            read_file(kudu, &file)
                .await?
                .into_iter()
                .filter(|entry| entry.message.contains(&named)),
        );
    }
    let mut events: Vec<LogEvent> = entries
        .into_iter()
        .filter(|entry| entry.timestamp_ms >= query.since_ms && wanted(entry, query))
        .map(|entry| event(entry, query))
        .collect();
    events.sort_by_key(|event| event.timestamp_ms);
    events.dedup_by(|later, earlier| later.id == earlier.id);
    if events.len() > query.limit {
        events.drain(..events.len() - query.limit);
    }
    Ok(events)
}

/// The URLs of the files in `folder` written at or after `since_ms` (an older file holds no
/// newer line); none when the folder does not exist yet (nothing was logged).
async fn files(kudu: &Kudu<'_>, folder: &str, since_ms: i64) -> Result<Vec<String>, AzureError> {
    let url = format!("{}/api/vfs/{folder}", kudu.scm);
    let listing = match kudu
        .scm_call(
            &format!("list {folder} on the SCM site of {}", kudu.app),
            "GET",
            &url,
            &Payload::None,
        )
        .await
    {
        Ok(response) => response.json(),
        Err(AzureError::Call(call)) if call.status == 404 => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    Ok(listing
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["mime"] != "inode/directory")
        .filter(|entry| {
            entry["mtime"]
                .as_str()
                .and_then(parse_timestamp)
                .is_none_or(|modified| modified >= since_ms)
        })
        .filter_map(|entry| {
            let name = entry["name"].as_str()?;
            Some(
                entry["href"]
                    .as_str()
                    .map_or_else(|| format!("{url}{name}"), str::to_owned),
            )
        })
        .collect())
}

async fn read_file(kudu: &Kudu<'_>, url: &str) -> Result<Vec<Entry>, AzureError> {
    let name = url.rsplit('/').next().unwrap_or(url);
    let response = kudu
        .scm_call(
            &format!("read log file {name} on the SCM site of {}", kudu.app),
            "GET",
            url,
            &Payload::None,
        )
        .await?;
    Ok(parse_log(&response.text()))
}

/// Follows `function`'s log stream, handing each new line (filtered) to `on_event`, and the
/// files' lines since the query's time once the stream is open, until
/// the site ends the stream (Kudu does after long silence); a refused or failed stream is the
/// error.
pub async fn follow(
    kudu: &Kudu<'_>,
    function: &str,
    query: &LogQuery,
    on_event: &(dyn Fn(LogEvent) + Send + Sync),
) -> Result<(), AzureError> {
    let url = format!(
        "{}/api/logstream/application/functions/function/{function}",
        kudu.scm
    );
    let (sender, mut lines) = tokio::sync::mpsc::unbounded_channel();
    kudu.scm_stream(
        &format!("open the log stream of {function} on {}", kudu.app),
        &url,
        &sender,
    )
    .await?;
    drop(sender);
    // What was written between the caller's last read and the stream's start is only in
    // the files: read them once more (the caller drops lines it has shown).
    for event in read(kudu, function, query).await? {
        on_event(event);
    }
    let mut last: Option<Entry> = None;
    while let Some(line) = lines.recv().await {
        let entry = match (parse_line(&line), &last) {
            (Some(entry), _) => entry,
            // A traceback's line: its own event, at the time and level of its entry.
            (None, Some(previous)) if !line.trim().is_empty() => Entry {
                message: line.trim_end().to_owned(),
                ..previous.clone()
            },
            (None, _) => continue,
        };
        if STREAM_OWN_LINES
            .iter()
            .any(|own| entry.message.starts_with(own))
        {
            continue;
        }
        last = Some(entry.clone());
        if wanted(&entry, query) {
            on_event(event(entry, query));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lines_give_time_level_and_message_and_a_traceback_joins_its_entry() {
        let text = "2026-12-02T05:31:07.123 [Information] Executing 'Functions.hello_function'\n\
                    2026-12-02T05:31:08.000 [Error] boom\n\
                    Traceback (most recent call last):\n\
                    \x20 File \"function_app.py\", line 3\n\
                    \n\
                    2026-12-02T05:31:09Z [Warning] late\n\
                    2026-12-02T05:31:10.5 plain text\n";
        let entries = parse_log(text);
        assert_eq!(entries.len(), 4, "{entries:?}");
        assert_eq!(entries[0].timestamp_ms, 1_796_189_467_123);
        assert_eq!(entries[0].level.as_deref(), Some("INFO"));
        assert_eq!(entries[0].message, "Executing 'Functions.hello_function'");
        assert_eq!(
            entries[1].message,
            "boom\nTraceback (most recent call last):\n  File \"function_app.py\", line 3"
        );
        assert_eq!(entries[2].level.as_deref(), Some("WARNING"));
        assert_eq!(entries[3].level, None);
        assert_eq!(entries[3].message, "plain text");
        assert!(parse_log("no time here\n").is_empty());
    }
}
