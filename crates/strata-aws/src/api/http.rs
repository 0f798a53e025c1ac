//! The stage's API Gateway HTTP API (`httpApi` events): one `AWS_PROXY` integration per
//! function (payload format 2.0, on its stage alias), a route per event targeting it, the
//! API's CORS configuration, and the `$default` stage, which deploys every change itself.

use std::collections::BTreeMap;

use aws_sdk_apigatewayv2::types::{Cors, IntegrationType, ProtocolType};
use strata_provider::{
    CorsSpec, DeploySpec, FieldChange, HttpApiKind, Step, TriggerAction, TriggerPlan,
};

use super::{
    Applied, DeployedApi, Place, Route, api_name, default_endpoint, function_of, line,
    logical_name, routes,
};
use crate::call::CallContext;
use crate::deploy::owned_by;
use crate::desired::{TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};

/// The only stage strata makes: it serves the API's current routes at the endpoint's root.
const DEFAULT_STAGE: &str = "$default";

/// The payload Lambda receives from an HTTP API (2.0 is Serverless' default for `httpApi`).
pub(crate) const PAYLOAD_FORMAT_VERSION: &str = "2.0";

/// An HTTP API's CORS configuration, lists in a stable order to compare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CorsConfig {
    pub origins: Vec<String>,
    pub headers: Vec<String>,
    pub methods: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_s: Option<i32>,
}

impl CorsConfig {
    /// The configuration a route's `cors` asks for: its origins and headers, `OPTIONS` and
    /// the methods of every route (only `*` besides `OPTIONS` when a route takes any method,
    /// since `*` already allows the others).
    pub(crate) fn wanted(cors: &CorsSpec, routes: &[Route]) -> Self {
        let any = routes
            .iter()
            .any(|route| matches!(route.spec.method.as_str(), "ANY" | "*"));
        let mut methods = vec!["OPTIONS".to_owned()];
        if any {
            methods.push("*".to_owned());
        } else {
            for route in routes {
                if !methods.contains(&route.spec.method) {
                    methods.push(route.spec.method.clone());
                }
            }
        }
        Self {
            origins: cors.origins.clone(),
            headers: cors.headers.clone(),
            methods,
            allow_credentials: cors.allow_credentials,
            max_age_s: cors
                .max_age_s
                .map(|age| i32::try_from(age).unwrap_or(i32::MAX)),
        }
        .normalized()
    }

    fn read(cors: &Cors) -> Self {
        Self {
            origins: cors.allow_origins().to_vec(),
            headers: cors.allow_headers().to_vec(),
            methods: cors.allow_methods().to_vec(),
            allow_credentials: cors.allow_credentials().unwrap_or(false),
            max_age_s: cors.max_age(),
        }
        .normalized()
    }

    /// Sorted, headers in lower case: API Gateway treats both as sets, case-insensitively.
    fn normalized(mut self) -> Self {
        self.origins.sort();
        self.headers = self
            .headers
            .iter()
            .map(|header| header.to_ascii_lowercase())
            .collect();
        self.headers.sort();
        self.methods.sort();
        self
    }

    pub(crate) fn to_sdk(&self) -> Cors {
        Cors::builder()
            .set_allow_origins(Some(self.origins.clone()))
            .set_allow_headers(Some(self.headers.clone()))
            .set_allow_methods(Some(self.methods.clone()))
            .allow_credentials(self.allow_credentials)
            .set_max_age(self.max_age_s)
            .build()
    }

    fn describe(&self) -> String {
        format!(
            "origins {} headers {} methods {}{}{}",
            self.origins.join(","),
            self.headers.join(","),
            self.methods.join(","),
            if self.allow_credentials {
                " credentials"
            } else {
                ""
            },
            self.max_age_s
                .map(|age| format!(" max-age {age}"))
                .unwrap_or_default()
        )
    }
}

/// An HTTP API as strata reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct HttpState {
    pub id: String,
    pub endpoint: String,
    pub cors: Option<CorsConfig>,
    /// Integration id to the function ARN it invokes.
    pub integrations: BTreeMap<String, String>,
    pub routes: Vec<RouteState>,
    pub default_stage: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RouteState {
    pub id: String,
    pub key: String,
    /// `integrations/<id>`.
    pub target: Option<String>,
}

