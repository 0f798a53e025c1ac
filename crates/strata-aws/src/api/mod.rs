//! `http` and `httpApi` events: the service's API Gateway REST API and HTTP API, made as
//! Serverless makes them (one of each per service and stage, named `<stage>-<service>`),
//! with every route invoking its function's stage alias (never `$LATEST`).
//!
//! strata's APIs are the ones under that name that carry the tags `strata:service` and
//! `strata:stage`; an API of the same name without them is someone else's and never read
//! or touched. Within its own API strata owns every resource, method, route and
//! integration: a missing one is created, one that points elsewhere is changed, one that
//! left the manifest is deleted, and an API without any route left is deleted as a whole.
//! A REST API gets a new deployment only when its methods changed (the hash of what was
//! deployed is the deployment's description); an HTTP API's `$default` stage deploys
//! itself. Each function's invoke permission is one statement per route, scoped to that
//! API, method and path (see [`crate::permission`]).
//!
//! [`rest`] reads and changes REST APIs, [`http`] HTTP APIs; this module holds what both
//! share: the wanted routes, names, ARNs and endpoint URLs.

mod http;
mod rest;

use std::collections::BTreeMap;

use strata_provider::{
    DeploySpec, FunctionOutcome, FunctionReport, HttpApiKind, HttpSpec, Resource, ResourceKind,
    Step, TriggerPlan, TriggerSpec,
};

use crate::AwsProvider;
use crate::call::CallContext;
use crate::error::AwsError;
use crate::permission::{self, Permission};
use crate::role::partition;
use crate::triggers::alias_arn;

/// The service principal API Gateway invokes functions as.
pub(crate) const PRINCIPAL: &str = "apigateway.amazonaws.com";

/// `<stage>-<service>`, Serverless' name for both APIs of a stage.
pub(crate) fn api_name(service: &str, stage: &str) -> String {
    format!("{stage}-{service}")
}

/// The permission kind (statement id prefix) of each API type's routes.
fn permission_kind(kind: HttpApiKind) -> &'static str {
    match kind {
        HttpApiKind::Rest => "http",
        HttpApiKind::Http => "httpapi",
    }
}

/// Where the APIs live: what names, ARNs and URLs are made of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

/// One route the manifest wants, with the function it invokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// The function's key in the manifest.
    pub function: String,
    pub deployed_name: String,
    /// The function's stage alias.
    pub alias_arn: String,
    pub spec: HttpSpec,
}

/// The routes of `kind` of every function of the spec, in manifest order.
pub(crate) fn routes(spec: &DeploySpec, kind: HttpApiKind, place: &Place<'_>) -> Vec<Route> {
    spec.functions
        .iter()
        .flat_map(|function| {
            function
                .triggers
                .iter()
                .filter_map(move |trigger| match trigger {
                    TriggerSpec::Http(route) if route.api == kind => Some(Route {
                        function: function.logical_name.clone(),
                        deployed_name: function.deployed_name.clone(),
                        alias_arn: alias_arn(
                            place.region,
                            place.account,
                            &function.deployed_name,
                            place.stage,
                        ),
                        spec: route.clone(),
                    }),
                    _ => None,
                })
        })
        .collect()
}

/// What a REST API's `AWS_PROXY` integration calls: Lambda's invoke action on the alias,
/// `arn:<partition>:apigateway:<region>:lambda:path/2015-03-31/functions/<alias ARN>/invocations`.
pub(crate) fn integration_uri(region: &str, alias_arn: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}:lambda:path/2015-03-31/functions/{alias_arn}/invocations",
        partition(region)
    )
}

/// The function a REST integration URI or an HTTP API integration's alias ARN invokes.
pub(crate) fn function_of(target: &str) -> Option<&str> {
    let arn = target
        .split_once("/functions/")
        .map_or(target, |(_, rest)| rest.trim_end_matches("/invocations"));
    let mut parts = arn.split(':');
    parts.nth(5).filter(|kind| *kind == "function")?;
    parts.next()
}

/// The only ARN a route's invoke permission lets API Gateway call from:
/// `arn:<partition>:execute-api:<region>:<account>:<apiId>/*/<METHOD or *>/<path>`, every
/// stage, a path parameter (`{id}`, `{proxy+}`) as `*`; `<apiId>/*/$default` for an HTTP
/// API's `$default` route.
pub(crate) fn source_arn(place: &Place<'_>, api_id: &str, route: &HttpSpec) -> String {
    let prefix = format!(
        "arn:{}:execute-api:{}:{}:{api_id}/*",
        partition(place.region),
        place.region,
        place.account
    );
    if route.path == "*" {
        return format!("{prefix}/$default");
    }
    let method = match route.method.as_str() {
        "ANY" | "*" => "*",
        method => method,
    };
    let path: Vec<&str> = route
        .path
        .split('/')
        .map(|part| if part.starts_with('{') { "*" } else { part })
        .collect();
    format!("{prefix}/{method}/{}", path.join("/"))
}

