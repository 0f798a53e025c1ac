//! `strata logs` and `strata invoke` on GCP: Cloud Logging's `entries:list` for the Cloud Run
//! service behind a function (Cloud Functions 2nd gen runs on Cloud Run), and one HTTP call
//! of a function by its URL with an identity token whose audience is that URL.
//!
//! Logging calls use Application Default Credentials, or none against a plain-http emulator
//! (`CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING`), as the other clients do. Identity tokens come
//! from the metadata server (`GCE_METADATA_HOST`, on Google Cloud and in CI runners there),
//! else from `gcloud auth print-identity-token`; without either the call goes without a
//! token, which a public function accepts. Tokens never reach an error, a report or a log.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use google_cloud_auth::credentials::{CacheableResource, Credentials, anonymous};
use serde_json::{Value, json};
use strata_provider::{
    HTTP_METHODS, Hint, HttpShapeError, InvokeRequest, InvokeResponse, LogEvent, LogQuery,
    LogSource, Observer, Secret, format_timestamp, parse_timestamp,
};

use crate::desired::function_id;
use crate::error::{CallError, GcpError, error_chain};
use crate::{GcpProvider, GcpSettings};

/// gcloud's override of the Cloud Logging endpoint (`https://host/`, no version path).
pub const LOGGING_ENDPOINT_VARIABLE: &str = "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING";
const LOGGING_ENDPOINT: &str = "https://logging.googleapis.com";
const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
/// Pages of `entries:list` read at most for one query.
const MAX_PAGES: usize = 50;
/// The most `entries:list` returns in one page.
const MAX_PAGE_SIZE: usize = 1000;
/// The headers of a function's answer worth showing.
const SHOWN_HEADERS: [&str; 4] = [
    "content-type",
    "function-execution-id",
    "x-cloud-trace-context",
    "retry-after",
];

/// Why a log read or a call could not be made on GCP.
#[derive(Debug, thiserror::Error)]
pub enum GcpObserveError {
    #[error(transparent)]
    Gcp(#[from] GcpError),

    #[error("function `{function}` is triggered by {event_type} ({resource}), not by HTTP")]
    EventTriggered {
        function: String,
        event_type: String,
        resource: String,
    },

    #[error("function `{function}` has no URL")]
    NoUrl { function: String },

    #[error("calling `{function}` at {url} failed: {message}")]
    Call {
        function: String,
        url: String,
        message: String,
    },

    #[error(
        "`{function}` has no route parameters (--param {name}): a Cloud Function answers at one URL"
    )]
    NoRoute { function: String, name: String },

    #[error(transparent)]
    Shape(#[from] HttpShapeError),
}

impl Hint for GcpObserveError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Gcp(error) => error.hint(),
            Self::EventTriggered {
                event_type,
                resource,
                ..
            } => Some(if event_type.contains("pubsub") {
                format!(
                    "publish a message to the topic: `gcloud pubsub topics publish {resource} --message '{{}}'` \
                     (or run it here with `strata invoke --local --event pubsub`)"
                )
            } else {
                format!(
                    "upload an object to the bucket: `gcloud storage cp FILE gs://{resource}/` \
                     (or run it here with `strata invoke --local --event storage`)"
                )
            }),
            Self::NoUrl { .. } => Some(
                "the function is not ready yet; `strata info` shows its state and URL".to_owned(),
            ),
            Self::Call { .. } => Some(
                "check that the function is ACTIVE (`strata info`) and reachable from this machine"
                    .to_owned(),
            ),
            Self::NoRoute { .. } => Some(
                "leave out --param; pass values in the event (--data) or the query string (--query k=v)"
                    .to_owned(),
            ),
            Self::Shape(error) => error.hint(),
        }
    }
}

/// The GCP backend's reader and caller.
pub struct GcpObserver {
    provider: GcpProvider,
    logging_url: String,
    logging_credentials: Credentials,
    metadata_host: String,
    env: BTreeMap<String, String>,
    /// The Cloud Run service behind each function (by deployed name), read once per run.
    services: tokio::sync::Mutex<BTreeMap<String, Service>>,
}

/// The Cloud Run service whose entries are a function's log.
#[derive(Clone, Debug)]
struct Service {
    name: String,
    /// Read from the function's `serviceConfig.service`; otherwise the function id, guessed.
    read: bool,
}

impl std::fmt::Debug for GcpObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpObserver")
            .field("logging_url", &self.logging_url)
            .finish_non_exhaustive()
    }
}

