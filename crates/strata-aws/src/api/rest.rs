//! The stage's API Gateway REST API (`http` events): a resource per path part, a method
//! per route with an `AWS_PROXY` integration on the function's stage alias, an `OPTIONS`
//! method answering CORS preflights where a route asks for `cors`, and a deployment to the
//! stage named after strata's stage whenever any of that changed.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_apigateway::types::{IntegrationType, Method};
use sha2::{Digest, Sha256};
use strata_provider::{
    CorsSpec, DeploySpec, FieldChange, HttpApiKind, Step, TriggerAction, TriggerPlan,
};

use super::{
    Applied, DeployedApi, Place, Route, api_name, default_endpoint, function_of, integration_uri,
    line, logical_name, rest_url, routes,
};
use crate::call::CallContext;
use crate::deploy::owned_by;
use crate::desired::{TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};

/// The prefix of the description strata gives each deployment, followed by the hash of
/// the methods it deployed.
const DEPLOYMENT_PREFIX: &str = "strata:";

/// A REST API as strata reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RestState {
    pub id: String,
    pub resources: Vec<ResourceState>,
    /// The description of the deployment the stage serves; `None` without the stage.
    pub deployed: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ResourceState {
    pub id: String,
    /// As API Gateway writes it: `/`, `/hello`, `/users/{id}`.
    pub path: String,
    pub methods: BTreeMap<String, MethodState>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum MethodState {
    /// A Lambda proxy integration with this URI.
    Proxy(String),
    /// A CORS preflight answer: the `MOCK` integration's response header values.
    Cors(BTreeMap<String, String>),
    /// Anything else (no integration, another type).
    Other,
}

/// `/` + the manifest's path.
fn resource_path(path: &str) -> String {
    format!("/{path}")
}

/// The response headers of a path's CORS preflight answer, as a `MOCK` integration
/// response maps them (`method.response.header.<name>` to a quoted static value):
/// the first origin, the headers, `OPTIONS` and the path's methods (`ANY` standing for
/// every method), and credentials and max age when asked for.
pub(crate) fn cors_parameters(cors: &CorsSpec, methods: &[&str]) -> BTreeMap<String, String> {
    let header = |name: &str| format!("method.response.header.Access-Control-{name}");
    let mut allowed = vec!["OPTIONS"];
    for method in methods {
        let expanded: &[&str] = match *method {
            "ANY" => &["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"],
            "OPTIONS" => &[],
            other => &[other][..],
        };
        for method in expanded {
            if !allowed.contains(method) {
                allowed.push(method);
            }
        }
    }
    let mut parameters = BTreeMap::from([
        (
            header("Allow-Origin"),
            format!("'{}'", cors.origins.first().map_or("*", String::as_str)),
        ),
        (
            header("Allow-Headers"),
            format!("'{}'", cors.headers.join(",")),
        ),
        (header("Allow-Methods"), format!("'{}'", allowed.join(","))),
    ]);
    if cors.allow_credentials {
        parameters.insert(header("Allow-Credentials"), "'true'".to_owned());
    }
    if let Some(max_age) = cors.max_age_s {
        parameters.insert(header("Max-Age"), format!("'{max_age}'"));
    }
    parameters
}

fn describe_parameters(parameters: &BTreeMap<String, String>) -> String {
    parameters
        .iter()
        .map(|(key, value)| {
            let name = key.trim_start_matches("method.response.header.");
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the manifest wants on one path.
#[derive(Default)]
struct WantedPath<'a> {
    methods: BTreeMap<&'a str, &'a Route>,
    cors: Option<&'a CorsSpec>,
}

fn wanted_paths(routes: &[Route]) -> BTreeMap<String, WantedPath<'_>> {
    let mut paths: BTreeMap<String, WantedPath<'_>> = BTreeMap::new();
    for route in routes {
        let wanted = paths.entry(resource_path(&route.spec.path)).or_default();
        wanted.methods.insert(route.spec.method.as_str(), route);
        if wanted.cors.is_none() {
            wanted.cors = route.spec.cors.as_ref();
        }
    }
    paths
}

/// The CORS answer a path wants: none when no route asks for it, or when a route is itself
/// the `OPTIONS` method.
fn wanted_cors(wanted: &WantedPath<'_>) -> Option<BTreeMap<String, String>> {
    if wanted.methods.contains_key("OPTIONS") {
        return None;
    }
    let methods: Vec<&str> = wanted.methods.keys().copied().collect();
    wanted.cors.map(|cors| cors_parameters(cors, &methods))
}

/// One method to create, or whose integration to replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PutMethod {
    pub path: String,
    pub method: String,
    pub uri: String,
    /// The method exists and only its integration changes.
    pub exists: bool,
}

/// One path's CORS preflight answer to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PutCors {
    pub path: String,
    pub parameters: BTreeMap<String, String>,
    /// An `OPTIONS` method is there already (it is replaced whole).
    pub exists: bool,
}

