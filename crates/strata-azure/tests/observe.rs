//! `strata logs` and `strata invoke` on Azure: the observer against the contract fakes of ARM
//! and Entra ID (whose storage lives in Azurite, so Azurite must run), of the Application
//! Insights query API, and an HTTP function on 127.0.0.1.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata_tests::now_ms;

use serde_json::json;
use strata_azure::{AzureObserveError, AzureObserver, AzureSettings, INSIGHTS_ENDPOINT_VARIABLE};
use strata_provider::{InvokeRequest, LogQuery, Observer, RetryPolicy};
use strata_tests::azure_fake::{AzureFake, CLIENT_SECRET, FUNCTION_KEY, HOST_KEY, TOKEN_PREFIX};
use strata_tests::function_server::{Auth, FunctionServer};
use strata_tests::insights_fake::InsightsFake;

const HANDLER: &str = "function_app.hello_function";
const FUNCTION: &str = "hello_function";

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{:x}{:x}", std::process::id(), nanos)
}

struct Setup {
    fake: AzureFake,
    insights: InsightsFake,
    app: String,
    observer: AzureObserver,
}

/// An app made by hand in the fake, its settings pointing at an Insights component by
/// `connection` (none when `None`).
fn setup(connection: Option<&str>) -> Setup {
    let fake = AzureFake::start();
    let insights = InsightsFake::start();
    let app = unique("obs");
    fake.create_app_by_hand(&format!("{app}-rg"), &app);
    if let Some(connection) = connection {
        fake.set_setting_by_hand(&app, "APPLICATIONINSIGHTS_CONNECTION_STRING", connection);
    }
    let settings = AzureSettings {
        subscription_id: "00000000-0000-0000-0000-000000000001".to_owned(),
        resource_group: format!("{app}-rg"),
        function_app: app.clone(),
        storage_account: format!("{app}sa"),
        arm_endpoint: fake.url(),
        scm_endpoint: Some(fake.scm_url()),
        env: BTreeMap::from([
            ("AZURE_AUTHORITY_HOST".to_owned(), fake.url()),
            ("AZURE_TENANT_ID".to_owned(), "tenant-1".to_owned()),
            ("AZURE_CLIENT_ID".to_owned(), "client-1".to_owned()),
            ("AZURE_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
            ("IMDS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
            (
                INSIGHTS_ENDPOINT_VARIABLE.to_owned(),
                insights.url().to_owned(),
            ),
        ]),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            function_deadline: Duration::from_secs(30),
            ..RetryPolicy::default()
        },
        ..AzureSettings::default()
    };
    let observer = AzureObserver::new(settings).unwrap();
    Setup {
        fake,
        insights,
        app,
        observer,
    }
}

fn query(since_ms: i64, filter: Option<&str>, limit: usize) -> LogQuery {
    LogQuery {
        deployed_name: "ignored-on-azure".to_owned(),
        logical_name: "hello".to_owned(),
        handler: HANDLER.to_owned(),
        stage: "prod".to_owned(),
        since_ms,
        filter: filter.map(str::to_owned),
        limit,
    }
}

#[tokio::test]
async fn traces_come_oldest_first_for_the_function_selected_by_since_filter_and_limit() {
    let setup = setup(Some(
        "InstrumentationKey=00000000-1111;IngestionEndpoint=https://x/;ApplicationId=app-one",
    ));
    let insights = &setup.insights;
    insights.add_app("app-one");
    let now = now_ms();
    insights.add_trace("app-one", FUNCTION, now - 20_000, 3, "boom in order 42");
    insights.add_trace("app-one", FUNCTION, now - 40_000, 1, "created order 42");
    insights.add_trace("app-one", FUNCTION, now - 3_600_000, 1, "an hour ago");
    insights.add_trace(
        "app-one",
        "other_function",
        now - 30_000,
        1,
        "another function",
    );
    insights.add_trace("app-two", FUNCTION, now - 30_000, 1, "another app");

    let events = setup
        .observer
        .logs(&query(now - 300_000, None, 100))
        .await
        .unwrap();
    assert_eq!(
        strata_tests::messages_and_levels(&events),
        [
            ("created order 42", Some("INFO")),
            ("boom in order 42", Some("ERROR"))
        ]
    );
    assert!(
        events
            .iter()
            .all(|event| event.cloud == "azure" && event.function == "hello")
    );
    assert_eq!(events[0].timestamp_ms, now - 40_000);

    let filtered = setup
        .observer
        .logs(&query(now - 300_000, Some("boom"), 100))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].message, "boom in order 42");

    // The newest are kept.
    let limited = setup
        .observer
        .logs(&query(now - 7_200_000, None, 2))
        .await
        .unwrap();
    let messages: Vec<&str> = limited.iter().map(|event| event.message.as_str()).collect();
    assert_eq!(messages, ["created order 42", "boom in order 42"]);

    // Tokens for the query API are asked for its scope, not ARM's.
    assert!(
        setup
            .fake
            .scopes_requested()
            .contains(&"https://api.applicationinsights.io/.default".to_owned()),
        "{:?}",
        setup.fake.scopes_requested()
    );
    assert!(
        insights
            .authorizations()
            .iter()
            .all(|value| value.starts_with(&format!("Bearer {TOKEN_PREFIX}")))
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_and_no_trace_is_an_empty_answer() {
    let setup = setup(Some("InstrumentationKey=k;ApplicationId=app-quiet"));
    setup.insights.add_app("app-quiet");
    setup.insights.throttle_next(1);
    setup.insights.fail_next(1);
    let events = setup
        .observer
        .logs(&query(now_ms() - 60_000, None, 10))
        .await
        .unwrap();
    assert!(events.is_empty());
    assert_eq!(
        setup.insights.queries().len(),
        3,
        "429, 503, then the answer"
    );
}

#[tokio::test]
async fn an_instrumentation_key_alone_finds_the_component_through_arm() {
    let setup = setup(Some(
        "InstrumentationKey=ikey-77;IngestionEndpoint=https://x/",
    ));
    setup
        .fake
        .add_insights_component("orders-insights", "IKEY-77", "app-by-key");
    setup
        .fake
        .add_insights_component("other", "ikey-other", "app-other");
    setup.insights.add_app("app-by-key");
    setup
        .insights
        .add_trace("app-by-key", FUNCTION, now_ms() - 1000, 2, "careful");
    let events = setup
        .observer
        .logs(&query(now_ms() - 60_000, None, 10))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].level.as_deref(), Some("WARNING"));
}

