//! `strata logs` and `strata invoke` on AWS: the function's CloudWatch Logs group
//! (`/aws/lambda/<name>`) and `Invoke` on the stage alias, never on `$LATEST`.

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use strata_provider::{
    InvokeRequest, InvokeResponse, LogEvent, LogQuery, NoopReporter, Observer, Step,
};

use crate::AwsProvider;
use crate::call::CallContext;
use crate::error::{ApiError, AwsError};

/// Pages of `FilterLogEvents` read at most for one query.
const MAX_PAGES: usize = 50;

/// The log group Lambda writes a function's output to.
pub fn log_group(deployed_name: &str) -> String {
    format!("/aws/lambda/{deployed_name}")
}

#[async_trait]
impl Observer for AwsProvider {
    type Error = AwsError;

    async fn logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, AwsError> {
        let group = log_group(&query.deployed_name);
        let ctx = CallContext::new(self, &query.deployed_name, &NoopReporter);
        let logs = &self.clients.logs;
        // A quoted term matches the text as a phrase; the same test is applied below, so
        // an emulator that ignores patterns gives the same answer as CloudWatch.
        let pattern = query
            .filter
            .as_ref()
            .map(|text| format!("\"{}\"", text.replace('"', "\\\"")));
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = ctx
                .call_optional(Step::Read, || {
                    let request = logs
                        .filter_log_events()
                        .log_group_name(&group)
                        .start_time(query.since_ms)
                        .set_filter_pattern(pattern.clone())
                        .set_next_token(token.clone());
                    async move {
                        request
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("FilterLogEvents", error))
                    }
                })
                .await?;
            // No group: the function has never run (or logged) yet.
            let Some(page) = page else { break };
            for event in page.events() {
                let message = event.message().unwrap_or_default();
                if query
                    .filter
                    .as_ref()
                    .is_some_and(|text| !message.contains(text.as_str()))
                {
                    continue;
                }
                events.push(LogEvent {
                    timestamp_ms: event.timestamp().unwrap_or_default(),
                    cloud: "aws".to_owned(),
                    function: query.logical_name.clone(),
                    level: level_of(message),
                    message: message.trim_end().to_owned(),
                    id: event
                        .event_id()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("{:?}", (event.timestamp(), message))),
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() || page.events().is_empty() {
                break;
            }
        }
        events.sort_by_key(|event| event.timestamp_ms);
        if events.len() > query.limit {
            events.drain(..events.len() - query.limit);
        }
        Ok(events)
    }

    async fn invoke(&self, request: &InvokeRequest) -> Result<InvokeResponse, AwsError> {
        let flags: Vec<&str> = [
            (request.method.is_some(), "--method"),
            (!request.route_params.is_empty(), "--param"),
            (!request.query.is_empty(), "--query"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect();
        if !flags.is_empty() {
            return Err(AwsError::NotHttp {
                function: request.logical_name.clone(),
                flags: flags.join(", "),
            });
        }
        let ctx = CallContext::new(self, &request.deployed_name, &NoopReporter);
        let lambda = &self.clients.lambda;
        // Not retried on a function error: that is an answer. Only throttling and transport
        // failures are retried, as for every call.
        let output = ctx
            .call(Step::Read, || {
                let call = lambda
                    .invoke()
                    .function_name(&request.deployed_name)
                    .qualifier(&request.stage)
                    .log_type(LogType::Tail)
                    .payload(Blob::new(request.payload.as_bytes()));
                async move {
                    call.send()
                        .await
                        .map_err(|error| ApiError::from_sdk("Invoke", error))
                }
            })
            .await?;
        let log_tail = output.log_result().and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        });
        Ok(InvokeResponse {
            cloud: "aws".to_owned(),
            function: request.logical_name.clone(),
            status: u16::try_from(output.status_code()).ok(),
            headers: std::collections::BTreeMap::new(),
            payload: output
                .payload()
                .map(|payload| String::from_utf8_lossy(payload.as_ref()).into_owned())
                .unwrap_or_default(),
            function_error: output.function_error().map(str::to_owned),
            log_tail,
            release: output.executed_version().map(str::to_owned),
        })
    }
}

/// The level of a line the Lambda Python runtime wrote (`[ERROR]\t…`), or of the runtime's
/// own `START`/`END`/`REPORT` lines.
fn level_of(message: &str) -> Option<String> {
    let trimmed = message.trim_start();
    if let Some(rest) = trimmed.strip_prefix('[')
        && let Some((level, _)) = rest.split_once(']')
        && !level.is_empty()
        && level.chars().all(|c| c.is_ascii_uppercase())
    {
        return Some(level.to_owned());
    }
    ["START ", "END ", "REPORT ", "INIT_START "]
        .iter()
        .any(|prefix| trimmed.starts_with(prefix))
        .then(|| "PLATFORM".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_come_from_the_python_runtimes_prefix() {
        assert_eq!(
            level_of("[ERROR]\t2026-12-02T05:00:00.000Z\treq\tboom").as_deref(),
            Some("ERROR")
        );
        assert_eq!(
            level_of("START RequestId: 1 Version: 3").as_deref(),
            Some("PLATFORM")
        );
        assert_eq!(level_of("hello [x]"), None);
        assert_eq!(level_of("[not a level] x"), None);
    }
}