/// Everything one deploy does to the HTTP API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct HttpChanges {
    pub lines: Vec<TriggerPlan>,
    /// Alias ARNs that need an integration.
    pub create_integrations: Vec<String>,
    /// `(route key, alias ARN)`.
    pub create_routes: Vec<(String, String)>,
    /// `(route id, alias ARN)`.
    pub update_routes: Vec<(String, String)>,
    pub delete_routes: Vec<String>,
    pub delete_integrations: Vec<String>,
    /// `Some` when the CORS configuration changes (to `None`: removed).
    pub cors: Option<Option<CorsConfig>>,
    pub create_stage: bool,
    pub delete_api: bool,
}

/// `integrations/<id>`, what a route targets.
pub(crate) fn route_target(integration_id: &str) -> String {
    format!("integrations/{integration_id}")
}

fn wanted_cors(routes: &[Route]) -> Option<CorsConfig> {
    routes
        .iter()
        .find_map(|route| route.spec.cors.as_ref())
        .map(|cors| CorsConfig::wanted(cors, routes))
}

/// Compares the wanted routes with the API as it is (`None`: no API yet).
pub(super) fn diff(spec: &DeploySpec, routes: &[Route], state: Option<&HttpState>) -> HttpChanges {
    let api_id = state.map(|state| state.id.as_str());
    let mut changes = HttpChanges {
        delete_api: routes.is_empty() && state.is_some(),
        create_stage: !routes.is_empty() && !state.is_some_and(|state| state.default_stage),
        ..HttpChanges::default()
    };
    let integrations = state.map(|state| &state.integrations);
    let target_of = |route: &RouteState| -> Option<String> {
        let id = route.target.as_deref()?.strip_prefix("integrations/")?;
        integrations?.get(id).cloned()
    };
    let mut existing: BTreeMap<&str, &RouteState> = state
        .map(|state| {
            state
                .routes
                .iter()
                .map(|route| (route.key.as_str(), route))
                .collect()
        })
        .unwrap_or_default();

    let cors = wanted_cors(routes);
    let current_cors = state.and_then(|state| state.cors.clone());
    let cors_change = (state.is_some() && cors != current_cors).then(|| {
        changes.cors = Some(cors.clone());
        FieldChange::new(
            "cors",
            current_cors.as_ref().map(CorsConfig::describe),
            cors.as_ref().map(CorsConfig::describe),
        )
    });

    for route in routes {
        let key = route.spec.route();
        let current = existing.remove(key.as_str());
        let current_target = current.and_then(target_of);
        let mut fields = Vec::new();
        match current {
            None => changes
                .create_routes
                .push((key.clone(), route.alias_arn.clone())),
            Some(current) if current_target.as_deref() != Some(route.alias_arn.as_str()) => {
                fields.push(FieldChange::new(
                    "integration",
                    current_target.clone(),
                    Some(route.alias_arn.clone()),
                ));
                changes
                    .update_routes
                    .push((current.id.clone(), route.alias_arn.clone()));
            }
            Some(_) => {}
        }
        fields.extend(cors_change.clone());
        let action = match current {
            None => TriggerAction::Create,
            Some(_) if fields.is_empty() => TriggerAction::Unchanged,
            Some(_) => TriggerAction::Update { changes: fields },
        };
        changes.lines.push(line(
            HttpApiKind::Http,
            &route.function,
            key,
            api_id,
            action,
        ));
    }
    for (key, route) in existing {
        let function = target_of(route)
            .as_deref()
            .and_then(function_of)
            .map_or_else(String::new, |name| logical_name(spec, name));
        changes.lines.push(line(
            HttpApiKind::Http,
            &function,
            key.to_owned(),
            api_id,
            TriggerAction::Delete,
        ));
        if !changes.delete_api {
            changes.delete_routes.push(route.id.clone());
        }
    }

    let mut wanted_targets: Vec<&str> = routes
        .iter()
        .map(|route| route.alias_arn.as_str())
        .collect();
    wanted_targets.dedup();
    for target in &wanted_targets {
        if !integrations.is_some_and(|known| known.values().any(|uri| uri == target))
            && !changes
                .create_integrations
                .iter()
                .any(|known| known == target)
        {
            changes.create_integrations.push((*target).to_owned());
        }
    }
    if !changes.delete_api {
        for (id, uri) in integrations.into_iter().flatten() {
            if !wanted_targets.contains(&uri.as_str()) {
                changes.delete_integrations.push(id.clone());
            }
        }
    }
    changes
}