/// Everything one deploy does to the REST API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RestChanges {
    pub lines: Vec<TriggerPlan>,
    pub put_methods: Vec<PutMethod>,
    pub put_cors: Vec<PutCors>,
    /// `(resource id, method)`.
    pub delete_methods: Vec<(String, String)>,
    /// Resources no wanted path runs through, topmost only (their children go with them).
    pub delete_resources: Vec<String>,
    /// No route is left: the whole API goes.
    pub delete_api: bool,
    /// The description of the deployment that serves exactly the wanted methods.
    pub description: String,
    pub redeploy: bool,
}

/// Compares the wanted routes with the API as it is (`None`: no API yet).
pub(super) fn diff(
    spec: &DeploySpec,
    routes: &[Route],
    region: &str,
    state: Option<&RestState>,
) -> RestChanges {
    let api_id = state.map(|state| state.id.as_str());
    let paths = wanted_paths(routes);
    let existing: BTreeMap<&str, &ResourceState> = state
        .map(|state| {
            state
                .resources
                .iter()
                .map(|resource| (resource.path.as_str(), resource))
                .collect()
        })
        .unwrap_or_default();
    let mut changes = RestChanges {
        delete_api: routes.is_empty() && state.is_some(),
        ..RestChanges::default()
    };
    let mut hasher = Sha256::new();

    for (path, wanted) in &paths {
        let resource = existing.get(path.as_str());
        let cors = wanted_cors(wanted);
        let current_cors = resource.and_then(|resource| match resource.methods.get("OPTIONS") {
            Some(MethodState::Cors(parameters)) => Some(parameters),
            _ => None,
        });
        let cors_change = (cors.as_ref() != current_cors).then(|| {
            FieldChange::new(
                "cors",
                current_cors.map(describe_parameters),
                cors.as_ref().map(describe_parameters),
            )
        });
        match &cors {
            Some(parameters) if cors_change.is_some() => changes.put_cors.push(PutCors {
                path: path.clone(),
                parameters: parameters.clone(),
                exists: resource.is_some_and(|resource| resource.methods.contains_key("OPTIONS")),
            }),
            None if cors_change.is_some() => {
                if let Some(resource) = resource {
                    changes
                        .delete_methods
                        .push((resource.id.clone(), "OPTIONS".to_owned()));
                }
            }
            _ => {}
        }
        if let Some(parameters) = &cors {
            hasher.update(format!("{path} OPTIONS {parameters:?}\n"));
        }

        for (method, route) in &wanted.methods {
            let uri = integration_uri(region, &route.alias_arn);
            hasher.update(format!("{path} {method} {uri}\n"));
            let current = resource.and_then(|resource| resource.methods.get(*method));
            let mut fields = Vec::new();
            match current {
                Some(MethodState::Proxy(current)) if *current == uri => {}
                Some(current) => {
                    fields.push(FieldChange::new(
                        "integration",
                        match current {
                            MethodState::Proxy(current) => Some(current.clone()),
                            _ => None,
                        },
                        Some(uri.clone()),
                    ));
                }
                None => {}
            }
            fields.extend(cors_change.clone());
            let action = match current {
                None => TriggerAction::Create,
                Some(_) if fields.is_empty() => TriggerAction::Unchanged,
                Some(_) => TriggerAction::Update { changes: fields },
            };
            if !matches!(current, Some(MethodState::Proxy(current)) if *current == uri) {
                changes.put_methods.push(PutMethod {
                    path: path.clone(),
                    method: (*method).to_owned(),
                    uri,
                    exists: current.is_some(),
                });
            }
            changes.lines.push(line(
                HttpApiKind::Rest,
                &route.function,
                route.spec.route(),
                api_id,
                action,
            ));
        }
    }

    // What strata made that the manifest no longer has.
    let kept = |path: &str| {
        paths
            .keys()
            .any(|wanted| wanted == path || wanted.starts_with(&format!("{path}/")) || path == "/")
    };
    for resource in existing.values() {
        let wanted = paths.get(&resource.path);
        for (method, state) in &resource.methods {
            let is_route =
                wanted.is_some_and(|wanted| wanted.methods.contains_key(method.as_str()));
            if is_route || matches!(state, MethodState::Cors(_)) {
                continue;
            }
            let function = match state {
                MethodState::Proxy(uri) => {
                    function_of(uri).map_or_else(String::new, |name| logical_name(spec, name))
                }
                _ => String::new(),
            };
            changes.lines.push(line(
                HttpApiKind::Rest,
                &function,
                format!("{method} {}", resource.path),
                api_id,
                TriggerAction::Delete,
            ));
            if kept(&resource.path) && !changes.delete_api {
                changes
                    .delete_methods
                    .push((resource.id.clone(), method.clone()));
            }
        }
        let parent_kept = resource
            .path
            .rsplit_once('/')
            .map(|(parent, _)| if parent.is_empty() { "/" } else { parent })
            .is_none_or(kept);
        if !kept(&resource.path) && parent_kept && !changes.delete_api {
            changes.delete_resources.push(resource.id.clone());
        }
    }
    // Preflight answers of paths that are no longer wanted go with their resource; of
    // paths still wanted, above.

    let digest = hex::encode(hasher.finalize());
    changes.description = format!("{DEPLOYMENT_PREFIX}{}", &digest[..16]);
    let changed = changes
        .lines
        .iter()
        .any(|line| line.action != TriggerAction::Unchanged)
        || !changes.put_cors.is_empty()
        || !changes.delete_methods.is_empty()
        || !changes.delete_resources.is_empty();
    let stale = state.is_some_and(|state| state.deployed.as_ref() != Some(&changes.description));
    changes.redeploy = !routes.is_empty() && (changed || stale || state.is_none());
    if !changed && stale && !routes.is_empty() {
        // The methods are right but the stage serves something else (an earlier deploy
        // stopped before its deployment): only a new deployment is due.
        let old = state.and_then(|state| state.deployed.clone());
        for line in &mut changes.lines {
            line.action = TriggerAction::Update {
                changes: vec![FieldChange::new(
                    "deployment",
                    old.clone(),
                    Some(changes.description.clone()),
                )],
            };
        }
    }
    changes
}

