//! What `strata logs` and `strata invoke` ask of a cloud, in neutral terms: the log events of
//! a deployed function, and one call of it on its stage.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

/// Which log events to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogQuery {
    /// The function's name in the cloud.
    pub deployed_name: String,
    /// The manifest's name, which events are reported under.
    pub logical_name: String,
    /// The manifest's handler (`function_app.hello_function`): where a cloud names a function
    /// after its code (Azure's registered functions), the name its logs carry.
    pub handler: String,
    pub stage: String,
    /// Events at or after this time (milliseconds since the Unix epoch).
    pub since_ms: i64,
    /// Only events whose message contains this text.
    pub filter: Option<String>,
    /// At most this many events, the newest kept.
    pub limit: usize,
}

/// One log line of a deployed function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub cloud: String,
    /// The manifest's name of the function.
    pub function: String,
    /// `INFO`, `ERROR`, … where the cloud or the line says so.
    pub level: Option<String>,
    pub message: String,
    /// The cloud's identity of the event, so a tail shows each event once.
    #[serde(skip)]
    pub id: String,
}

/// One call of a deployed function on its stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeRequest {
    pub deployed_name: String,
    pub logical_name: String,
    /// The manifest's handler, as in [`LogQuery::handler`].
    pub handler: String,
    pub stage: String,
    /// The event, as JSON text (`{}` when none was given).
    pub payload: String,
    /// The user gave the event (`--data`, `--path`); without one an HTTP function is called
    /// with the method it allows first, and no body where that method takes none.
    pub payload_given: bool,
    /// The HTTP method to call an HTTP function with (`--method`); `None` lets the backend
    /// choose from what the function allows.
    pub method: Option<String>,
    /// Values of the route's parameters (`--param id=7`), for a function whose route has
    /// them.
    pub route_params: BTreeMap<String, String>,
    /// Query string pairs (`--query k=v`), in the order given.
    pub query: Vec<(String, String)>,
}

/// The methods an HTTP function that declares none takes, in the order one is picked.
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Why an HTTP call cannot be shaped as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpShapeError {
    #[error("`{function}` does not take {method}; it takes {}", allowed.join(", "))]
    MethodNotAllowed {
        function: String,
        method: String,
        allowed: Vec<String>,
    },

    #[error("{method} carries no body, and an event was given for `{function}`")]
    BodyWithoutPlace { function: String, method: String },
}

impl crate::Hint for HttpShapeError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::MethodNotAllowed { allowed, .. } => format!(
                "give --method with one of {}, or leave it out to use the first",
                allowed.join(", ")
            ),
            Self::BodyWithoutPlace { .. } => {
                "send values with --query k=v instead, or choose a method with a body (--method POST)"
                    .to_owned()
            }
        })
    }
}

impl InvokeRequest {
    /// The method to call an HTTP function with, among the `allowed` ones (upper case, in
    /// the function's order): `--method` when it is one of them; else POST when an event was
    /// given and POST is allowed; else the first allowed.
    pub fn choose_method(&self, allowed: &[String]) -> Result<String, HttpShapeError> {
        let method = match &self.method {
            Some(method) => {
                let method = method.to_ascii_uppercase();
                if !allowed.contains(&method) {
                    return Err(HttpShapeError::MethodNotAllowed {
                        function: self.logical_name.clone(),
                        method,
                        allowed: allowed.to_vec(),
                    });
                }
                method
            }
            None if self.payload_given && allowed.iter().any(|method| method == "POST") => {
                "POST".to_owned()
            }
            None => allowed
                .first()
                .cloned()
                .unwrap_or_else(|| "POST".to_owned()),
        };
        if self.payload_given && !takes_body(&method) {
            return Err(HttpShapeError::BodyWithoutPlace {
                function: self.logical_name.clone(),
                method,
            });
        }
        Ok(method)
    }

    /// The body to send with `method`: the event, or nothing for a method without a body.
    pub fn body_for(&self, method: &str) -> Vec<u8> {
        if takes_body(method) {
            self.payload.clone().into_bytes()
        } else {
            Vec::new()
        }
    }

    /// `url` with the `--query` pairs added, percent-encoded.
    pub fn with_query(&self, url: &str) -> String {
        if self.query.is_empty() {
            return url.to_owned();
        }
        let pairs: Vec<String> = self
            .query
            .iter()
            .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
            .collect();
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{}", pairs.join("&"))
    }
}

fn takes_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where a backend reads a function's log from, when the CLI should know more than the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSource {
    /// One line for the user about where the lines come from (a fallback the cloud forced, a
    /// name that was guessed), shown once before them.
    pub note: Option<String>,
    /// The backend follows new lines with [`Observer::follow`] (a stream the cloud pushes)
    /// rather than being polled with [`Observer::logs`].
    pub streams: bool,
}

/// What the call answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvokeResponse {
    pub cloud: String,
    pub function: String,
    /// The HTTP status of the function's answer, where it is an HTTP call.
    pub status: Option<u16>,
    /// The answer's headers worth showing (content type, the cloud's request and execution
    /// ids), names in lower case; empty where the call is not HTTP.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// What the function returned (or the error document it raised).
    pub payload: String,
    /// Set when the function raised: the cloud's kind of error (`Unhandled`).
    pub function_error: Option<String>,
    /// The last lines the call logged, where the cloud returns them.
    pub log_tail: Option<String>,
    /// The release that answered (a Lambda version).
    pub release: Option<String>,
}