/// The ids of strata's HTTP APIs of the stage (normally one).
pub(super) async fn owned(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    service: &str,
    stage: &str,
) -> Result<Vec<String>, AwsError> {
    Ok(owned_apis(ctx, client, service, stage)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// `(id, endpoint)` of strata's HTTP APIs of the stage.
async fn owned_apis(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    service: &str,
    stage: &str,
) -> Result<Vec<(String, String)>, AwsError> {
    let name = api_name(service, stage);
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                client
                    .get_apis()
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("GetApis", error))
            })
            .await?;
        for api in page.items() {
            if api.name() == Some(name.as_str())
                && api.protocol_type() == Some(&ProtocolType::Http)
                && owned_by(api.tags(), service, stage)
            {
                let id = api.api_id().unwrap_or_default().to_owned();
                let endpoint = api.api_endpoint().unwrap_or_default().to_owned();
                found.push((id, endpoint));
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(found),
        }
    }
}

/// Reads the API's CORS configuration, integrations, routes and whether `$default` exists.
async fn read(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    id: &str,
    endpoint: &str,
) -> Result<HttpState, AwsError> {
    let api = ctx
        .call(Step::Read, || async {
            client
                .get_api()
                .api_id(id)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetApi", error))
        })
        .await?;
    let mut state = HttpState {
        id: id.to_owned(),
        endpoint: api.api_endpoint().unwrap_or(endpoint).to_owned(),
        cors: api.cors_configuration().map(CorsConfig::read),
        ..HttpState::default()
    };
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                client
                    .get_integrations()
                    .api_id(id)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("GetIntegrations", error))
            })
            .await?;
        for integration in page.items() {
            if let Some(integration_id) = integration.integration_id() {
                state.integrations.insert(
                    integration_id.to_owned(),
                    integration.integration_uri().unwrap_or_default().to_owned(),
                );
            }
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                client
                    .get_routes()
                    .api_id(id)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("GetRoutes", error))
            })
            .await?;
        state
            .routes
            .extend(page.items().iter().map(|route| RouteState {
                id: route.route_id().unwrap_or_default().to_owned(),
                key: route.route_key().unwrap_or_default().to_owned(),
                target: route.target().map(str::to_owned),
            }));
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    let stages = ctx
        .call(Step::Read, || async {
            client
                .get_stages()
                .api_id(id)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetStages", error))
        })
        .await?;
    state.default_stage = stages
        .items()
        .iter()
        .any(|stage| stage.stage_name() == Some(DEFAULT_STAGE));
    Ok(state)
}

async fn current(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    place: &Place<'_>,
) -> Result<Option<HttpState>, AwsError> {
    match owned_apis(ctx, client, place.service, place.stage)
        .await?
        .first()
    {
        Some((id, endpoint)) => Ok(Some(read(ctx, client, id, endpoint).await?)),
        None => Ok(None),
    }
}

/// The plan lines of the HTTP API, from reads only.
pub(super) async fn plan(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    spec: &DeploySpec,
    place: &Place<'_>,
) -> Result<Vec<TriggerPlan>, AwsError> {
    let routes = routes(spec, HttpApiKind::Http, place);
    let state = current(ctx, client, place).await?;
    Ok(diff(spec, &routes, state.as_ref()).lines)
}