/// The ids of strata's REST APIs of the stage (normally one).
pub(super) async fn owned(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    service: &str,
    stage: &str,
) -> Result<Vec<String>, AwsError> {
    let name = api_name(service, stage);
    let mut ids = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                client
                    .get_rest_apis()
                    .limit(500)
                    .set_position(position.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("GetRestApis", error))
            })
            .await?;
        ids.extend(
            page.items()
                .iter()
                .filter(|api| {
                    api.name() == Some(name.as_str()) && owned_by(api.tags(), service, stage)
                })
                .filter_map(|api| api.id().map(str::to_owned)),
        );
        match page.position() {
            Some(next) if !next.is_empty() && !page.items().is_empty() => {
                position = Some(next.to_owned());
            }
            _ => return Ok(ids),
        }
    }
}

fn method_state(method: &Method) -> MethodState {
    let Some(integration) = method.method_integration() else {
        return MethodState::Other;
    };
    match integration.r#type() {
        Some(IntegrationType::AwsProxy) => {
            MethodState::Proxy(integration.uri().unwrap_or_default().to_owned())
        }
        Some(IntegrationType::Mock) if method.http_method() == Some("OPTIONS") => {
            MethodState::Cors(
                integration
                    .integration_responses()
                    .and_then(|responses| responses.get("200"))
                    .and_then(|response| response.response_parameters())
                    .map(|parameters| {
                        parameters
                            .iter()
                            .map(|(key, value)| (key.clone(), value.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        }
        _ => MethodState::Other,
    }
}

/// Reads the API's resources with their methods and integrations, and what its stage serves.
pub(super) async fn read(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    id: &str,
    stage: &str,
) -> Result<RestState, AwsError> {
    let mut state = RestState {
        id: id.to_owned(),
        ..RestState::default()
    };
    let mut position: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                client
                    .get_resources()
                    .rest_api_id(id)
                    .embed("methods")
                    .limit(500)
                    .set_position(position.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("GetResources", error))
            })
            .await?;
        for resource in page.items() {
            let resource_id = resource.id().unwrap_or_default().to_owned();
            let mut methods = BTreeMap::new();
            for (name, method) in resource.resource_methods().into_iter().flatten() {
                // Without `embed`, a method comes without its integration: read it whole.
                let method = match method.method_integration() {
                    Some(_) => method.clone(),
                    None => get_method(ctx, client, id, &resource_id, name).await?,
                };
                methods.insert(name.clone(), method_state(&method));
            }
            state.resources.push(ResourceState {
                id: resource_id,
                path: resource.path().unwrap_or("/").to_owned(),
                methods,
            });
        }
        match page.position() {
            Some(next) if !next.is_empty() && !page.items().is_empty() => {
                position = Some(next.to_owned());
            }
            _ => break,
        }
    }
    state.resources.sort_by(|a, b| a.path.cmp(&b.path));

    let stages = ctx
        .call(Step::Read, || async {
            client
                .get_stages()
                .rest_api_id(id)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetStages", error))
        })
        .await?;
    let deployment = stages
        .item()
        .iter()
        .find(|found| found.stage_name() == Some(stage))
        .and_then(|found| found.deployment_id().map(str::to_owned));
    if let Some(deployment) = deployment {
        let found = ctx
            .call_optional(Step::Read, || async {
                client
                    .get_deployment()
                    .rest_api_id(id)
                    .deployment_id(&deployment)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("GetDeployment", error))
            })
            .await?;
        state.deployed = Some(
            found
                .and_then(|found| found.description().map(str::to_owned))
                .unwrap_or_default(),
        );
    }
    Ok(state)
}