impl fmt::Display for LogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            format_timestamp(self.timestamp_ms),
            self.cloud,
            self.function
        )?;
        if let Some(level) = &self.level {
            write!(f, " {level}")?;
        }
        write!(f, " {}", self.message.trim_end())
    }
}

/// `2026-12-02T05:31:07.123Z` for milliseconds since the epoch, without a date crate.
pub fn format_timestamp(timestamp_ms: i64) -> String {
    let seconds = timestamp_ms.div_euclid(1000);
    let millis = timestamp_ms.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Milliseconds since the epoch of an RFC 3339 UTC time as clouds write them
/// (`2026-12-02T05:31:07.1234567Z`, any number of fraction digits, or a `+00:00` offset).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, offset_minutes) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset[1..].split_once(':')?;
        let minutes = hours.parse::<i64>().ok()? * 60 + minutes.parse::<i64>().ok()?;
        (clock, sign * minutes)
    };
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut clock_parts = whole.splitn(3, ':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, the inverse of
    // the one in `format_timestamp`).
    let shifted = if month <= 2 { year - 1 } else { year };
    let era = shifted.div_euclid(400);
    let yoe = shifted - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Reading and calling what a backend deployed. Separate from [`crate::Provider`], so a
/// backend can deploy before it can observe.
#[async_trait]
pub trait Observer: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The function's log events matching `query`, oldest first.
    async fn logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, Self::Error>;

    /// Calls the function on its stage with `request`'s payload.
    async fn invoke(&self, request: &InvokeRequest) -> Result<InvokeResponse, Self::Error>;

    /// Where the function's log is read from; asked once before the first read.
    async fn log_source(&self, _query: &LogQuery) -> Result<LogSource, Self::Error> {
        Ok(LogSource::default())
    }

    /// Follows the function's new log events as the cloud streams them, handing each to
    /// `on_event`, until the stream fails or the future is dropped (Ctrl-C). Called only when
    /// [`Self::log_source`] says it streams.
    async fn follow(
        &self,
        _query: &LogQuery,
        _on_event: &(dyn Fn(LogEvent) + Send + Sync),
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Option<&str>, payload_given: bool) -> InvokeRequest {
        InvokeRequest {
            deployed_name: "orders-prod".into(),
            logical_name: "hello".into(),
            handler: "function_app.hello".into(),
            stage: "prod".into(),
            payload: "{}".into(),
            payload_given,
            method: method.map(str::to_owned),
            route_params: BTreeMap::new(),
            query: vec![("q".into(), "a b&c".into()), ("n".into(), "1".into())],
        }
    }

    #[test]
    fn the_method_is_the_one_asked_else_post_with_an_event_else_the_first_allowed() {
        let allowed =
            |methods: &[&str]| methods.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        let get_post = allowed(&["GET", "POST"]);
        assert_eq!(
            request(None, true).choose_method(&get_post).unwrap(),
            "POST"
        );
        assert_eq!(
            request(None, false).choose_method(&get_post).unwrap(),
            "GET"
        );
        assert_eq!(
            request(Some("post"), false)
                .choose_method(&get_post)
                .unwrap(),
            "POST"
        );
        assert_eq!(
            request(None, true)
                .choose_method(&allowed(&["PUT"]))
                .unwrap(),
            "PUT"
        );
        let error = request(Some("delete"), false)
            .choose_method(&get_post)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`hello` does not take DELETE; it takes GET, POST"
        );
        assert!(matches!(
            request(Some("GET"), true).choose_method(&get_post),
            Err(HttpShapeError::BodyWithoutPlace { .. })
        ));
        assert!(request(None, false).body_for("GET").is_empty());
        assert_eq!(request(None, false).body_for("POST"), b"{}");
    }

    #[test]
    fn query_pairs_are_encoded_and_appended() {
        let request = request(None, false);
        assert_eq!(
            request.with_query("http://x/api/f"),
            "http://x/api/f?q=a%20b%26c&n=1"
        );
        assert_eq!(
            request.with_query("http://x/api/f?code=k"),
            "http://x/api/f?code=k&q=a%20b%26c&n=1"
        );
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_timestamp(1_796_189_467_123),
            "2026-12-02T05:31:07.123Z"
        );
    }

    #[test]
    fn cloud_timestamps_parse_back_to_milliseconds() {
        for millis in [0, 951_782_400_000, 1_796_189_467_123] {
            assert_eq!(parse_timestamp(&format_timestamp(millis)), Some(millis));
        }
        assert_eq!(
            parse_timestamp("2026-12-02T05:31:07.1234567Z"),
            Some(1_796_189_467_123)
        );
        assert_eq!(
            parse_timestamp("2026-12-02T06:31:07+01:00"),
            Some(1_796_189_467_000)
        );
        assert_eq!(parse_timestamp("2026-12-02"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn an_event_is_one_line_with_time_cloud_function_level_and_message() {
        let event = LogEvent {
            timestamp_ms: 1_796_189_467_123,
            cloud: "aws".into(),
            function: "hello".into(),
            level: Some("ERROR".into()),
            message: "boom\n".into(),
            id: "1".into(),
        };
        assert_eq!(
            event.to_string(),
            "2026-12-02T05:31:07.123Z aws hello ERROR boom"
        );
    }
}