const LOG_FILE: &str =
    "LogFiles/Application/Functions/Function/hello_function/2026-12-02T05-00-00Z-1.log";

/// A host log line at `timestamp_ms`, as the Functions host writes it.
fn host_line(timestamp_ms: i64, level: &str, message: &str) -> String {
    let time = strata_provider::format_timestamp(timestamp_ms);
    format!("{} [{level}] {message}", time.trim_end_matches('Z'))
}

#[tokio::test]
async fn an_app_without_insights_shows_the_host_log_files_and_says_so() {
    let setup = setup(None);
    let now = now_ms();
    setup.fake.write_log(
        &setup.app,
        LOG_FILE,
        &[
            &host_line(now - 5_000, "Information", "created order 42"),
            &host_line(now - 4_000, "Error", "boom"),
            "  File \"function_app.py\", line 9",
        ],
    );
    let source = setup
        .observer
        .log_source(&query(0, None, 10))
        .await
        .unwrap();
    assert!(source.streams);
    let note = source.note.unwrap();
    assert!(
        note.contains(&setup.app) && note.contains("no Application Insights"),
        "{note}"
    );
    assert!(
        note.contains("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        "{note}"
    );

    let events = setup
        .observer
        .logs(&query(now - 60_000, None, 10))
        .await
        .unwrap();
    let messages: Vec<&str> = events.iter().map(|event| event.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "created order 42",
            "boom\n  File \"function_app.py\", line 9"
        ]
    );
    assert_eq!(events[1].level.as_deref(), Some("ERROR"));
    let events = setup
        .observer
        .logs(&query(now - 60_000, Some("order"), 10))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);

    // Kudu failing: an error naming what was read, with the status.
    setup.fake.fail_log_reads(Some(500));
    let error = setup
        .observer
        .logs(&query(now - 60_000, None, 10))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("LogFiles/Application/Functions") && text.contains("500"),
        "{text}"
    );

    // A stream that is refused fails; one that opens carries new lines, Kudu's own left out.
    setup.fake.fail_log_reads(None);
    setup.fake.fail_next_stream(400);
    let error = setup
        .observer
        .follow(&query(0, None, 10), &|_| {})
        .await
        .unwrap_err();
    assert!(error.to_string().contains("log stream"), "{error}");
    // Written before the stream opens: read from the files once it is open.
    setup.fake.write_log(
        &setup.app,
        LOG_FILE,
        &[
            &host_line(now_ms(), "Information", "not shown: filtered out"),
            &host_line(now_ms(), "Warning", "seen by the tail"),
        ],
    );
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let tail_query = query(now - 1_000, Some("tail"), 10);
    let on_event = move |event| {
        let _ = sender.send(event);
    };
    let follow = setup.observer.follow(&tail_query, &on_event);
    let writer = async {
        let first = tokio::time::timeout(Duration::from_secs(30), events.recv()).await;
        // The files were read once the stream was open; from now on only the stream carries
        // lines.
        setup.fake.write_log(
            &setup.app,
            LOG_FILE,
            &[&host_line(now_ms(), "Information", "streamed to the tail")],
        );
        let second = tokio::time::timeout(Duration::from_secs(30), events.recv()).await;
        (first, second)
    };
    let (first, second) = tokio::select! {
        outcome = follow => panic!("the stream ended: {outcome:?}"),
        events = writer => events,
    };
    let first = first.expect("a line within 30 s").unwrap();
    assert_eq!(first.message, "seen by the tail");
    assert_eq!(first.level.as_deref(), Some("WARNING"));
    let second = second.expect("a streamed line within 30 s").unwrap();
    assert_eq!(second.message, "streamed to the tail");
}