async fn get_method(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    id: &str,
    resource_id: &str,
    method: &str,
) -> Result<Method, AwsError> {
    let output = ctx
        .call(Step::Read, || async {
            client
                .get_method()
                .rest_api_id(id)
                .resource_id(resource_id)
                .http_method(method)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetMethod", error))
        })
        .await?;
    Ok(Method::builder()
        .set_http_method(output.http_method)
        .set_method_integration(output.method_integration)
        .build())
}

/// strata's API of the stage as it is now, if there is one.
async fn current(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    place: &Place<'_>,
) -> Result<Option<RestState>, AwsError> {
    match owned(ctx, client, place.service, place.stage)
        .await?
        .first()
    {
        Some(id) => Ok(Some(read(ctx, client, id, place.stage).await?)),
        None => Ok(None),
    }
}

/// The plan lines of the REST API, from reads only.
pub(super) async fn plan(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    spec: &DeploySpec,
    place: &Place<'_>,
) -> Result<Vec<TriggerPlan>, AwsError> {
    let routes = routes(spec, HttpApiKind::Rest, place);
    let state = current(ctx, client, place).await?;
    Ok(diff(spec, &routes, place.region, state.as_ref()).lines)
}

/// Brings the REST API to the spec; `None` when the spec has no `http` route (and strata's
/// API of the stage, if any, is deleted).
pub(super) async fn apply(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    spec: &DeploySpec,
    place: &Place<'_>,
) -> Result<Applied, AwsError> {
    let routes = routes(spec, HttpApiKind::Rest, place);
    let state = current(ctx, client, place).await?;
    let state = match (state, routes.is_empty()) {
        (Some(state), true) => {
            delete(ctx, client, &state.id).await?;
            return Ok(Applied::Deleted);
        }
        (None, true) => return Ok(Applied::Absent),
        (Some(state), false) => state,
        (None, false) => {
            let id = create(ctx, client, place).await?;
            read(ctx, client, &id, place.stage).await?
        }
    };
    let id = state.id.clone();
    let changes = diff(spec, &routes, place.region, Some(&state));

    for (resource_id, method) in &changes.delete_methods {
        ctx.call_optional(Step::Trigger, || async {
            client
                .delete_method()
                .rest_api_id(&id)
                .resource_id(resource_id)
                .http_method(method)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteMethod", error))
        })
        .await?;
    }
    for resource_id in &changes.delete_resources {
        ctx.call_optional(Step::Trigger, || async {
            client
                .delete_resource()
                .rest_api_id(&id)
                .resource_id(resource_id)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteResource", error))
        })
        .await?;
    }

    let mut paths: HashMap<String, String> = state
        .resources
        .iter()
        .filter(|resource| !changes.delete_resources.contains(&resource.id))
        .map(|resource| (resource.path.clone(), resource.id.clone()))
        .collect();
    for put in &changes.put_methods {
        let resource_id = ensure_path(ctx, client, &id, &mut paths, &put.path).await?;
        if !put.exists {
            put_method(ctx, client, &id, &resource_id, &put.method).await?;
        }
        ctx.call(Step::Trigger, || async {
            client
                .put_integration()
                .rest_api_id(&id)
                .resource_id(&resource_id)
                .http_method(&put.method)
                .r#type(IntegrationType::AwsProxy)
                .integration_http_method("POST")
                .uri(&put.uri)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("PutIntegration", error))
        })
        .await?;
    }
    for cors in &changes.put_cors {
        let resource_id = ensure_path(ctx, client, &id, &mut paths, &cors.path).await?;
        put_cors(ctx, client, &id, &resource_id, cors).await?;
    }

    if changes.redeploy {
        ctx.call(Step::Trigger, || async {
            client
                .create_deployment()
                .rest_api_id(&id)
                .stage_name(place.stage)
                .description(&changes.description)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateDeployment", error))
        })
        .await?;
    }
    Ok(Applied::Kept(DeployedApi {
        endpoint: default_endpoint(&id, place.region),
        id,
    }))
}

