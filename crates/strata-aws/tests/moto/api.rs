//! `http` and `httpApi` events as API Gateway REST and HTTP APIs on the stage alias, checked
//! from moto's side (API Gateway v1 and v2, Lambda policies).

use serde_json::Value;
use strata_provider::{CorsSpec, HttpApiKind, HttpSpec, TriggerAction, TriggerPlan, TriggerSpec};

use super::*;

const ACCOUNT: &str = "123456789012";

fn route(api: HttpApiKind, method: &str, path: &str, cors: bool) -> TriggerSpec {
    TriggerSpec::Http(HttpSpec {
        api,
        method: method.to_owned(),
        path: path.to_owned(),
        cors: cors.then(|| CorsSpec {
            origins: vec!["*".into()],
            headers: ["Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key"]
                .map(str::to_owned)
                .to_vec(),
            allow_credentials: false,
            max_age_s: None,
        }),
    })
}

/// The first seed's `hello` (GET and POST `hello`) and the second seed's `api`
/// (`/{proxy+}`, ANY, `cors: true`), on one service.
struct Site {
    project: Project,
}

impl Site {
    fn new() -> Self {
        Self {
            project: Project::new(),
        }
    }

    fn service(&self) -> &str {
        &self.project.service
    }

    fn spec(&self, hello: Vec<TriggerSpec>, api: Vec<TriggerSpec>) -> DeploySpec {
        let service = self.project.service.as_str();
        let dir = self.project.dir.path();
        let mut functions = Vec::new();
        for (name, triggers) in [("hello", hello), ("api", api)] {
            let mut function = function(
                service,
                STAGE,
                name,
                handler_artifact(
                    dir,
                    &format!("{name}.zip"),
                    &format!("def {name}(event, context):\n    return {{'statusCode': 200}}\n"),
                ),
            );
            function.triggers = triggers;
            functions.push(function);
        }
        spec(
            service,
            STAGE,
            functions,
            vec![],
            RoleSpec::Managed { statements: vec![] },
        )
    }

    fn deployed_name(&self, function: &str) -> String {
        format!("{}-{STAGE}-{function}", self.project.service)
    }

    fn alias_arn(&self, function: &str) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}:{STAGE}",
            self.deployed_name(function)
        )
    }

    fn api_name(&self) -> String {
        format!("{STAGE}-{}", self.project.service)
    }
}

fn lines<'a>(triggers: &'a [TriggerPlan], kind: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    let mut found: Vec<_> = triggers
        .iter()
        .filter(|line| line.kind == kind)
        .map(|line| {
            let action = match line.action {
                TriggerAction::Create => "create",
                TriggerAction::Update { .. } => "update",
                TriggerAction::Unchanged => "unchanged",
                TriggerAction::Delete => "delete",
            };
            (line.function.as_str(), line.source.as_str(), action)
        })
        .collect();
    found.sort();
    found
}

/// The alias's policy statements as `(principal, source ARN)`.
fn permissions(function: &str) -> Vec<(String, String)> {
    let (status, body) = moto_request(
        "GET",
        &format!("/2015-03-31/functions/{function}/policy?Qualifier={STAGE}"),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "GetPolicy: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let policy: Value = serde_json::from_str(body["Policy"].as_str().unwrap()).unwrap();
    let mut found: Vec<(String, String)> = policy["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|statement| {
            let principal = match &statement["Principal"] {
                Value::String(principal) => principal.clone(),
                other => other["Service"].as_str().unwrap_or_default().to_owned(),
            };
            let source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (principal, source)
        })
        .collect();
    found.sort();
    found
}

fn execute_api(api_id: &str, rest: &str) -> (String, String) {
    (
        "apigateway.amazonaws.com".to_owned(),
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/{rest}"),
    )
}

async fn rest_client() -> aws_sdk_apigateway::Client {
    aws_sdk_apigateway::Client::new(&hand_config().await)
}

async fn http_client() -> aws_sdk_apigatewayv2::Client {
    aws_sdk_apigatewayv2::Client::new(&hand_config().await)
}