#[tokio::test]
async fn an_unknown_insights_key_is_said_clearly() {
    let setup = setup(Some("InstrumentationKey=unknown-key"));
    let error = setup.observer.logs(&query(0, None, 10)).await.unwrap_err();
    assert!(
        matches!(error, AzureObserveError::InsightsNotFound { .. }),
        "{error:?}"
    );
}

fn invoke_request(payload: &str) -> InvokeRequest {
    InvokeRequest {
        deployed_name: "ignored-on-azure".to_owned(),
        logical_name: "hello".to_owned(),
        handler: HANDLER.to_owned(),
        stage: "prod".to_owned(),
        payload: payload.to_owned(),
        payload_given: true,
        method: None,
        route_params: BTreeMap::new(),
        query: Vec::new(),
    }
}

#[tokio::test]
async fn an_http_function_is_called_by_its_url_with_its_key_which_never_shows() {
    let setup = setup(None);
    let function = FunctionServer::start(Auth::FunctionKey(FUNCTION_KEY.to_owned()));
    setup.fake.set_function_base(function.url());
    setup.fake.set_function(
        &setup.app,
        FUNCTION,
        json!({ "type": "httpTrigger", "direction": "in", "authLevel": "function" }),
    );
    let response = setup
        .observer
        .invoke(&invoke_request(r#"{"name":"x"}"#))
        .await
        .unwrap();
    assert_eq!(response.status, Some(200));
    assert_eq!(response.function_error, None);
    let body: serde_json::Value = serde_json::from_str(&response.payload).unwrap();
    assert_eq!(body["message"], "Hello, x!");
    assert_eq!(response.headers["content-type"], "application/json");
    assert_eq!(response.headers["x-ms-invocation-id"], "invocation-1");
    let calls = function.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, format!("/api/{FUNCTION}"));
    assert_eq!(calls[0].header("content-type"), Some("application/json"));
    assert_eq!(calls[0].body, r#"{"name":"x"}"#);
    let shown = format!("{response:?} {}", serde_json::to_string(&response).unwrap());
    assert!(!shown.contains(FUNCTION_KEY), "{shown}");

    // An unhandled exception: the answer is kept, and marked as the function's error.
    let response = setup
        .observer
        .invoke(&invoke_request(r#"{"fail":true}"#))
        .await
        .unwrap();
    assert_eq!(response.status, Some(500));
    assert_eq!(response.function_error.as_deref(), Some("HTTP 500"));
    assert!(response.payload.contains("the handler raised"));
}

#[tokio::test]
async fn without_a_key_of_its_own_the_hosts_key_is_sent() {
    let setup = setup(None);
    let function = FunctionServer::start(Auth::FunctionKey(HOST_KEY.to_owned()));
    setup.fake.set_function_base(function.url());
    setup
        .fake
        .set_function(&setup.app, FUNCTION, json!({ "type": "httpTrigger" }));
    setup.fake.remove_function_keys(&setup.app, FUNCTION);
    let response = setup.observer.invoke(&invoke_request("{}")).await.unwrap();
    assert_eq!(response.status, Some(200), "{}", response.payload);
}

#[tokio::test]
async fn a_queue_triggered_function_is_refused_naming_its_queue() {
    let setup = setup(None);
    setup.fake.set_function(
        &setup.app,
        FUNCTION,
        json!({ "type": "queueTrigger", "direction": "in", "queueName": "orders-queue" }),
    );
    let error = setup
        .observer
        .invoke(&invoke_request("{}"))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("queueTrigger") && text.contains("orders-queue"),
        "{text}"
    );
    let hint = strata_provider::Hint::hint(&error).unwrap();
    assert!(
        hint.contains("queue") && hint.contains("orders-queue"),
        "{hint}"
    );

    let error = setup
        .observer
        .invoke(&InvokeRequest {
            handler: "function_app.missing".to_owned(),
            ..invoke_request("{}")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, AzureObserveError::FunctionNotFound { .. }),
        "{error:?}"
    );
}
