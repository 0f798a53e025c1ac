//! `strata logs` and `strata invoke` on Azure: the app's Application Insights traces through
//! the Application Insights query API (or, for an app without Insights, the host's log files
//! and log stream through its SCM site: [`crate::filelog`]), and one HTTP call of a function
//! by its URL with its function key, with the method and route its trigger declares.
//!
//! The Insights component is found from the app's settings, as the Functions host finds it:
//! `APPLICATIONINSIGHTS_CONNECTION_STRING` (whose `ApplicationId` names the component's API
//! id), else its instrumentation key (or `APPINSIGHTS_INSTRUMENTATIONKEY`) matched against
//! the subscription's components through ARM. Query tokens are for the Application Insights
//! API, from the same credential chain as ARM's. The function key comes from ARM
//! (`listkeys` on the function, else the host's default key) and lives in a [`Secret`]: it is
//! sent as `x-functions-key` and never reaches an error, a report or a log.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_provider::{
    Hint, HttpShapeError, InvokeRequest, InvokeResponse, LogEvent, LogQuery, LogSource,
    NoopReporter, Observer, Secret, format_timestamp, parse_timestamp,
};
use tokio::sync::Mutex;

use crate::arm::with_api;
use crate::client::{Client, Payload, WEB_API};
use crate::credential::Credentials;
use crate::deploy::registered_name;
use crate::error::AzureError;
use crate::filelog;
use crate::http::Outgoing;
use crate::kudu::{Kudu, Publishing};
use crate::route::{self, RouteError};
use crate::{AzureProvider, AzureSettings, redact};

/// Replaces the Application Insights query API's address (emulators and tests).
pub const INSIGHTS_ENDPOINT_VARIABLE: &str = "STRATA_AZURE_INSIGHTS_ENDPOINT";
const INSIGHTS_ENDPOINT: &str = "https://api.applicationinsights.io";
/// The resource query tokens are for.
const INSIGHTS_RESOURCE: &str = "https://api.applicationinsights.io/";
const INSIGHTS_ARM_API: &str = "2020-02-02";
/// The headers of a function's answer worth showing.
const SHOWN_HEADERS: [&str; 4] = [
    "content-type",
    "x-ms-invocation-id",
    "x-ms-request-id",
    "retry-after",
];

/// Why a log read or a call could not be made on Azure.
#[derive(Debug, thiserror::Error)]
pub enum AzureObserveError {
    #[error(transparent)]
    Azure(#[from] AzureError),

    #[error(
        "function app `{app}` sends its logs to an Application Insights component this subscription does not list"
    )]
    InsightsNotFound { app: String },

    #[error("{variable} is `{value}`: not https, and not a loopback address")]
    InsecureEndpoint { variable: String, value: String },

    #[error("function `{function}` is not registered in app `{app}`")]
    FunctionNotFound { app: String, function: String },

    #[error("function `{function}` is triggered by {trigger}{}, not by HTTP", resource.as_deref().map(|resource| format!(" ({resource})")).unwrap_or_default())]
    EventTriggered {
        function: String,
        trigger: String,
        resource: Option<String>,
    },

    #[error("app `{app}` gives no URL for HTTP function `{function}`")]
    NoUrl { app: String, function: String },

    #[error("calling `{function}` at {url} failed: {message}")]
    Call {
        function: String,
        url: String,
        message: String,
    },

    #[error(transparent)]
    Route(#[from] RouteError),

    #[error(transparent)]
    Shape(#[from] HttpShapeError),
}

impl Hint for AzureObserveError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Azure(error) => error.hint(),
            Self::InsightsNotFound { .. } => Some(
                "check the app's APPLICATIONINSIGHTS_CONNECTION_STRING; a connection string with \
                 `ApplicationId=` needs no lookup, and the credentials need Reader on the component"
                    .to_owned(),
            ),
            Self::InsecureEndpoint { variable, .. } => Some(format!(
                "{variable} is for local emulators: give an https URL or one on 127.0.0.1"
            )),
            Self::FunctionNotFound { .. } => Some(
                "deploy first (`strata deploy`); `strata info` lists the functions the app registered"
                    .to_owned(),
            ),
            Self::EventTriggered { trigger, resource, .. } => Some(match resource {
                Some(resource) => format!(
                    "invoke it by sending what triggers it: {} `{resource}` (or run it here with `strata invoke --local`)",
                    trigger_target(trigger)
                ),
                None => "invoke it through its trigger, or run it here with `strata invoke --local`"
                    .to_owned(),
            }),
            Self::NoUrl { .. } => {
                Some("`strata info` shows the app's functions and their URLs".to_owned())
            }
            Self::Call { .. } => Some(
                "check that the app is running (`strata info`) and reachable from this machine"
                    .to_owned(),
            ),
            Self::Route(error) => error.hint(),
            Self::Shape(error) => error.hint(),
        }
    }
}