/// Brings the HTTP API to the spec; `None` when the spec has no `httpApi` route (and
/// strata's API of the stage, if any, is deleted).
pub(super) async fn apply(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    spec: &DeploySpec,
    place: &Place<'_>,
) -> Result<Applied, AwsError> {
    let routes = routes(spec, HttpApiKind::Http, place);
    let state = current(ctx, client, place).await?;
    let state = match (state, routes.is_empty()) {
        (Some(state), true) => {
            delete(ctx, client, &state.id).await?;
            return Ok(Applied::Deleted);
        }
        (None, true) => return Ok(Applied::Absent),
        (Some(state), false) => state,
        (None, false) => create(ctx, client, place, wanted_cors(&routes)).await?,
    };
    let id = state.id.clone();
    let changes = diff(spec, &routes, Some(&state));

    let mut integration_of: BTreeMap<String, String> = state
        .integrations
        .iter()
        .map(|(id, uri)| (uri.clone(), id.clone()))
        .collect();
    for target in &changes.create_integrations {
        let created = ctx
            .call(Step::Trigger, || async {
                client
                    .create_integration()
                    .api_id(&id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_uri(target)
                    .payload_format_version(PAYLOAD_FORMAT_VERSION)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("CreateIntegration", error))
            })
            .await?;
        integration_of.insert(
            target.clone(),
            created.integration_id().unwrap_or_default().to_owned(),
        );
    }
    let target_of =
        |alias: &str| route_target(integration_of.get(alias).map_or("", String::as_str));
    for (key, alias) in &changes.create_routes {
        let target = target_of(alias);
        ctx.call(Step::Trigger, || async {
            client
                .create_route()
                .api_id(&id)
                .route_key(key)
                .target(&target)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateRoute", error))
        })
        .await?;
    }
    for (route_id, alias) in &changes.update_routes {
        let target = target_of(alias);
        ctx.call(Step::Trigger, || async {
            client
                .update_route()
                .api_id(&id)
                .route_id(route_id)
                .target(&target)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("UpdateRoute", error))
        })
        .await?;
    }
    for route_id in &changes.delete_routes {
        ctx.call_optional(Step::Trigger, || async {
            client
                .delete_route()
                .api_id(&id)
                .route_id(route_id)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteRoute", error))
        })
        .await?;
    }
    for integration_id in &changes.delete_integrations {
        ctx.call_optional(Step::Trigger, || async {
            client
                .delete_integration()
                .api_id(&id)
                .integration_id(integration_id)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteIntegration", error))
        })
        .await?;
    }
    match &changes.cors {
        Some(Some(cors)) => {
            ctx.call(Step::Trigger, || async {
                client
                    .update_api()
                    .api_id(&id)
                    .cors_configuration(cors.to_sdk())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("UpdateApi", error))
            })
            .await?;
        }
        Some(None) => {
            ctx.call_optional(Step::Trigger, || async {
                client
                    .delete_cors_configuration()
                    .api_id(&id)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("DeleteCorsConfiguration", error))
            })
            .await?;
        }
        None => {}
    }
    if changes.create_stage {
        ctx.call(Step::Trigger, || async {
            client
                .create_stage()
                .api_id(&id)
                .stage_name(DEFAULT_STAGE)
                .auto_deploy(true)
                .tags(TAG_SERVICE, place.service)
                .tags(TAG_STAGE, place.stage)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateStage", error))
        })
        .await?;
    }
    Ok(Applied::Kept(DeployedApi {
        id,
        endpoint: state.endpoint,
    }))
}

async fn create(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    place: &Place<'_>,
    cors: Option<CorsConfig>,
) -> Result<HttpState, AwsError> {
    let name = api_name(place.service, place.stage);
    let created = ctx
        .call(Step::Trigger, || async {
            client
                .create_api()
                .name(&name)
                .protocol_type(ProtocolType::Http)
                .description(format!(
                    "strata: `httpApi` events of service {}, stage {}",
                    place.service, place.stage
                ))
                .set_cors_configuration(cors.as_ref().map(CorsConfig::to_sdk))
                .tags(TAG_SERVICE, place.service)
                .tags(TAG_STAGE, place.stage)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateApi", error))
        })
        .await?;
    let id = created.api_id().unwrap_or_default().to_owned();
    Ok(HttpState {
        endpoint: created
            .api_endpoint()
            .map_or_else(|| default_endpoint(&id, place.region), str::to_owned),
        cors,
        id,
        ..HttpState::default()
    })
}

/// Deletes an HTTP API; one already gone is not an error.
pub(super) async fn delete(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    id: &str,
) -> Result<(), AwsError> {
    ctx.call_optional(Step::Remove, || async {
        client
            .delete_api()
            .api_id(id)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("DeleteApi", error))
    })
    .await?;
    Ok(())
}

