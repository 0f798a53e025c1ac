//! `strata logs` and `strata invoke` on GCP: the observer against the contract fakes of Cloud
//! Logging's `entries:list` and the Cloud Functions v2 API, and an HTTP function on 127.0.0.1
//! that also serves the metadata server's identity tokens.

use std::collections::BTreeMap;
use std::time::Duration;

use strata_tests::now_ms;

use serde_json::json;
use strata_gcp::{GcpObserveError, GcpObserver, GcpSettings, LOGGING_ENDPOINT_VARIABLE};
use strata_provider::{InvokeRequest, LogQuery, Observer, RetryPolicy};
use strata_tests::function_server::{Auth, FunctionServer, ID_TOKEN_PREFIX};
use strata_tests::gcp_fake::FunctionsFake;
use strata_tests::logging_fake::LoggingFake;

const PROJECT: &str = "strata-test";
const REGION: &str = "europe-west1";

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", fastrand::u32(..))
}

struct Setup {
    logging: LoggingFake,
    functions: FunctionsFake,
    observer: GcpObserver,
}

/// The observer against the fakes; identity tokens from `metadata_host` (an unreachable
/// address when none).
async fn setup(metadata_host: Option<&str>) -> Setup {
    let logging = LoggingFake::start();
    // No source is uploaded here: the upload server is never called.
    let functions = FunctionsFake::start("http://127.0.0.1:9", "unused");
    let config = tempfile::tempdir().unwrap();
    let settings = GcpSettings {
        project: Some(PROJECT.to_owned()),
        region: REGION.to_owned(),
        bucket: None,
        retry: RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            function_deadline: Duration::from_secs(30),
            ..RetryPolicy::default()
        },
        env: BTreeMap::from([
            ("STORAGE_EMULATOR_HOST".to_owned(), "127.0.0.1:9".to_owned()),
            (
                strata_gcp::FUNCTIONS_ENDPOINT_VARIABLE.to_owned(),
                format!("{}/", functions.url()),
            ),
            (
                LOGGING_ENDPOINT_VARIABLE.to_owned(),
                format!("{}/", logging.url()),
            ),
            (
                "GCE_METADATA_HOST".to_owned(),
                metadata_host.unwrap_or("127.0.0.1:9").to_owned(),
            ),
            // gcloud, when installed, finds no login here.
            (
                "CLOUDSDK_CONFIG".to_owned(),
                config.path().display().to_string(),
            ),
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
        ]),
    };
    let observer = GcpObserver::new(settings).await.unwrap();
    Setup {
        logging,
        functions,
        observer,
    }
}

fn query(deployed_name: &str, since_ms: i64, filter: Option<&str>, limit: usize) -> LogQuery {
    LogQuery {
        deployed_name: deployed_name.to_owned(),
        logical_name: "helloHttp".to_owned(),
        handler: "main.hello_http".to_owned(),
        stage: "prod".to_owned(),
        since_ms,
        filter: filter.map(str::to_owned),
        limit,
    }
}

#[tokio::test]
async fn entries_of_the_functions_service_come_oldest_first_selected_by_since_and_filter() {
    let setup = setup(None).await;
    let service = unique("svc-");
    let logging = &setup.logging;
    let now = now_ms();
    logging.add_entry(PROJECT, &service, now - 20_000, "ERROR", "boom in order 42");
    logging.add_entry(PROJECT, &service, now - 40_000, "INFO", "created order 42");
    logging.add_entry(PROJECT, &service, now - 3_600_000, "INFO", "an hour ago");
    logging.add_entry(
        PROJECT,
        &service,
        now - 30_000,
        "DEFAULT",
        r#"{"message": "structured"}"#,
    );
    logging.add_entry(
        PROJECT,
        "another-service",
        now - 30_000,
        "INFO",
        "another function",
    );

    let events = setup
        .observer
        .logs(&query(&service, now - 300_000, None, 100))
        .await
        .unwrap();
    assert_eq!(
        strata_tests::messages_and_levels(&events),
        [
            ("created order 42", Some("INFO")),
            ("structured", None),
            ("boom in order 42", Some("ERROR")),
        ]
    );
    assert!(
        events
            .iter()
            .all(|event| event.cloud == "gcp" && event.function == "helloHttp")
    );

    let filtered = setup
        .observer
        .logs(&query(&service, now - 300_000, Some("order 42"), 100))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 2);
    // The filter is the text asked for, case and all, as on AWS.
    let none = setup
        .observer
        .logs(&query(&service, now - 300_000, Some("ORDER 42"), 100))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    let request = &logging.requests()[0];
    assert_eq!(
        request["resourceNames"],
        json!([format!("projects/{PROJECT}")])
    );
    let filter = request["filter"].as_str().unwrap();
    assert!(
        filter.contains("resource.type=\"cloud_run_revision\""),
        "{filter}"
    );
    assert!(
        filter.contains(&format!("resource.labels.service_name=\"{service}\"")),
        "{filter}"
    );
}