/// What to publish to for a trigger binding type.
fn trigger_target(trigger: &str) -> &'static str {
    match trigger {
        "queueTrigger" => "put a message on the queue",
        "blobTrigger" => "upload a blob to",
        "timerTrigger" => "wait for its schedule,",
        "serviceBusTrigger" => "send a message to",
        "eventHubTrigger" => "send an event to",
        "eventGridTrigger" => "publish an event to",
        _ => "publish to",
    }
}

/// The Azure backend's reader and caller.
pub struct AzureObserver {
    provider: AzureProvider,
    insights: Client,
    insights_endpoint: String,
    /// Where the app's logs are, found once per run (a tail polls many times).
    store: Mutex<Option<LogStore>>,
    /// The app's publishing credentials, once its SCM site refused the bearer token.
    publishing: std::sync::Mutex<Option<Publishing>>,
}

/// Where an app's logs are read from.
#[derive(Clone, Debug)]
enum LogStore {
    /// The Application Insights component with this API id.
    Insights(String),
    /// No Insights: the host's log files on the SCM site at this URL.
    Files { scm: String },
}

impl std::fmt::Debug for AzureObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureObserver")
            .field("provider", &self.provider)
            .field("insights_endpoint", &self.insights_endpoint)
            .finish_non_exhaustive()
    }
}