impl GcpObserver {
    pub async fn new(settings: GcpSettings) -> Result<Self, GcpObserveError> {
        let endpoint = settings
            .env
            .get(LOGGING_ENDPOINT_VARIABLE)
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty());
        // A plain-http endpoint is an emulator: no token travels unencrypted.
        let logging_credentials = match &endpoint {
            Some(url) if url.starts_with("http://") => anonymous::Builder::new().build(),
            _ => google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|error| GcpError::NoCredentials {
                    tried: settings.credential_sources(),
                    source: Some(CallError::new(None, None, error_chain(&error))),
                })?,
        };
        let metadata_host = settings
            .env
            .get("GCE_METADATA_HOST")
            .filter(|host| !host.trim().is_empty())
            .map_or(DEFAULT_METADATA_HOST, String::as_str)
            .to_owned();
        let env = settings.env.clone();
        Ok(Self {
            provider: GcpProvider::new(settings).await?,
            logging_url: endpoint.unwrap_or_else(|| LOGGING_ENDPOINT.to_owned()),
            logging_credentials,
            metadata_host,
            env,
            services: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }

    async fn auth_headers(&self) -> Result<http::HeaderMap, CallError> {
        match self
            .logging_credentials
            .headers(http::Extensions::new())
            .await
        {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Ok(http::HeaderMap::new()),
            Err(error) => Err(CallError {
                authentication: true,
                ..CallError::new(None, None, error_chain(&error))
            }),
        }
    }

    /// One page of `entries:list`.
    async fn list_page(&self, body: &Value) -> Result<Value, CallError> {
        let url = format!("{}/v2/entries:list", self.logging_url);
        let response = self
            .provider
            .clients
            .http
            .post(url)
            .headers(self.auth_headers().await?)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|error| CallError::transport(error_chain(&error)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|error| CallError::transport(error_chain(&error)))?;
        let document: Value = serde_json::from_str(&text).unwrap_or_default();
        if !(200..300).contains(&status) {
            let error = &document["error"];
            let message = error["message"]
                .as_str()
                .map_or_else(|| text.chars().take(300).collect(), str::to_owned);
            return Err(CallError::new(
                Some(status),
                error["status"].as_str(),
                message,
            ));
        }
        Ok(document)
    }

    /// The Cloud Run service behind the function: the last part of its
    /// `serviceConfig.service` (`projects/<p>/locations/<r>/services/<name>`), which need not
    /// be the function id; the function id when the function is not found.
    async fn service(&self, query: &LogQuery) -> Result<Service, GcpObserveError> {
        let mut services = self.services.lock().await;
        if let Some(service) = services.get(&query.deployed_name) {
            return Ok(service.clone());
        }
        let provider = &self.provider;
        let name = provider.function_name(&query.deployed_name);
        let function = provider
            .read_function(&name)
            .await
            .map_err(|source| GcpError::call(format!("reading function {name}"), source))?;
        let read = function
            .and_then(|function| function.service_config)
            .and_then(|service| {
                let short = service.service.rsplit('/').next()?.to_owned();
                (!short.is_empty()).then_some(short)
            });
        let service = match read {
            Some(name) => Service { name, read: true },
            None => Service {
                name: function_id(&query.deployed_name),
                read: false,
            },
        };
        services.insert(query.deployed_name.clone(), service.clone());
        Ok(service)
    }

    async fn read_logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, GcpObserveError> {
        let filter = logging_filter(query, &self.service(query).await?.name);
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({
                "resourceNames": [format!("projects/{}", self.provider.project)],
                "filter": filter,
                // Newest first, so the newest `limit` come in the first pages.
                "orderBy": "timestamp desc",
                "pageSize": query.limit.clamp(1, MAX_PAGE_SIZE),
            });
            if let Some(token) = &token {
                body["pageToken"] = json!(token);
            }
            let page = self
                .provider
                .call(|| self.list_page(&body))
                .await
                .map_err(|source| {
                    GcpError::call(
                        format!(
                            "reading the Cloud Logging entries of {}",
                            query.logical_name
                        ),
                        source,
                    )
                })?;
            events.extend(
                page["entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|entry| event_of(entry, query)),
            );
            token = page["nextPageToken"]
                .as_str()
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            if token.is_none() || events.len() >= query.limit {
                break;
            }
        }
        events.sort_by_key(|event| event.timestamp_ms);
        if events.len() > query.limit {
            events.drain(..events.len() - query.limit);
        }
        Ok(events)
    }

    async fn call(&self, request: &InvokeRequest) -> Result<InvokeResponse, GcpObserveError> {
        if let Some(name) = request.route_params.keys().next() {
            return Err(GcpObserveError::NoRoute {
                function: request.logical_name.clone(),
                name: name.clone(),
            });
        }
        let provider = &self.provider;
        let name = provider.function_name(&request.deployed_name);
        let function = provider
            .read_function(&name)
            .await
            .map_err(|source| GcpError::call(format!("reading function {name}"), source))?
            .ok_or_else(|| GcpError::NotDeployed {
                function: request.logical_name.clone(),
            })?;
        if let Some(trigger) = &function.event_trigger {
            let bucket = trigger
                .event_filters
                .iter()
                .find(|filter| filter.attribute == "bucket")
                .map(|filter| filter.value.clone());
            return Err(GcpObserveError::EventTriggered {
                function: request.logical_name.clone(),
                event_type: trigger.event_type.clone(),
                resource: bucket.unwrap_or_else(|| trigger.pubsub_topic.clone()),
            });
        }
        let url = [
            function.url.clone(),
            function
                .service_config
                .as_ref()
                .map(|service| service.uri.clone())
                .unwrap_or_default(),
        ]
        .into_iter()
        .find(|url| !url.is_empty())
        .ok_or_else(|| GcpObserveError::NoUrl {
            function: request.logical_name.clone(),
        })?;
        // The identity token's audience is the function's URL, without path or query.
        let token = self.identity_token(&url).await;
        let method = request.choose_method(&HTTP_METHODS.map(str::to_owned))?;
        let mut call = provider
            .clients
            .http
            .request(
                http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::POST),
                request.with_query(&url),
            )
            .header("content-type", "application/json")
            .body(request.body_for(&method));
        if let Some(token) = &token {
            call = call.bearer_auth(token.expose());
        }
        let response = call.send().await.map_err(|error| GcpObserveError::Call {
            function: request.logical_name.clone(),
            url: url.clone(),
            // reqwest's message names the URL without headers: no token in it.
            message: error_chain(&error.without_url()),
        })?;
        let status = response.status().as_u16();
        let headers: BTreeMap<String, String> = response
            .headers()
            .iter()
            .filter(|(header, _)| SHOWN_HEADERS.contains(&header.as_str()))
            .filter_map(|(header, value)| {
                Some((header.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let payload = response
            .text()
            .await
            .map_err(|error| GcpObserveError::Call {
                function: request.logical_name.clone(),
                url: url.clone(),
                message: error_chain(&error.without_url()),
            })?;
        Ok(InvokeResponse {
            cloud: "gcp".to_owned(),
            function: request.logical_name.clone(),
            status: Some(status),
            headers,
            payload,
            function_error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
            log_tail: None,
            release: function
                .service_config
                .as_ref()
                .map(|service| service.revision.clone())
                .filter(|revision| !revision.is_empty()),
        })
    }

    /// An identity token for `audience`: the metadata server's, else gcloud's, else none.
    async fn identity_token(&self, audience: &str) -> Option<Secret> {
        if let Ok(token) = self.metadata_identity(audience).await {
            return Some(token);
        }
        self.gcloud_identity(audience).await.ok()
    }

    async fn metadata_identity(&self, audience: &str) -> Result<Secret, String> {
        let host = self.metadata_host.trim_end_matches('/');
        let base = if host.starts_with("http://") || host.starts_with("https://") {
            host.to_owned()
        } else {
            format!("http://{host}")
        };
        let url = format!(
            "{base}/computeMetadata/v1/instance/service-accounts/default/identity?audience={}&format=full",
            percent_encoding::utf8_percent_encode(audience, percent_encoding::NON_ALPHANUMERIC)
        );
        let response = self
            .provider
            .clients
            .http
            .get(url)
            .header("metadata-flavor", "Google")
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|error| error_chain(&error.without_url()))?;
        if !response.status().is_success() {
            return Err(format!(
                "the metadata server answered {}",
                response.status()
            ));
        }
        let token = response
            .text()
            .await
            .map_err(|error| error_chain(&error.without_url()))?;
        let token = token.trim();
        if token.is_empty() {
            return Err("the metadata server gave no token".to_owned());
        }
        Ok(Secret::new(token))
    }

    async fn gcloud_identity(&self, audience: &str) -> Result<Secret, String> {
        let output = tokio::process::Command::new("gcloud")
            .args([
                "auth",
                "print-identity-token",
                &format!("--audiences={audience}"),
            ])
            .env_clear()
            .envs(&self.env)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|error| error.to_string())?;
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || token.is_empty() {
            return Err("gcloud gave no identity token".to_owned());
        }
        Ok(Secret::new(token))
    }
}

/// Cloud Logging's filter language: a quoted string with `\` and `"` escaped.
fn logging_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The entries of Cloud Run service `service` (the one behind the function), since a time,
/// holding the filter text in their text or JSON message.
fn logging_filter(query: &LogQuery, service: &str) -> String {
    let mut filter = format!(
        "resource.type=\"cloud_run_revision\" AND resource.labels.service_name={} AND timestamp>={}",
        logging_string(service),
        logging_string(&format_timestamp(query.since_ms))
    );
    if let Some(text) = &query.filter {
        let text = logging_string(text);
        filter.push_str(&format!(
            " AND (textPayload:{text} OR jsonPayload.message:{text})"
        ));
    }
    filter
}

/// One `LogEntry` as an event; the filter is applied again, case-sensitively, as on AWS.
fn event_of(entry: &Value, query: &LogQuery) -> Option<LogEvent> {
    let timestamp_ms = parse_timestamp(entry["timestamp"].as_str()?)?;
    let message = entry["textPayload"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| entry["jsonPayload"]["message"].as_str().map(str::to_owned))
        .or_else(|| entry.get("jsonPayload").map(Value::to_string))
        .unwrap_or_default();
    if query
        .filter
        .as_ref()
        .is_some_and(|text| !message.contains(text.as_str()))
    {
        return None;
    }
    Some(LogEvent {
        timestamp_ms,
        cloud: "gcp".to_owned(),
        function: query.logical_name.clone(),
        level: entry["severity"]
            .as_str()
            .filter(|severity| *severity != "DEFAULT")
            .map(str::to_owned),
        message: message.trim_end().to_owned(),
        id: entry["insertId"]
            .as_str()
            .map_or_else(|| format!("{timestamp_ms}:{message}"), str::to_owned),
    })
}

#[async_trait]
impl Observer for GcpObserver {
    type Error = GcpObserveError;

    async fn logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, GcpObserveError> {
        self.read_logs(query).await
    }

    async fn log_source(&self, query: &LogQuery) -> Result<LogSource, GcpObserveError> {
        let service = self.service(query).await?;
        Ok(LogSource {
            note: (!service.read).then(|| {
                format!(
                    "function `{}` is not in the Cloud Functions API (not deployed yet?), so \
                     strata reads the entries of Cloud Run service `{}`, the function's id",
                    query.logical_name, service.name
                )
            }),
            streams: false,
        })
    }

    async fn invoke(&self, request: &InvokeRequest) -> Result<InvokeResponse, GcpObserveError> {
        self.call(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(filter: Option<&str>) -> LogQuery {
        LogQuery {
            deployed_name: "orders-prod-Hello_Http".into(),
            logical_name: "helloHttp".into(),
            handler: "main.hello_http".into(),
            stage: "prod".into(),
            since_ms: 1_796_189_467_123,
            filter: filter.map(str::to_owned),
            limit: 50,
        }
    }

    #[test]
    fn the_filter_names_the_cloud_run_service_the_time_and_the_text() {
        assert_eq!(
            logging_filter(&query(Some("say \"hi\"")), "orders-prod-hello-http"),
            "resource.type=\"cloud_run_revision\" AND \
             resource.labels.service_name=\"orders-prod-hello-http\" AND \
             timestamp>=\"2026-12-02T05:31:07.123Z\" AND \
             (textPayload:\"say \\\"hi\\\"\" OR jsonPayload.message:\"say \\\"hi\\\"\")"
        );
    }

    #[test]
    fn entries_become_events_with_their_severity() {
        let text = json!({ "insertId": "a", "timestamp": "2026-12-02T05:31:07.123456Z",
                           "severity": "ERROR", "textPayload": "boom\n" });
        let event = event_of(&text, &query(None)).unwrap();
        assert_eq!(event.timestamp_ms, 1_796_189_467_123);
        assert_eq!(event.level.as_deref(), Some("ERROR"));
        assert_eq!(event.message, "boom");
        assert_eq!(event.id, "a");
        let structured = json!({ "insertId": "b", "timestamp": "2026-12-02T05:31:07Z",
                                 "severity": "DEFAULT", "jsonPayload": { "message": "hi" } });
        let event = event_of(&structured, &query(None)).unwrap();
        assert_eq!(event.level, None);
        assert_eq!(event.message, "hi");
        assert!(event_of(&structured, &query(Some("HI"))).is_none());
    }
}