#[tokio::test]
async fn pages_are_followed_newest_kept_and_failures_retried() {
    let setup = setup(None).await;
    let service = unique("svc-");
    let now = now_ms();
    for index in 0..25 {
        setup.logging.add_entry(
            PROJECT,
            &service,
            now - 60_000 + index * 1000,
            "INFO",
            &format!("line {index}"),
        );
    }
    setup.logging.cap_pages(10);
    setup.logging.throttle_next(1);
    setup.logging.fail_next(1);
    let all = setup
        .observer
        .logs(&query(&service, now - 300_000, None, 1000))
        .await
        .unwrap();
    assert_eq!(all.len(), 25);
    // 429, 503, then three pages of 10, 10 and 5.
    let requests = setup.logging.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[4]["pageToken"], "page-20");
    assert_eq!(requests[0]["orderBy"], "timestamp desc");
    assert_eq!(all[0].message, "line 0");
    assert_eq!(all[24].message, "line 24");

    // A limit smaller than a page: the newest ones, oldest first.
    let requests_before = setup.logging.requests().len();
    let newest = setup
        .observer
        .logs(&query(&service, now - 300_000, None, 10))
        .await
        .unwrap();
    let messages: Vec<&str> = newest.iter().map(|event| event.message.as_str()).collect();
    assert_eq!(messages.first(), Some(&"line 15"));
    assert_eq!(messages.last(), Some(&"line 24"));
    assert_eq!(setup.logging.requests().len(), requests_before + 1);

    // No entries: an empty answer (`{}`), not an error.
    let empty = setup
        .observer
        .logs(&query(&unique("quiet-"), now - 300_000, None, 10))
        .await
        .unwrap();
    assert!(empty.is_empty());
}

fn invoke_request(deployed_name: &str, payload: &str) -> InvokeRequest {
    InvokeRequest {
        deployed_name: deployed_name.to_owned(),
        logical_name: "helloHttp".to_owned(),
        handler: "main.hello_http".to_owned(),
        stage: "prod".to_owned(),
        payload: payload.to_owned(),
        payload_given: true,
        method: None,
        route_params: BTreeMap::new(),
        query: Vec::new(),
    }
}

fn function_name(id: &str) -> String {
    format!("projects/{PROJECT}/locations/{REGION}/functions/{id}")
}

#[tokio::test]
async fn an_http_function_is_called_with_an_identity_token_for_its_url() {
    let server = FunctionServer::start(Auth::IdentityToken);
    let setup = setup(Some(server.host())).await;
    let id = unique("hello-");
    let url = format!("{}/{id}", server.url());
    setup.functions.insert(
        &function_name(&id),
        json!({ "url": url, "serviceConfig": { "uri": url, "revision": format!("{id}-00002-xyz") } }),
    );
    let response = setup
        .observer
        .invoke(&invoke_request(&id, r#"{"name":"x"}"#))
        .await
        .unwrap();
    assert_eq!(response.status, Some(200), "{}", response.payload);
    let body: serde_json::Value = serde_json::from_str(&response.payload).unwrap();
    assert_eq!(body["message"], "Hello, x!");
    assert_eq!(response.headers["function-execution-id"], "exec-1");
    assert_eq!(
        response.release.as_deref(),
        Some(format!("{id}-00002-xyz").as_str())
    );
    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].header("content-type"), Some("application/json"));
    let shown = format!("{response:?} {}", serde_json::to_string(&response).unwrap());
    assert!(!shown.contains(ID_TOKEN_PREFIX), "{shown}");

    let failed = setup
        .observer
        .invoke(&invoke_request(&id, r#"{"fail":true}"#))
        .await
        .unwrap();
    assert_eq!(failed.function_error.as_deref(), Some("HTTP 500"));
}

#[tokio::test]
async fn a_public_function_is_called_without_a_token_when_none_is_to_be_had() {
    let server = FunctionServer::start(Auth::None);
    let setup = setup(None).await;
    let id = unique("public-");
    let url = format!("{}/{id}", server.url());
    setup.functions.insert(
        &function_name(&id),
        json!({ "serviceConfig": { "uri": url } }),
    );
    let response = setup
        .observer
        .invoke(&invoke_request(&id, "{}"))
        .await
        .unwrap();
    assert_eq!(response.status, Some(200));
    assert_eq!(server.calls()[0].header("authorization"), None);
}

#[tokio::test]
async fn event_triggered_functions_are_refused_naming_their_topic_or_bucket() {
    let setup = setup(None).await;
    let topic = unique("pubsub-");
    let bucket = unique("storage-");
    setup.functions.insert(
        &function_name(&topic),
        json!({ "eventTrigger": { "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                                  "pubsubTopic": format!("projects/{PROJECT}/topics/orders") } }),
    );
    setup.functions.insert(
        &function_name(&bucket),
        json!({ "eventTrigger": { "eventType": "google.cloud.storage.object.v1.finalized",
                                  "eventFilters": [{ "attribute": "bucket", "value": "uploads" }] } }),
    );
    let error = setup
        .observer
        .invoke(&invoke_request(&topic, "{}"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, GcpObserveError::EventTriggered { .. }),
        "{error:?}"
    );
    let hint = strata_provider::Hint::hint(&error).unwrap();
    assert!(
        hint.contains("gcloud pubsub topics publish projects/strata-test/topics/orders"),
        "{hint}"
    );
    let error = setup
        .observer
        .invoke(&invoke_request(&bucket, "{}"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("uploads"), "{error}");
    let hint = strata_provider::Hint::hint(&error).unwrap();
    assert!(hint.contains("gs://uploads/"), "{hint}");

    let error = setup
        .observer
        .invoke(&invoke_request("never-deployed", "{}"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not deployed"), "{error}");
}