/// An override is an emulator on this machine, or https: a token never travels in the clear.
fn checked_endpoint(variable: &str, value: &str) -> Result<String, AzureObserveError> {
    let value = value.trim().trim_end_matches('/');
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| {
            value
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    if value.starts_with("https://") || loopback {
        Ok(value.to_owned())
    } else {
        Err(AzureObserveError::InsecureEndpoint {
            variable: variable.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl AzureObserver {
    /// The provider's clients, and a second token cache for the Application Insights API.
    pub fn new(settings: AzureSettings) -> Result<Self, AzureObserveError> {
        let insights_endpoint = match settings
            .env
            .get(INSIGHTS_ENDPOINT_VARIABLE)
            .filter(|value| !value.trim().is_empty())
        {
            Some(value) => checked_endpoint(INSIGHTS_ENDPOINT_VARIABLE, value)?,
            None => INSIGHTS_ENDPOINT.to_owned(),
        };
        let provider = AzureProvider::new(settings)?;
        let insights = Client {
            http: provider.client.http.clone(),
            credentials: Credentials::new(
                provider.settings.env.clone(),
                provider.client.http.clone(),
            )
            .for_resource(INSIGHTS_RESOURCE),
            policy: provider.client.policy.clone(),
            clock: provider.client.clock.clone(),
        };
        Ok(Self {
            provider,
            insights,
            insights_endpoint,
            store: Mutex::new(None),
            publishing: std::sync::Mutex::new(None),
        })
    }

    /// Gets an ARM token now, so that a missing credential fails before any work.
    pub async fn check_credentials(&self) -> Result<(), AzureError> {
        self.provider.check_credentials().await
    }

    /// The Application Insights component the app sends its logs to (its API id), else its
    /// SCM site, where the host's log files are.
    async fn store(&self) -> Result<LogStore, AzureObserveError> {
        let mut cached = self.store.lock().await;
        if let Some(store) = cached.as_ref() {
            return Ok(store.clone());
        }
        let provider = &self.provider;
        let app = provider.target.app.clone();
        let arm = provider.arm(provider.deadline(), &|_, _| {});
        let settings = arm.list_settings().await?;
        let connection = settings
            .get("APPLICATIONINSIGHTS_CONNECTION_STRING")
            .map(|text| connection_string(text))
            .unwrap_or_default();
        let key = connection
            .get("instrumentationkey")
            .cloned()
            .or_else(|| settings.get("APPINSIGHTS_INSTRUMENTATIONKEY").cloned());
        let store = match (connection.get("applicationid"), key) {
            (Some(id), _) => LogStore::Insights(id.clone()),
            (None, None) => {
                let site = arm
                    .site()
                    .await?
                    .ok_or_else(|| AzureError::NoApp { app: app.clone() })?;
                LogStore::Files {
                    scm: provider.target.scm_url(&site),
                }
            }
            (None, Some(key)) => {
                let url = format!(
                    "{}/subscriptions/{}/providers/Microsoft.Insights/components",
                    provider.target.arm, provider.target.subscription
                );
                let list = arm
                    .get("Application Insights components", &url, INSIGHTS_ARM_API)
                    .await?
                    .unwrap_or(Value::Null);
                list["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|component| {
                        component["properties"]["InstrumentationKey"]
                            .as_str()
                            .is_some_and(|found| found.eq_ignore_ascii_case(&key))
                    })
                    .and_then(|component| component["properties"]["AppId"].as_str())
                    .map(|id| LogStore::Insights(id.to_owned()))
                    .ok_or(AzureObserveError::InsightsNotFound { app })?
            }
        };
        *cached = Some(store.clone());
        Ok(store)
    }

    /// The app's SCM site, with the publishing credentials found before.
    fn kudu<'a>(&'a self, scm: &str) -> Kudu<'a> {
        let provider = &self.provider;
        Kudu {
            client: &provider.client,
            scm: scm.to_owned(),
            site_url: provider.target.site_url(),
            app: &provider.target.app,
            publishing: std::sync::Mutex::new(self.known_publishing()),
            deadline: provider.deadline(),
            reporter: &NoopReporter,
            progress_name: &provider.target.app,
            on_retry: &no_progress,
        }
    }

    fn known_publishing(&self) -> Option<Publishing> {
        self.publishing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Keeps the publishing credentials a [`Kudu`] had to fetch, for the next read.
    fn remember(&self, kudu: &Kudu<'_>) {
        if let Some(publishing) = kudu.publishing() {
            *self
                .publishing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(publishing);
        }
    }

    async fn read_logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, AzureObserveError> {
        let app_id = match self.store().await? {
            LogStore::Insights(id) => id,
            LogStore::Files { scm } => {
                let kudu = self.kudu(&scm);
                let events = filelog::read(&kudu, &registered_name(&query.handler), query).await;
                self.remember(&kudu);
                return Ok(events?);
            }
        };
        let body = json!({ "query": kusto_query(query) });
        let url = format!(
            "{}/v1/apps/{}/query",
            self.insights_endpoint,
            percent_encoding::utf8_percent_encode(&app_id, percent_encoding::NON_ALPHANUMERIC)
        );
        let response = self
            .insights
            .call(
                &format!(
                    "query the Application Insights traces of {}",
                    query.logical_name
                ),
                "POST",
                &url,
                &Payload::Json(&body),
                self.provider.deadline(),
                &|_, _| {},
            )
            .await?;
        let mut events = events_of(&response.json(), query);
        events.sort_by_key(|event| event.timestamp_ms);
        if events.len() > query.limit {
            events.drain(..events.len() - query.limit);
        }
        Ok(events)
    }

    async fn call(&self, request: &InvokeRequest) -> Result<InvokeResponse, AzureObserveError> {
        let provider = &self.provider;
        let app = provider.target.app.clone();
        let name = registered_name(&request.handler);
        let arm = provider.arm(provider.deadline(), &|_, _| {});
        let function_url = format!("{}/functions/{name}", provider.target.site_url());
        let function = arm
            .get(&format!("function {name} of {app}"), &function_url, WEB_API)
            .await?
            .ok_or_else(|| AzureObserveError::FunctionNotFound {
                app: app.clone(),
                function: name.clone(),
            })?;
        let bindings = function["properties"]["config"]["bindings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let trigger = bindings.iter().find(|binding| {
            binding["type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("Trigger"))
        });
        if let Some(trigger) = trigger
            && trigger["type"] != "httpTrigger"
        {
            return Err(AzureObserveError::EventTriggered {
                function: name,
                trigger: trigger["type"].as_str().unwrap_or_default().to_owned(),
                resource: ["queueName", "path", "schedule", "topicName", "eventHubName"]
                    .iter()
                    .find_map(|field| trigger[*field].as_str())
                    .map(str::to_owned),
            });
        }
        let template = function["properties"]["invoke_url_template"]
            .as_str()
            .filter(|url| !url.is_empty())
            .ok_or_else(|| AzureObserveError::NoUrl {
                app: app.clone(),
                function: name.clone(),
            })?;
        let binding = trigger.cloned().unwrap_or(Value::Null);
        let method = request.choose_method(&route::allowed_methods(&binding))?;
        let url = request.with_query(&route::fill(
            &request.logical_name,
            template,
            &request.route_params,
        )?);
        let anonymous = trigger.is_some_and(|trigger| trigger["authLevel"] == "anonymous");
        let key = if anonymous {
            None
        } else {
            self.function_key(&name).await?
        };
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(key) = &key {
            headers.push(("x-functions-key".to_owned(), key.expose().to_owned()));
        }
        let response = provider
            .client
            .http
            .send(Outgoing {
                method: &method,
                url: &url,
                headers,
                body: request.body_for(&method),
            })
            .await
            .map_err(|message| AzureObserveError::Call {
                function: name.clone(),
                url: url.split('?').next().unwrap_or_default().to_owned(),
                message: redact(&message),
            })?;
        let headers: BTreeMap<String, String> = response
            .headers
            .iter()
            .filter(|(header, _)| SHOWN_HEADERS.contains(&header.as_str()))
            .map(|(header, value)| (header.clone(), value.clone()))
            .collect();
        Ok(InvokeResponse {
            cloud: "azure".to_owned(),
            function: request.logical_name.clone(),
            status: Some(response.status),
            headers,
            payload: response.text(),
            function_error: (!(200..300).contains(&response.status))
                .then(|| format!("HTTP {}", response.status)),
            log_tail: None,
            release: None,
        })
    }

    /// The function's own default key, else the host's; `None` when ARM lists neither.
    async fn function_key(&self, name: &str) -> Result<Option<Secret>, AzureError> {
        let provider = &self.provider;
        let site = provider.target.site_url();
        let deadline = provider.deadline();
        let keys = provider
            .client
            .call(
                &format!("list the keys of function {name}"),
                "POST",
                &with_api(&format!("{site}/functions/{name}/listkeys"), WEB_API),
                &Payload::None,
                deadline,
                &|_, _| {},
            )
            .await?
            .json();
        let own = keys["default"]
            .as_str()
            .or_else(|| keys.as_object()?.values().find_map(Value::as_str));
        if let Some(key) = own {
            return Ok(Some(Secret::new(key)));
        }
        let host = provider
            .client
            .call(
                &format!("list the host keys of {}", provider.target.app),
                "POST",
                &with_api(&format!("{site}/host/default/listkeys"), WEB_API),
                &Payload::None,
                deadline,
                &|_, _| {},
            )
            .await?
            .json();
        Ok(host["functionKeys"]["default"].as_str().map(Secret::new))
    }
}

/// Log reads and calls report no retries: they have no progress bar.
fn no_progress(_attempt: u32, _delay: std::time::Duration) {}

/// `Key=Value;Key=Value` with keys in lower case.
fn connection_string(text: &str) -> BTreeMap<String, String> {
    text.split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect()
}

/// A Kusto string literal: single quotes, backslash escapes.
fn kusto_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The traces of one function since a time, newest `limit` of them. The Functions host
/// names the invocation's operation after the registered function.
fn kusto_query(query: &LogQuery) -> String {
    let mut text = format!(
        "traces\n| where timestamp >= datetime({})\n| where operation_Name =~ {}\n",
        format_timestamp(query.since_ms),
        kusto_string(&registered_name(&query.handler))
    );
    if let Some(filter) = &query.filter {
        text.push_str(&format!(
            "| where message contains_cs {}\n",
            kusto_string(filter)
        ));
    }
    text.push_str(&format!(
        "| top {} by timestamp desc\n| project timestamp, severityLevel, message, itemId",
        query.limit
    ));
    text
}

/// The rows of the answer's first table, by column name.
fn events_of(answer: &Value, query: &LogQuery) -> Vec<LogEvent> {
    let table = &answer["tables"][0];
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|column| column["name"].as_str().unwrap_or_default())
        .collect();
    let column = |name: &str| columns.iter().position(|column| *column == name);
    let (Some(time), Some(message)) = (column("timestamp"), column("message")) else {
        return Vec::new();
    };
    let (level, id) = (column("severityLevel"), column("itemId"));
    table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| {
            let timestamp_ms = parse_timestamp(row[time].as_str()?)?;
            let text = row[message].as_str().unwrap_or_default();
            Some(LogEvent {
                timestamp_ms,
                cloud: "azure".to_owned(),
                function: query.logical_name.clone(),
                level: level.and_then(|index| severity(&row[index])),
                message: text.trim_end().to_owned(),
                id: id
                    .and_then(|index| row[index].as_str())
                    .map_or_else(|| format!("{timestamp_ms}:{text}"), str::to_owned),
            })
        })
        .collect()
}

/// Application Insights' `severityLevel` (0 Verbose … 4 Critical) as Python names its levels.
fn severity(value: &Value) -> Option<String> {
    let level = match value.as_i64()? {
        0 => "DEBUG",
        1 => "INFO",
        2 => "WARNING",
        3 => "ERROR",
        4 => "CRITICAL",
        _ => return None,
    };
    Some(level.to_owned())
}

#[async_trait]
impl Observer for AzureObserver {
    type Error = AzureObserveError;

    async fn logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, AzureObserveError> {
        self.read_logs(query).await
    }

    async fn log_source(&self, _query: &LogQuery) -> Result<LogSource, AzureObserveError> {
        Ok(match self.store().await? {
            LogStore::Insights(_) => LogSource::default(),
            LogStore::Files { .. } => LogSource {
                note: Some(format!(
                    "function app `{}` has no Application Insights configured: these lines are \
                     the host's log files and log stream on its SCM site (Kudu), which keeps only \
                     recent ones; to keep and query logs, create an Application Insights \
                     component and set APPLICATIONINSIGHTS_CONNECTION_STRING in the manifest's \
                     azure.appSettings",
                    self.provider.target.app
                )),
                streams: true,
            },
        })
    }

    async fn follow(
        &self,
        query: &LogQuery,
        on_event: &(dyn Fn(LogEvent) + Send + Sync),
    ) -> Result<(), AzureObserveError> {
        // Only an app without Insights streams (see `log_source`).
        let LogStore::Files { scm } = self.store().await? else {
            return Ok(());
        };
        let function = registered_name(&query.handler);
        // Kudu closes a stream after long silence: it is opened again, each time within a
        // fresh deadline.
        loop {
            let kudu = self.kudu(&scm);
            let outcome = filelog::follow(&kudu, &function, query, on_event).await;
            self.remember(&kudu);
            outcome?;
            tracing::debug!("the log stream of {function} ended; opening it again");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    async fn invoke(&self, request: &InvokeRequest) -> Result<InvokeResponse, AzureObserveError> {
        self.call(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(filter: Option<&str>) -> LogQuery {
        LogQuery {
            deployed_name: "orders-prod".into(),
            logical_name: "hello".into(),
            handler: "function_app.hello_function".into(),
            stage: "prod".into(),
            since_ms: 1_796_189_467_123,
            filter: filter.map(str::to_owned),
            limit: 50,
        }
    }

    #[test]
    fn the_query_selects_the_registered_function_since_a_time_and_escapes_the_filter() {
        let text = kusto_query(&query(Some("it's \\ here")));
        assert!(text.starts_with("traces\n"), "{text}");
        assert!(
            text.contains("timestamp >= datetime(2026-12-02T05:31:07.123Z)"),
            "{text}"
        );
        assert!(
            text.contains("operation_Name =~ 'hello_function'"),
            "{text}"
        );
        assert!(
            text.contains("message contains_cs 'it\\'s \\\\ here'"),
            "{text}"
        );
        assert!(text.contains("top 50 by timestamp desc"), "{text}");
        assert!(!kusto_query(&query(None)).contains("contains_cs"));
    }

    #[test]
    fn rows_become_events_with_python_level_names() {
        let answer = json!({ "tables": [{ "name": "PrimaryResult",
            "columns": [{"name": "timestamp", "type": "datetime"}, {"name": "severityLevel", "type": "int"},
                        {"name": "message", "type": "string"}, {"name": "itemId", "type": "string"}],
            "rows": [["2026-12-02T05:31:07.1234567Z", 3, "boom\n", "id-1"],
                     ["2026-12-02T05:31:06Z", 1, "fine", "id-2"],
                     ["not a time", 1, "dropped", "id-3"]] }] });
        let events = events_of(&answer, &query(None));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].level.as_deref(), Some("ERROR"));
        assert_eq!(events[0].message, "boom");
        assert_eq!(events[0].timestamp_ms, 1_796_189_467_123);
        assert_eq!(events[1].id, "id-2");
        assert!(events_of(&json!({ "tables": [] }), &query(None)).is_empty());
    }

    #[test]
    fn the_connection_string_gives_the_key_and_the_application_id() {
        let parts = connection_string(
            "InstrumentationKey=abc;IngestionEndpoint=https://x/;ApplicationId=app-1",
        );
        assert_eq!(parts["instrumentationkey"], "abc");
        assert_eq!(parts["applicationid"], "app-1");
    }

    #[test]
    fn endpoint_overrides_are_https_or_this_machine() {
        assert!(checked_endpoint("V", "http://127.0.0.1:8080/").is_ok());
        assert!(checked_endpoint("V", "https://api.example").is_ok());
        assert!(checked_endpoint("V", "http://127.0.0.1.evil.example").is_err());
        assert!(checked_endpoint("V", "http://insights.example").is_err());
    }
}