async fn create(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    place: &Place<'_>,
) -> Result<String, AwsError> {
    let name = api_name(place.service, place.stage);
    let created = ctx
        .call(Step::Trigger, || async {
            client
                .create_rest_api()
                .name(&name)
                .description(format!(
                    "strata: `http` events of service {}, stage {}",
                    place.service, place.stage
                ))
                .tags(TAG_SERVICE, place.service)
                .tags(TAG_STAGE, place.stage)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateRestApi", error))
        })
        .await?;
    Ok(created.id().unwrap_or_default().to_owned())
}

/// The id of the resource at `path`, creating it and any missing parent.
async fn ensure_path(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    id: &str,
    paths: &mut HashMap<String, String>,
    path: &str,
) -> Result<String, AwsError> {
    let mut current = "/".to_owned();
    let mut parent = paths.get("/").cloned().unwrap_or_default();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        current = if current == "/" {
            format!("/{part}")
        } else {
            format!("{current}/{part}")
        };
        parent = match paths.get(&current) {
            Some(existing) => existing.clone(),
            None => {
                let created = ctx
                    .call(Step::Trigger, || async {
                        client
                            .create_resource()
                            .rest_api_id(id)
                            .parent_id(&parent)
                            .path_part(part)
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("CreateResource", error))
                    })
                    .await?;
                let created = created.id().unwrap_or_default().to_owned();
                paths.insert(current.clone(), created.clone());
                created
            }
        };
    }
    Ok(parent)
}