/// `https://<apiId>.execute-api.<region>.amazonaws.com`, as API Gateway names an API's
/// default endpoint.
fn default_endpoint(api_id: &str, region: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{api_id}.execute-api.{region}.{domain}")
}

/// A REST API route's URL: `https://<apiId>.execute-api.<region>.amazonaws.com/<stage>/<path>`.
pub(crate) fn rest_url(api_id: &str, region: &str, stage: &str, path: &str) -> String {
    format!("{}/{stage}/{path}", default_endpoint(api_id, region))
}

/// An HTTP API route's URL on the API's endpoint (its `$default` stage has no path
/// prefix); the `$default` route answers at the endpoint's root.
pub(crate) fn http_url(endpoint: &str, route: &HttpSpec) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if route.path == "*" {
        format!("{endpoint}/")
    } else {
        format!("{endpoint}/{}", route.path)
    }
}

/// The plan line of one route.
fn line(
    kind: HttpApiKind,
    function: &str,
    source: String,
    id: Option<&str>,
    action: strata_provider::TriggerAction,
) -> TriggerPlan {
    TriggerPlan {
        function: function.to_owned(),
        kind: kind.as_str().to_owned(),
        source,
        id: id.map(str::to_owned),
        action,
    }
}

/// The manifest key of the function with deployed name `deployed` (the name itself for a
/// function no longer in the spec).
fn logical_name(spec: &DeploySpec, deployed: &str) -> String {
    spec.functions
        .iter()
        .find(|function| function.deployed_name == deployed)
        .map_or_else(
            || deployed.to_owned(),
            |function| function.logical_name.clone(),
        )
}

async fn place_account(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    adopt: bool,
) -> Result<String, AwsError> {
    provider.uploader(adopt).account(ctx).await
}

/// The plan lines of both APIs, from reads only.
pub(crate) async fn plan(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
) -> Result<Vec<TriggerPlan>, AwsError> {
    let account = place_account(ctx, provider, spec.adopt).await?;
    let place = Place {
        service: &spec.service,
        stage: &spec.stage,
        region: &provider.clients.region,
        account: &account,
    };
    let mut lines = rest::plan(ctx, &provider.clients.apigateway, spec, &place).await?;
    lines.extend(http::plan(ctx, &provider.clients.apigatewayv2, spec, &place).await?);
    Ok(lines)
}

/// Brings both APIs and the functions' invoke permissions to the spec, after the functions
/// and their aliases are deployed, and puts each function's endpoint URLs in its report.
/// A failure fails the report of every function with a route (their aliases have moved;
/// the API keeps what it had, or what was done before the failure); functions that failed
/// or were interrupted keep their permissions as they were.
pub(crate) async fn apply(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    reports: &mut [FunctionReport],
) -> Result<(), AwsError> {
    let outcome = apply_apis(ctx, provider, spec, reports).await;
    let endpoints = match outcome {
        Ok(endpoints) => endpoints,
        Err(error) => {
            let failure = error.to_step_failure(Step::Trigger);
            for report in reports.iter_mut() {
                let routed = spec.function(&report.logical_name).is_some_and(|function| {
                    function
                        .triggers
                        .iter()
                        .any(|trigger| matches!(trigger, TriggerSpec::Http(_)))
                });
                if routed && !stopped(report) {
                    report.outcome = FunctionOutcome::Failed(failure.clone());
                }
            }
            return Ok(());
        }
    };
    for report in reports.iter_mut() {
        if let Some(urls) = endpoints.get(&report.logical_name) {
            report.url = urls.first().cloned();
            report.urls.clone_from(urls);
        }
    }
    Ok(())
}

fn stopped(report: &FunctionReport) -> bool {
    matches!(
        report.outcome,
        FunctionOutcome::Failed(_) | FunctionOutcome::Interrupted { .. }
    )
}

/// Endpoint URLs by function key, REST API routes first, each URL once.
type Endpoints = BTreeMap<String, Vec<String>>;