/// The ids of the REST APIs named `name`.
async fn rest_apis(name: &str) -> Vec<(String, bool)> {
    let apis = rest_client()
        .await
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .expect("GetRestApis");
    apis.items()
        .iter()
        .filter(|api| api.name() == Some(name))
        .map(|api| {
            (
                api.id().unwrap().to_owned(),
                api.tags()
                    .is_some_and(|tags| tags.contains_key("strata:service")),
            )
        })
        .collect()
}

/// `path -> method -> (integration type, uri)` of a REST API.
async fn rest_methods(
    api_id: &str,
) -> BTreeMap<String, BTreeMap<String, (String, Option<String>, Option<String>)>> {
    let resources = rest_client()
        .await
        .get_resources()
        .rest_api_id(api_id)
        .embed("methods")
        .limit(500)
        .send()
        .await
        .expect("GetResources");
    resources
        .items()
        .iter()
        .map(|resource| {
            let methods = resource
                .resource_methods()
                .into_iter()
                .flatten()
                .map(|(name, method)| {
                    let integration = method.method_integration();
                    (
                        name.clone(),
                        (
                            integration
                                .and_then(|i| i.r#type())
                                .map(|t| t.as_str().to_owned())
                                .unwrap_or_default(),
                            integration.and_then(|i| i.uri()).map(str::to_owned),
                            integration.and_then(|i| i.http_method()).map(str::to_owned),
                        ),
                    )
                })
                .collect();
            (resource.path().unwrap_or_default().to_owned(), methods)
        })
        .collect()
}

/// The API Gateway calls since `recorder` started that changed API `api_id` (Lambda's
/// permission calls name the API in their source ARN and are checked on their own).
fn api_mutations(recorder: &Recorder, api_id: &str) -> Vec<String> {
    recorder
        .mutations(api_id)
        .into_iter()
        .filter(|call| call.contains("/restapis/") || call.contains("/v2/apis/"))
        .collect()
}

fn rest_uri(site: &Site, function: &str) -> String {
    format!(
        "arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{}/invocations",
        site.alias_arn(function)
    )
}

#[tokio::test]
async fn http_events_make_one_rest_api_whose_methods_follow_the_manifest() {
    let provider = provider(|_| {}).await;
    let site = Site::new();
    let rest = HttpApiKind::Rest;
    let seed = || {
        site.spec(
            vec![
                route(rest, "GET", "hello", false),
                route(rest, "POST", "hello", false),
            ],
            vec![route(rest, "ANY", "{proxy+}", true)],
        )
    };

    // First deploy: plan lists each route, apply makes the API, methods, stage and
    // permissions.
    let plan = provider.plan(&seed()).await.expect("plan");
    assert_eq!(
        lines(&plan.triggers, "http"),
        [
            ("api", "ANY /{proxy+}", "create"),
            ("hello", "GET /hello", "create"),
            ("hello", "POST /hello", "create"),
        ],
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    let ours = rest_apis(&site.api_name()).await;
    assert!(matches!(ours[..], [(_, true)]), "{ours:?}");
    let api_id = ours[0].0.clone();
    let endpoint = format!("https://{api_id}.execute-api.{REGION}.amazonaws.com/{STAGE}");
    assert_eq!(
        report.functions[0].url.as_deref(),
        Some(format!("{endpoint}/hello").as_str()),
        "{report}"
    );
    assert_eq!(
        report.functions[1].url.as_deref(),
        Some(format!("{endpoint}/{{proxy+}}").as_str())
    );

    let methods = rest_methods(&api_id).await;
    let proxy = |function: &str| {
        (
            "AWS_PROXY".to_owned(),
            Some(rest_uri(&site, function)),
            Some("POST".to_owned()),
        )
    };
    assert_eq!(methods["/hello"]["GET"], proxy("hello"), "{methods:?}");
    assert_eq!(methods["/hello"]["POST"], proxy("hello"));
    assert!(!methods["/hello"].contains_key("OPTIONS"), "{methods:?}");
    assert_eq!(methods["/{proxy+}"]["ANY"], proxy("api"));
    assert_eq!(methods["/{proxy+}"]["OPTIONS"].0, "MOCK");
    let preflight = rest_client()
        .await
        .get_integration_response()
        .rest_api_id(&api_id)
        .resource_id(
            rest_client()
                .await
                .get_resources()
                .rest_api_id(&api_id)
                .send()
                .await
                .unwrap()
                .items()
                .iter()
                .find(|resource| resource.path() == Some("/{proxy+}"))
                .and_then(|resource| resource.id())
                .unwrap(),
        )
        .http_method("OPTIONS")
        .status_code("200")
        .send()
        .await
        .expect("the CORS preflight answer");
    let headers = preflight.response_parameters().unwrap();
    assert_eq!(
        headers["method.response.header.Access-Control-Allow-Origin"],
        "'*'"
    );
    assert_eq!(
        headers["method.response.header.Access-Control-Allow-Methods"],
        "'OPTIONS,DELETE,GET,HEAD,PATCH,POST,PUT'"
    );
    let stage = rest_client()
        .await
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name(STAGE)
        .send()
        .await
        .expect("the stage");
    assert!(stage.deployment_id().is_some());
    assert_eq!(
        permissions(&site.deployed_name("hello")),
        [
            execute_api(&api_id, "GET/hello"),
            execute_api(&api_id, "POST/hello")
        ]
    );
    assert_eq!(
        permissions(&site.deployed_name("api")),
        [execute_api(&api_id, "*/*")]
    );

    // An immediate second deploy makes no mutating call: no method, no deployment.
    let recorder = Recorder::start();
    let plan = provider.plan(&seed()).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    recorder.assert_only_reads(&api_id);
    assert_eq!(recorder.mutations(site.service()), Vec::<String>::new());

    // One changed method: POST becomes PUT; only that method, one deployment, and the
    // permission of that route.
    let hello_id = rest_client()
        .await
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .find(|resource| resource.path() == Some("/hello"))
        .and_then(|resource| resource.id().map(str::to_owned))
        .unwrap();
    let recorder = Recorder::start();
    let changed = site.spec(
        vec![
            route(rest, "GET", "hello", false),
            route(rest, "PUT", "hello", false),
        ],
        vec![route(rest, "ANY", "{proxy+}", true)],
    );
    let plan = provider.plan(&changed).await.expect("plan");
    assert_eq!(
        lines(&plan.triggers, "http"),
        [
            ("api", "ANY /{proxy+}", "unchanged"),
            ("hello", "GET /hello", "unchanged"),
            ("hello", "POST /hello", "delete"),
            ("hello", "PUT /hello", "create"),
        ],
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        api_mutations(&recorder, &api_id),
        [
            format!("DELETE /restapis/{api_id}/resources/{hello_id}/methods/POST"),
            format!("POST /restapis/{api_id}/deployments"),
            format!("PUT /restapis/{api_id}/resources/{hello_id}/methods/PUT"),
            format!("PUT /restapis/{api_id}/resources/{hello_id}/methods/PUT/integration"),
        ]
    );
    assert_eq!(
        permissions(&site.deployed_name("hello")),
        [
            execute_api(&api_id, "GET/hello"),
            execute_api(&api_id, "PUT/hello")
        ]
    );

    // The event leaves the manifest: only its method and permission go.
    let recorder = Recorder::start();
    let fewer = site.spec(
        vec![route(rest, "GET", "hello", false)],
        vec![route(rest, "ANY", "{proxy+}", true)],
    );
    let report = deploy(&provider, &fewer).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        api_mutations(&recorder, &api_id),
        [
            format!("DELETE /restapis/{api_id}/resources/{hello_id}/methods/PUT"),
            format!("POST /restapis/{api_id}/deployments"),
        ]
    );
    let methods = rest_methods(&api_id).await;
    assert_eq!(
        methods["/hello"].keys().collect::<Vec<_>>(),
        ["GET"],
        "{methods:?}"
    );
    assert_eq!(
        permissions(&site.deployed_name("hello")),
        [execute_api(&api_id, "GET/hello")]
    );

    // info shows each function's routes and URLs.
    let info = provider.info(site.service(), STAGE).await.expect("info");
    let hello = info
        .functions
        .iter()
        .find(|function| function.deployed_name == site.deployed_name("hello"))
        .unwrap();
    assert_eq!(
        hello.url.as_deref(),
        Some(format!("{endpoint}/hello").as_str())
    );
    assert_eq!(
        hello.trigger.as_deref(),
        Some(format!("http GET /hello {endpoint}/hello").as_str())
    );

    // remove deletes strata's API, and leaves a hand-made one of the same name alone.
    let theirs = rest_client()
        .await
        .create_rest_api()
        .name(site.api_name())
        .send()
        .await
        .expect("CreateRestApi by hand");
    let theirs = theirs.id().unwrap().to_owned();
    let plan = provider
        .plan_remove(site.service(), STAGE)
        .await
        .expect("plan_remove");
    let apis: Vec<&str> = plan
        .resources
        .iter()
        .filter(|resource| resource.kind == ResourceKind::Api)
        .map(|resource| resource.name.as_str())
        .collect();
    assert_eq!(
        apis,
        [format!("{api_id} (REST API {})", site.api_name())],
        "{plan:?}"
    );
    provider.remove(&plan).await.expect("remove");
    assert_eq!(rest_apis(&site.api_name()).await, [(theirs, false)]);
}

/// `(route key, target function ARN)` of an HTTP API, sorted.
async fn http_routes(api_id: &str) -> Vec<(String, String)> {
    let client = http_client().await;
    let integrations = client
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .expect("GetIntegrations");
    for integration in integrations.items() {
        assert_eq!(
            integration.integration_type().map(|t| t.as_str()),
            Some("AWS_PROXY")
        );
        assert_eq!(integration.payload_format_version(), Some("2.0"));
    }
    let routes = client
        .get_routes()
        .api_id(api_id)
        .send()
        .await
        .expect("GetRoutes");
    let mut found: Vec<(String, String)> = routes
        .items()
        .iter()
        .map(|route| {
            let integration = route
                .target()
                .and_then(|target| target.strip_prefix("integrations/"))
                .unwrap();
            let uri = integrations
                .items()
                .iter()
                .find(|i| i.integration_id() == Some(integration))
                .and_then(|i| i.integration_uri())
                .unwrap();
            (route.route_key().unwrap().to_owned(), uri.to_owned())
        })
        .collect();
    found.sort();
    found
}

async fn http_apis(name: &str) -> Vec<(String, bool)> {
    let apis = http_client()
        .await
        .get_apis()
        .send()
        .await
        .expect("GetApis");
    apis.items()
        .iter()
        .filter(|api| api.name() == Some(name))
        .map(|api| {
            (
                api.api_id().unwrap().to_owned(),
                api.tags()
                    .is_some_and(|tags| tags.contains_key("strata:service")),
            )
        })
        .collect()
}

#[tokio::test]
async fn http_api_events_make_one_http_api_whose_routes_follow_the_manifest() {
    let provider = provider(|_| {}).await;
    let site = Site::new();
    let http = HttpApiKind::Http;
    let seed = || {
        site.spec(
            vec![
                route(http, "GET", "hello", false),
                route(http, "POST", "hello", false),
            ],
            vec![route(http, "ANY", "{proxy+}", true)],
        )
    };

    let plan = provider.plan(&seed()).await.expect("plan");
    assert_eq!(
        lines(&plan.triggers, "httpApi"),
        [
            ("api", "ANY /{proxy+}", "create"),
            ("hello", "GET /hello", "create"),
            ("hello", "POST /hello", "create"),
        ],
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    let ours = http_apis(&site.api_name()).await;
    assert!(matches!(ours[..], [(_, true)]), "{ours:?}");
    let api_id = ours[0].0.clone();
    let api = http_client()
        .await
        .get_api()
        .api_id(&api_id)
        .send()
        .await
        .unwrap();
    let endpoint = api.api_endpoint().unwrap().to_owned();
    assert_eq!(api.protocol_type().map(|p| p.as_str()), Some("HTTP"));
    let cors = api.cors_configuration().expect("a CORS configuration");
    assert_eq!(cors.allow_origins(), ["*"]);
    assert_eq!(cors.allow_methods(), ["*", "OPTIONS"]);
    assert_eq!(
        report.functions[0].url.as_deref(),
        Some(format!("{endpoint}/hello").as_str()),
        "{report}"
    );
    assert_eq!(
        http_routes(&api_id).await,
        [
            ("ANY /{proxy+}".to_owned(), site.alias_arn("api")),
            ("GET /hello".to_owned(), site.alias_arn("hello")),
            ("POST /hello".to_owned(), site.alias_arn("hello")),
        ]
    );
    let stages = http_client()
        .await
        .get_stages()
        .api_id(&api_id)
        .send()
        .await
        .unwrap();
    assert!(
        stages.items().iter().any(
            |stage| stage.stage_name() == Some("$default") && stage.auto_deploy() == Some(true)
        ),
        "{stages:?}"
    );
    assert_eq!(
        permissions(&site.deployed_name("hello")),
        [
            execute_api(&api_id, "GET/hello"),
            execute_api(&api_id, "POST/hello")
        ]
    );
    assert_eq!(
        permissions(&site.deployed_name("api")),
        [execute_api(&api_id, "*/*")]
    );

    // An immediate second deploy makes no mutating call.
    let recorder = Recorder::start();
    let plan = provider.plan(&seed()).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    recorder.assert_only_reads(&api_id);
    assert_eq!(recorder.mutations(site.service()), Vec::<String>::new());

    // One changed route: `POST /hello` moves to `api`; only that route is retargeted.
    let recorder = Recorder::start();
    let moved = site.spec(
        vec![route(http, "GET", "hello", false)],
        vec![
            route(http, "ANY", "{proxy+}", true),
            route(http, "POST", "hello", false),
        ],
    );
    let plan = provider.plan(&moved).await.expect("plan");
    assert_eq!(
        lines(&plan.triggers, "httpApi"),
        [
            ("api", "ANY /{proxy+}", "unchanged"),
            ("api", "POST /hello", "update"),
            ("hello", "GET /hello", "unchanged"),
        ],
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    let mutations = api_mutations(&recorder, &api_id);
    assert!(
        matches!(&mutations[..], [one] if one.starts_with(&format!("PATCH /v2/apis/{api_id}/routes/"))),
        "{mutations:?}"
    );
    assert_eq!(
        permissions(&site.deployed_name("api")),
        [
            execute_api(&api_id, "*/*"),
            execute_api(&api_id, "POST/hello")
        ]
    );
    assert_eq!(
        permissions(&site.deployed_name("hello")),
        [execute_api(&api_id, "GET/hello")]
    );

    // The event leaves the manifest: only its route goes.
    let recorder = Recorder::start();
    let fewer = site.spec(
        vec![route(http, "GET", "hello", false)],
        vec![route(http, "ANY", "{proxy+}", true)],
    );
    deploy(&provider, &fewer).await;
    let mutations = api_mutations(&recorder, &api_id);
    assert!(
        matches!(&mutations[..], [one] if one.starts_with(&format!("DELETE /v2/apis/{api_id}/routes/"))),
        "{mutations:?}"
    );
    assert_eq!(
        http_routes(&api_id).await,
        [
            ("ANY /{proxy+}".to_owned(), site.alias_arn("api")),
            ("GET /hello".to_owned(), site.alias_arn("hello")),
        ]
    );

    // remove deletes strata's API and leaves a hand-made one of the same name alone.
    let theirs = http_client()
        .await
        .create_api()
        .name(site.api_name())
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Http)
        .send()
        .await
        .expect("CreateApi by hand");
    let theirs = theirs.api_id().unwrap().to_owned();
    let plan = provider
        .plan_remove(site.service(), STAGE)
        .await
        .expect("plan_remove");
    assert!(
        plan.resources
            .iter()
            .any(|resource| resource.kind == ResourceKind::Api
                && resource.name == format!("{api_id} (HTTP API {})", site.api_name())),
        "{plan:?}"
    );
    provider.remove(&plan).await.expect("remove");
    assert_eq!(http_apis(&site.api_name()).await, [(theirs, false)]);
}