async fn put_method(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    id: &str,
    resource_id: &str,
    method: &str,
) -> Result<(), AwsError> {
    ctx.call(Step::Trigger, || async {
        client
            .put_method()
            .rest_api_id(id)
            .resource_id(resource_id)
            .http_method(method)
            .authorization_type("NONE")
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutMethod", error))
    })
    .await?;
    Ok(())
}

/// The `OPTIONS` method of one path answering preflights itself (a `MOCK` integration
/// whose 200 response carries the CORS headers); an existing one is replaced whole.
async fn put_cors(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    id: &str,
    resource_id: &str,
    cors: &PutCors,
) -> Result<(), AwsError> {
    if cors.exists {
        ctx.call_optional(Step::Trigger, || async {
            client
                .delete_method()
                .rest_api_id(id)
                .resource_id(resource_id)
                .http_method("OPTIONS")
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteMethod", error))
        })
        .await?;
    }
    put_method(ctx, client, id, resource_id, "OPTIONS").await?;
    let declared: HashMap<String, bool> = cors
        .parameters
        .keys()
        .map(|key| (key.clone(), false))
        .collect();
    ctx.call(Step::Trigger, || async {
        client
            .put_method_response()
            .rest_api_id(id)
            .resource_id(resource_id)
            .http_method("OPTIONS")
            .status_code("200")
            .set_response_parameters(Some(declared.clone()))
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutMethodResponse", error))
    })
    .await?;
    ctx.call(Step::Trigger, || async {
        client
            .put_integration()
            .rest_api_id(id)
            .resource_id(resource_id)
            .http_method("OPTIONS")
            .r#type(IntegrationType::Mock)
            .request_templates("application/json", "{\"statusCode\": 200}")
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutIntegration", error))
    })
    .await?;
    let values: HashMap<String, String> = cors
        .parameters
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    ctx.call(Step::Trigger, || async {
        client
            .put_integration_response()
            .rest_api_id(id)
            .resource_id(resource_id)
            .http_method("OPTIONS")
            .status_code("200")
            // No response template: the MOCK answer's body is empty anyway, and API Gateway
            // reads an empty template back as `null`, which a strict map reader refuses.
            .set_response_parameters(Some(values.clone()))
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutIntegrationResponse", error))
    })
    .await?;
    Ok(())
}

/// Deletes a REST API; one already gone is not an error.
pub(super) async fn delete(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    id: &str,
) -> Result<(), AwsError> {
    ctx.call_optional(Step::Remove, || async {
        client
            .delete_rest_api()
            .rest_api_id(id)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("DeleteRestApi", error))
    })
    .await?;
    Ok(())
}