async fn apply_apis(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    reports: &[FunctionReport],
) -> Result<Endpoints, AwsError> {
    let account = place_account(ctx, provider, spec.adopt).await?;
    let place = Place {
        service: &spec.service,
        stage: &spec.stage,
        region: &provider.clients.region,
        account: &account,
    };
    let rest_api = rest::apply(ctx, &provider.clients.apigateway, spec, &place).await?;
    let http_api = http::apply(ctx, &provider.clients.apigatewayv2, spec, &place).await?;

    let mut endpoints = Endpoints::new();
    for (kind, outcome) in [
        (HttpApiKind::Rest, &rest_api),
        (HttpApiKind::Http, &http_api),
    ] {
        let Applied::Kept(deployed) = outcome else {
            continue;
        };
        for route in routes(spec, kind, &place) {
            let url = match kind {
                HttpApiKind::Rest => {
                    rest_url(&deployed.id, place.region, place.stage, &route.spec.path)
                }
                HttpApiKind::Http => http_url(&deployed.endpoint, &route.spec),
            };
            let urls = endpoints.entry(route.function.clone()).or_default();
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }

    for function in &spec.functions {
        let done = reports
            .iter()
            .find(|report| report.logical_name == function.logical_name)
            .is_some_and(|report| !stopped(report));
        if !done {
            continue;
        }
        let ctx = ctx.for_resource(&function.deployed_name);
        for (kind, outcome) in [
            (HttpApiKind::Rest, &rest_api),
            (HttpApiKind::Http, &http_api),
        ] {
            let statements: Vec<Permission> = match outcome {
                // Without an API before or after, no statement of this kind can be strata's.
                Applied::Absent => continue,
                Applied::Kept(deployed) => routes(spec, kind, &place)
                    .iter()
                    .filter(|route| route.function == function.logical_name)
                    .map(|route| {
                        Permission::new(
                            permission_kind(kind),
                            PRINCIPAL,
                            &source_arn(&place, &deployed.id, &route.spec),
                        )
                    })
                    .collect(),
                Applied::Deleted => Vec::new(),
            };
            permission::sync(
                &ctx,
                &provider.clients.lambda,
                &function.deployed_name,
                &spec.stage,
                permission_kind(kind),
                &statements,
            )
            .await?;
        }
    }
    Ok(endpoints)
}

/// What `apply` left of one API type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// There was none and none is wanted.
    Absent,
    /// No route is wanted any more: strata's API was deleted.
    Deleted,
    Kept(DeployedApi),
}

/// An API strata keeps for the stage after `apply`: its id and default endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeployedApi {
    pub id: String,
    pub endpoint: String,
}

/// What `info` shows of one function's routes: `http GET /hello <url>`.
pub(crate) async fn describe(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    service: &str,
    stage: &str,
) -> Result<BTreeMap<String, Vec<(String, String)>>, AwsError> {
    let mut described: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let region = provider.clients.region.as_str();
    for (deployed, route, url) in
        rest::describe(ctx, &provider.clients.apigateway, service, stage, region).await?
    {
        described
            .entry(deployed)
            .or_default()
            .push((format!("http {route}"), url));
    }
    for (deployed, route, url) in
        http::describe(ctx, &provider.clients.apigatewayv2, service, stage).await?
    {
        described
            .entry(deployed)
            .or_default()
            .push((format!("httpApi {route}"), url));
    }
    Ok(described)
}

/// The APIs `remove` deletes: strata's REST API and HTTP API of the stage.
pub(crate) async fn owned(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    service: &str,
    stage: &str,
) -> Result<Vec<Resource>, AwsError> {
    let mut resources = Vec::new();
    let name = api_name(service, stage);
    for id in rest::owned(ctx, &provider.clients.apigateway, service, stage).await? {
        resources.push(Resource {
            kind: ResourceKind::Api,
            name: format!("{id} ({REST_LABEL} {name})"),
        });
    }
    for id in http::owned(ctx, &provider.clients.apigatewayv2, service, stage).await? {
        resources.push(Resource {
            kind: ResourceKind::Api,
            name: format!("{id} ({HTTP_LABEL} {name})"),
        });
    }
    Ok(resources)
}

const REST_LABEL: &str = "REST API";
const HTTP_LABEL: &str = "HTTP API";

/// Deletes one API [`owned`] listed; one already gone is not an error. The functions'
/// invoke permissions go with their aliases, which `remove` deletes with the functions.
pub(crate) async fn delete(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    resource: &Resource,
) -> Result<(), AwsError> {
    let id = resource.name.split(' ').next().unwrap_or_default();
    if resource.name.contains(REST_LABEL) {
        rest::delete(ctx, &provider.clients.apigateway, id).await
    } else {
        http::delete(ctx, &provider.clients.apigatewayv2, id).await
    }
}