/// `(function, route key, URL)` of every route of strata's HTTP API of the stage.
pub(super) async fn describe(
    ctx: &CallContext<'_>,
    client: &aws_sdk_apigatewayv2::Client,
    service: &str,
    stage: &str,
) -> Result<Vec<(String, String, String)>, AwsError> {
    let mut found = Vec::new();
    for (id, endpoint) in owned_apis(ctx, client, service, stage).await? {
        let state = read(ctx, client, &id, &endpoint).await?;
        for route in &state.routes {
            let Some(function) = route
                .target
                .as_deref()
                .and_then(|target| target.strip_prefix("integrations/"))
                .and_then(|integration| state.integrations.get(integration))
                .and_then(|uri| function_of(uri))
            else {
                continue;
            };
            let url = match route.key.split_once(' ') {
                Some((_, path)) => format!("{}{path}", state.endpoint.trim_end_matches('/')),
                None => format!("{}/", state.endpoint.trim_end_matches('/')),
            };
            found.push((function.to_owned(), route.key.clone(), url));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use strata_provider::{HttpSpec, RoleSpec};

    use super::*;
    use crate::api::{Place, source_arn};

    fn route(function: &str, method: &str, path: &str) -> Route {
        Route {
            function: function.to_owned(),
            deployed_name: format!("svc-prod-{function}"),
            alias_arn: format!(
                "arn:aws:lambda:eu-west-1:123456789012:function:svc-prod-{function}:prod"
            ),
            spec: HttpSpec {
                api: HttpApiKind::Http,
                method: method.to_owned(),
                path: path.to_owned(),
                cors: None,
            },
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
    fn deployed(routes: &[Route]) -> HttpState {
        let changes = diff(&empty_spec(), routes, None);
        let mut state = HttpState {
            id: "api1".into(),
            endpoint: "https://api1.execute-api.eu-west-1.amazonaws.com".into(),
            cors: wanted_cors(routes),
            default_stage: true,
            ..HttpState::default()
        };
        for (index, alias) in changes.create_integrations.iter().enumerate() {
            state
                .integrations
                .insert(format!("i{index}"), alias.clone());
        }
        for (index, (key, alias)) in changes.create_routes.iter().enumerate() {
            let integration = state
                .integrations
                .iter()
                .find(|(_, uri)| *uri == alias)
                .map(|(id, _)| id.clone())
                .unwrap();
            state.routes.push(RouteState {
                id: format!("r{index}"),
                key: key.clone(),
                target: Some(route_target(&integration)),
            });
        }
        state
    }

    #[test]
    fn route_keys_are_api_gateway_s() {
        let keys: Vec<String> = [
            route("f", "GET", "hello"),
            route("f", "ANY", "{proxy+}"),
            route("f", "*", "*"),
            route("f", "POST", ""),
        ]
        .iter()
        .map(|route| route.spec.route())
        .collect();
        assert_eq!(keys, ["GET /hello", "ANY /{proxy+}", "$default", "POST /"]);
    }

    #[test]
    fn source_arns_are_scoped_to_the_api_method_and_path() {
        let place = Place {
            service: "svc",
            stage: "prod",
            region: "eu-west-1",
            account: "123456789012",
        };
        let arn = |method, path| source_arn(&place, "a1b2c3", &route("f", method, path).spec);
        assert_eq!(
            arn("GET", "hello"),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/*/GET/hello"
        );
        assert_eq!(
            arn("ANY", "{proxy+}"),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/*/*/*"
        );
        assert_eq!(
            arn("GET", "users/{id}/orders"),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/*/GET/users/*/orders"
        );
        assert_eq!(
            arn("*", "*"),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/*/$default"
        );
    }

    #[test]
    fn cors_lists_options_and_the_routes_methods() {
        let cors = CorsSpec {
            origins: vec!["https://example.com".into()],
            headers: vec!["Content-Type".into(), "Authorization".into()],
            allow_credentials: true,
            max_age_s: Some(300),
        };
        let wanted = CorsConfig::wanted(
            &cors,
            &[
                route("f", "GET", "a"),
                route("g", "POST", "b"),
                route("g", "GET", "c"),
            ],
        );
        assert_eq!(wanted.methods, ["GET", "OPTIONS", "POST"]);
        assert_eq!(wanted.headers, ["authorization", "content-type"]);
        assert_eq!(wanted.max_age_s, Some(300));
        let any = CorsConfig::wanted(&cors, &[route("f", "ANY", "{proxy+}")]);
        assert_eq!(any.methods, ["*", "OPTIONS"]);
    }

    #[test]
    fn one_integration_per_function_and_nothing_to_do_the_second_time() {
        let routes = [
            route("hello", "GET", "hello"),
            route("hello", "POST", "hello"),
            route("api", "ANY", "{proxy+}"),
        ];
        let first = diff(&empty_spec(), &routes, None);
        assert_eq!(first.create_integrations.len(), 2);
        assert_eq!(first.create_routes.len(), 3);
        assert!(first.create_stage);
        let state = deployed(&routes);
        let second = diff(&empty_spec(), &routes, Some(&state));
        assert_eq!(
            second,
            HttpChanges {
                lines: second.lines.clone(),
                ..HttpChanges::default()
            }
        );
        assert!(
            second
                .lines
                .iter()
                .all(|l| l.action == TriggerAction::Unchanged)
        );
    }

    #[test]
    fn a_moved_route_is_retargeted_and_a_dropped_one_deleted_with_its_integration() {
        let before = [
            route("hello", "GET", "hello"),
            route("api", "ANY", "{proxy+}"),
        ];
        let state = deployed(&before);
        let after = [route("api", "GET", "hello")];
        let changes = diff(&empty_spec(), &after, Some(&state));
        assert_eq!(changes.update_routes.len(), 1);
        assert_eq!(changes.delete_routes.len(), 1);
        assert!(changes.create_integrations.is_empty());
        // `hello`'s integration is no longer a target.
        assert_eq!(changes.delete_integrations.len(), 1);
        assert_eq!(
            state.integrations[&changes.delete_integrations[0]],
            before[0].alias_arn
        );
    }
}