/// `(function, METHOD /path, URL)` of every proxy method of strata's API of the stage.
pub(super) async fn describe(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigateway::Client,
    service: &str,
    stage: &str,
    region: &str,
) -> Result<Vec<(String, String, String)>, AwsError> {
    let mut found = Vec::new();
    for id in owned(ctx, client, service, stage).await? {
        let state = read(ctx, client, &id, stage).await?;
        for resource in &state.resources {
            for (method, method_state) in &resource.methods {
                let MethodState::Proxy(uri) = method_state else {
                    continue;
                };
                let Some(function) = function_of(uri) else {
                    continue;
                };
                found.push((
                    function.to_owned(),
                    format!("{method} {}", resource.path),
                    rest_url(&id, region, stage, resource.path.trim_start_matches('/')),
                ));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use strata_provider::{HttpSpec, RoleSpec};

    use super::*;

    const REGION: &str = "eu-west-1";

    fn route(function: &str, method: &str, path: &str, cors: Option<CorsSpec>) -> Route {
        Route {
            function: function.to_owned(),
            deployed_name: format!("svc-prod-{function}"),
            alias_arn: format!(
                "arn:aws:lambda:{REGION}:123456789012:function:svc-prod-{function}:prod"
            ),
            spec: HttpSpec {
                api: HttpApiKind::Rest,
                method: method.to_owned(),
                path: path.to_owned(),
                cors,
            },
        }
    }

    fn serverless_cors() -> CorsSpec {
        CorsSpec {
            origins: vec!["*".into()],
            headers: [
                "Content-Type",
                "X-Amz-Date",
                "Authorization",
                "X-Api-Key",
                "X-Amz-Security-Token",
                "X-Amz-User-Agent",
            ]
            .map(str::to_owned)
            .to_vec(),
            allow_credentials: false,
            max_age_s: None,
        }
    }

    fn empty_spec() -> DeploySpec {
        DeploySpec {
            service: "svc".into(),
            stage: "prod".into(),
            functions: vec![],
            layers: vec![],
            role: RoleSpec::Managed { statements: vec![] },
            unmanaged: vec![],
            force: false,
            adopt: false,
            aws_stack: None,
            partial: false,
        }
    }

    /// The API as a previous deploy of `routes` left it.
    fn deployed(routes: &[Route]) -> RestState {
        let changes = diff(&empty_spec(), routes, REGION, None);
        let mut state = RestState {
            id: "abc123".into(),
            resources: vec![ResourceState {
                id: "root".into(),
                path: "/".into(),
                methods: BTreeMap::new(),
            }],
            deployed: Some(changes.description.clone()),
        };
        for put in &changes.put_methods {
            let mut prefix = String::new();
            for part in put.path.split('/').filter(|part| !part.is_empty()) {
                prefix = format!("{prefix}/{part}");
                if !state.resources.iter().any(|r| r.path == prefix) {
                    state.resources.push(ResourceState {
                        id: format!("id{prefix}"),
                        path: prefix.clone(),
                        methods: BTreeMap::new(),
                    });
                }
            }
            let index = state
                .resources
                .iter()
                .position(|r| r.path == put.path)
                .unwrap();
            state.resources[index]
                .methods
                .insert(put.method.clone(), MethodState::Proxy(put.uri.clone()));
        }
        for cors in &changes.put_cors {
            let resource = state
                .resources
                .iter_mut()
                .find(|r| r.path == cors.path)
                .unwrap();
            resource
                .methods
                .insert("OPTIONS".into(), MethodState::Cors(cors.parameters.clone()));
        }
        state
    }

    #[test]
    fn the_integration_uri_is_lambda_s_invoke_path_on_the_alias() {
        assert_eq!(
            integration_uri(
                "eu-west-1",
                "arn:aws:lambda:eu-west-1:123456789012:function:svc-prod-hello:prod"
            ),
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:svc-prod-hello:prod/invocations"
        );
        assert_eq!(
            function_of(&integration_uri(
                "eu-west-1",
                "arn:aws:lambda:eu-west-1:123456789012:function:svc-prod-hello:prod"
            )),
            Some("svc-prod-hello")
        );
    }

    #[test]
    fn cors_true_answers_with_serverless_headers_and_the_path_s_methods() {
        let parameters = cors_parameters(&serverless_cors(), &["GET", "POST"]);
        assert_eq!(
            parameters,
            BTreeMap::from([
                (
                    "method.response.header.Access-Control-Allow-Headers".to_owned(),
                    "'Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token,X-Amz-User-Agent'".to_owned()
                ),
                (
                    "method.response.header.Access-Control-Allow-Methods".to_owned(),
                    "'OPTIONS,GET,POST'".to_owned()
                ),
                (
                    "method.response.header.Access-Control-Allow-Origin".to_owned(),
                    "'*'".to_owned()
                ),
            ])
        );
        let any = cors_parameters(
            &CorsSpec {
                allow_credentials: true,
                max_age_s: Some(86400),
                ..serverless_cors()
            },
            &["ANY"],
        );
        assert_eq!(
            any["method.response.header.Access-Control-Allow-Methods"],
            "'OPTIONS,DELETE,GET,HEAD,PATCH,POST,PUT'"
        );
        assert_eq!(
            any["method.response.header.Access-Control-Allow-Credentials"],
            "'true'"
        );
        assert_eq!(
            any["method.response.header.Access-Control-Max-Age"],
            "'86400'"
        );
    }

    #[test]
    fn a_new_api_creates_every_method_and_deploys() {
        let routes = [
            route("hello", "GET", "hello", None),
            route("hello", "POST", "hello", None),
            route("api", "ANY", "{proxy+}", Some(serverless_cors())),
        ];
        let changes = diff(&empty_spec(), &routes, REGION, None);
        assert!(changes.redeploy);
        assert_eq!(changes.put_methods.len(), 3);
        assert_eq!(changes.put_cors.len(), 1);
        assert_eq!(changes.put_cors[0].path, "/{proxy+}");
        let sources: Vec<&str> = changes.lines.iter().map(|l| l.source.as_str()).collect();
        assert_eq!(sources, ["GET /hello", "POST /hello", "ANY /{proxy+}"]);
        assert!(
            changes
                .lines
                .iter()
                .all(|l| l.action == TriggerAction::Create)
        );
    }

    #[test]
    fn an_unchanged_api_changes_nothing_and_is_not_redeployed() {
        let routes = [
            route("hello", "GET", "hello", None),
            route("api", "ANY", "{proxy+}", Some(serverless_cors())),
        ];
        let state = deployed(&routes);
        let changes = diff(&empty_spec(), &routes, REGION, Some(&state));
        assert!(!changes.redeploy, "{changes:?}");
        assert!(changes.put_methods.is_empty() && changes.put_cors.is_empty());
        assert!(changes.delete_methods.is_empty() && changes.delete_resources.is_empty());
        assert!(
            changes
                .lines
                .iter()
                .all(|l| l.action == TriggerAction::Unchanged)
        );

        // A deployment that is not this one (an earlier deploy stopped): redeploy only.
        let mut stale = state.clone();
        stale.deployed = Some("strata:0000".into());
        let changes = diff(&empty_spec(), &routes, REGION, Some(&stale));
        assert!(changes.redeploy && changes.put_methods.is_empty());
    }

    #[test]
    fn a_route_moved_to_another_function_replaces_only_its_integration() {
        let before = [
            route("hello", "GET", "hello", None),
            route("hello", "POST", "hello", None),
        ];
        let state = deployed(&before);
        let after = [
            route("hello", "GET", "hello", None),
            route("other", "POST", "hello", None),
        ];
        let changes = diff(&empty_spec(), &after, REGION, Some(&state));
        assert_eq!(changes.put_methods.len(), 1);
        assert_eq!(changes.put_methods[0].method, "POST");
        assert!(changes.put_methods[0].exists);
        assert!(changes.redeploy);
        assert!(matches!(
            &changes.lines[1].action,
            TriggerAction::Update { changes } if changes[0].field == "integration"
        ));
    }

    #[test]
    fn a_route_left_out_is_deleted_and_an_emptied_path_goes_with_its_resource() {
        let before = [
            route("hello", "GET", "hello", None),
            route("hello", "POST", "hello", None),
            route("hello", "GET", "users/{id}", None),
        ];
        let state = deployed(&before);
        let after = [route("hello", "GET", "hello", None)];
        let changes = diff(&empty_spec(), &after, REGION, Some(&state));
        assert_eq!(
            changes.delete_methods,
            [("id/hello".to_owned(), "POST".to_owned())]
        );
        assert_eq!(changes.delete_resources, ["id/users".to_owned()]);
        let deleted: Vec<(&str, &str)> = changes
            .lines
            .iter()
            .filter(|l| l.action == TriggerAction::Delete)
            .map(|l| (l.function.as_str(), l.source.as_str()))
            .collect();
        assert_eq!(
            deleted,
            [
                ("svc-prod-hello", "POST /hello"),
                ("svc-prod-hello", "GET /users/{id}")
            ]
        );

        let changes = diff(&empty_spec(), &[], REGION, Some(&state));
        assert!(changes.delete_api && !changes.redeploy);
    }
}
