//! The manifest's fields: every key strata reads, its shape and the description editors show.

use std::sync::LazyLock;

use indexmap::IndexMap;

use super::shape::{Field, Object, Shape, arr, f, kept, map, obj, obj_required, strings};
use crate::config::UnmanagedKind;

const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];
/// `package.resolver` / `custom.strata.resolver`, as `--resolver` and `STRATA_RESOLVER` name them.
pub(crate) const RESOLVERS: &[&str] = &["native", "uv", "pip"];
/// The resolver setting's description, with the other manifest kind's spelling after it.
macro_rules! resolver_doc {
    ($where:literal) => {
        concat!(
            "strata: the resolver that pins requirements when strata.lock is stale: native (strata's own, the default; no Python needed), uv or pip. `--resolver` and STRATA_RESOLVER override it. ",
            $where
        )
    };
}
const CLOUDS: &[&str] = &["aws", "azure", "gcp"];
const AZURE_PLANS: &[&str] = &["consumption", "flexConsumption", "premium", "dedicated"];

pub(crate) struct Schema {
    pub(crate) root: Shape,
    pub(crate) defs: IndexMap<&'static str, Shape>,
}

pub(crate) static SCHEMA: LazyLock<Schema> = LazyLock::new(build);

fn build() -> Schema {
    let mut defs = IndexMap::new();
    defs.insert("environment", map(Shape::Text));
    defs.insert("tags", map(Shape::Text));
    defs.insert("secretEnvironment", strings());
    defs.insert("package", package_shape());
    defs.insert("servicePackage", service_package_shape());
    defs.insert("provider", provider_shape());
    defs.insert("function", function_shape(&["handler"]));
    defs.insert("functionOverride", function_shape(&[]));
    defs.insert("layer", layer_shape());
    defs.insert("pythonRequirements", python_requirements_shape());
    defs.insert("awsSettings", aws_settings_shape());
    defs.insert("azureSettings", azure_settings_shape());
    defs.insert("gcpSettings", gcp_settings_shape());
    defs.insert("functionAws", function_aws_shape());
    defs.insert("functionAzure", function_azure_shape());
    defs.insert("functionGcp", function_gcp_shape());
    defs.insert("custom", custom_shape());
    defs.insert("stageOverrides", stage_overrides_shape());
    Schema {
        root: root_shape(),
        defs,
    }
}

fn root_shape() -> Shape {
    obj_required(
        vec![
            f(
                "service",
                Shape::String,
                "Service name; part of every deployed function name (`<service>-<stage>-<function>`).",
            ),
            f(
                "frameworkVersion",
                Shape::Text,
                "Serverless Framework version constraint; read and ignored by strata.",
            ),
            f(
                "provider",
                Shape::Ref("provider"),
                "Serverless Framework provider block (AWS). `aws:` values override these.",
            ),
            f(
                "runtime",
                Shape::String,
                "strata: default Python runtime of every function, e.g. `python3.12`.",
            ),
            f(
                "functions",
                map(Shape::Ref("function")),
                "Functions by logical name, in deployment order.",
            ),
            f(
                "layers",
                map(Shape::Ref("layer")),
                "Lambda layers built from a folder (Serverless `layers:`).",
            ),
            f(
                "package",
                Shape::Ref("servicePackage"),
                "What goes into the function zips.",
            ),
            f(
                "plugins",
                Shape::AnyOf(vec![
                    strings(),
                    obj(vec![
                        f("localPath", Shape::String, "Folder of local plugins."),
                        f("modules", strings(), "Plugin package names."),
                    ]),
                ]),
                "Serverless plugins; strata implements serverless-python-requirements itself and reports the others.",
            ),
            f(
                "custom",
                Shape::Ref("custom"),
                "Free-form values for `${self:custom.…}`; `pythonRequirements` is read by strata.",
            ),
            f(
                "resources",
                Shape::Any,
                "CloudFormation resources; kept, not deployed by strata yet.",
            )
            .unmanaged(UnmanagedKind::Resource),
            f(
                "params",
                map(map(Shape::Any)),
                "Per-stage parameters for `${param:name}`; `default` applies to every stage.",
            ),
            f(
                "projectDir",
                Shape::String,
                "Serverless: the project root above the service (`../..`), for `${file(…)}` outside it; strata reads files relative to the manifest.",
            ),
            f(
                "useDotenv",
                Shape::Bool,
                "Serverless: load .env files. strata reads the environment it is given.",
            ),
            f(
                "configValidationMode",
                Shape::Enum(&["error", "warn", "off"]),
                "serverless.yml only: unknown keys are errors (`error`), warnings (`warn`, Serverless v3's default) or ignored (`off`). strata.yml is always strict.",
            ),
            f(
                "variablesResolutionMode",
                Shape::Text,
                "Serverless variables resolver version; strata has one resolver.",
            ),
            f(
                "disabledDeprecations",
                Shape::AnyOf(vec![Shape::String, strings()]),
                "Serverless deprecation codes to silence.",
            ),
            f(
                "deprecationNotificationMode",
                Shape::Enum(&["error", "warn", "warn:summary"]),
                "Serverless deprecation reporting mode.",
            ),
            f(
                "unresolvedVariablesNotificationMode",
                Shape::Enum(&["error", "warn"]),
                "Serverless v2 option; strata always errors.",
            ),
            kept("org", Shape::String, "Serverless Dashboard organisation."),
            kept("app", Shape::String, "Serverless Dashboard application."),
            kept("console", Shape::Any, "Serverless Console settings."),
            kept("dashboard", Shape::Any, "Serverless Dashboard settings."),
            kept("outputs", map(Shape::Any), "Serverless Dashboard outputs."),
            f(
                "aws",
                Shape::Ref("awsSettings"),
                "strata: AWS settings; override `provider.*`.",
            ),
            f(
                "azure",
                Shape::Ref("azureSettings"),
                "strata: Azure Functions settings.",
            ),
            f(
                "gcp",
                Shape::Ref("gcpSettings"),
                "strata: Google Cloud Functions (2nd gen) settings.",
            ),
            f(
                "stages",
                map(Shape::Ref("stageOverrides")),
                "strata: per-stage overrides, deep-merged into the manifest before validation.",
            ),
        ],
        &["service"],
    )
}

fn package_shape() -> Shape {
    obj(package_fields())
}

/// The service's `package:`: a function's fields and the resolver (one per project).
fn service_package_shape() -> Shape {
    let mut fields = package_fields();
    fields.push(f(
        "resolver",
        Shape::Enum(RESOLVERS),
        resolver_doc!("In a serverless.yml, write `custom.strata.resolver`."),
    ));
    obj(fields)
}

fn package_fields() -> Vec<Field> {
    vec![
        f(
            "patterns",
            strings(),
            "Globs of files to include; a leading `!` excludes. Applied in order.",
        ),
        f("include", strings(), "Deprecated: use `patterns`.").deprecated("package.patterns"),
        f(
            "exclude",
            strings(),
            "Deprecated: use `patterns` with a leading `!`.",
        )
        .deprecated("package.patterns with `!` globs"),
        f(
            "artifact",
            Shape::String,
            "A prebuilt zip to deploy instead of building one.",
        ),
        f(
            "individually",
            Shape::Bool,
            "Build one zip per function instead of one for the service.",
        ),
        f(
            "excludeDevDependencies",
            Shape::Bool,
            "Serverless (Node.js) option; no effect on Python.",
        ),
        kept(
            "path",
            Shape::String,
            "Serverless: folder of a prebuilt package (`serverless deploy --package`).",
        ),
    ]
}

fn layer_refs() -> Shape {
    arr(Shape::AnyOf(vec![Shape::String, map(Shape::Any)]))
}

fn provider_shape() -> Shape {
    let role_object = obj(vec![
        f("name", Shape::String, "Role name."),
        f("path", Shape::String, "Role path."),
        f(
            "statements",
            arr(Shape::Any),
            "IAM statements of the function role; kept, not applied by strata yet.",
        )
        .unmanaged(UnmanagedKind::IamStatement),
        kept("managedPolicies", arr(Shape::Any), "Managed policy ARNs."),
        kept(
            "permissionsBoundary",
            Shape::Any,
            "Permissions boundary ARN.",
        ),
        kept("tags", Shape::Ref("tags"), "Role tags."),
    ]);
    obj(vec![
        f(
            "name",
            Shape::Enum(&["aws"]),
            "Provider name; Serverless `provider:` is always AWS.",
        ),
        f(
            "runtime",
            Shape::String,
            "Default runtime, e.g. `python3.12`.",
        ),
        f(
            "stage",
            Shape::String,
            "Default stage when --stage is not given (default `dev`).",
        ),
        f("region", Shape::String, "AWS region (default `us-east-1`)."),
        f("profile", Shape::String, "AWS credentials profile."),
        f(
            "memorySize",
            Shape::Integer,
            "Default function memory in MB (default 1024).",
        ),
        f(
            "timeout",
            Shape::Integer,
            "Default function timeout in seconds (default 6).",
        ),
        f(
            "environment",
            Shape::Ref("environment"),
            "Environment variables of every function; a function's own win.",
        ),
        f(
            "secretEnvironment",
            Shape::Ref("secretEnvironment"),
            "strata: environment variable names whose values are masked wherever strata shows them, in every function (names that look secret are masked anyway). In a serverless.yml, write `custom.strata.secretEnvironment`.",
        ),
        f(
            "architecture",
            Shape::Enum(ARCHITECTURES),
            "Default instruction set (default x86_64).",
        ),
        f(
            "deploymentBucket",
            Shape::AnyOf(vec![Shape::String, map(Shape::Any)]),
            "S3 bucket for deployment artifacts (name, or object with `name`).",
        ),
        kept(
            "deploymentPrefix",
            Shape::String,
            "S3 key prefix of deployment artifacts.",
        ),
        kept(
            "deploymentMethod",
            Shape::Enum(&["changesets", "direct"]),
            "CloudFormation deployment method.",
        ),
        f(
            "role",
            Shape::AnyOf(vec![Shape::String, map(Shape::Any)]),
            "Execution role ARN for every function.",
        ),
        kept(
            "rolePermissionsBoundary",
            Shape::Any,
            "Permissions boundary of the generated role.",
        ),
        f(
            "iam",
            obj(vec![
                f(
                    "role",
                    Shape::AnyOf(vec![Shape::String, role_object]),
                    "Role ARN, or the generated role's settings.",
                ),
                kept(
                    "deploymentRole",
                    Shape::String,
                    "Role CloudFormation deploys with.",
                ),
            ]),
            "IAM settings.",
        ),
        f(
            "iamRoleStatements",
            arr(Shape::Any),
            "Deprecated: use provider.iam.role.statements. Kept, not applied by strata yet.",
        )
        .unmanaged(UnmanagedKind::IamStatement)
        .deprecated("provider.iam.role.statements"),
        kept(
            "iamManagedPolicies",
            arr(Shape::Any),
            "Deprecated: use provider.iam.role.managedPolicies.",
        )
        .deprecated("provider.iam.role.managedPolicies"),
        kept(
            "cfnRole",
            Shape::String,
            "Deprecated: use provider.iam.deploymentRole.",
        ),
        f("stackName", Shape::String, "CloudFormation stack name."),
        f(
            "stackTags",
            Shape::Ref("tags"),
            "Tags of the stack and its resources.",
        ),
        kept(
            "stackPolicy",
            arr(Shape::Any),
            "CloudFormation stack policy.",
        ),
        kept(
            "stackParameters",
            arr(Shape::Any),
            "CloudFormation stack parameters.",
        ),
        f("tags", Shape::Ref("tags"), "Tags of every function."),
        kept("tracing", Shape::Any, "X-Ray tracing."),
        kept(
            "logs",
            Shape::Any,
            "API Gateway, WebSocket and function log settings.",
        ),
        kept(
            "logRetentionInDays",
            Shape::Integer,
            "CloudWatch log retention.",
        ),
        kept(
            "logDataProtectionPolicy",
            Shape::Any,
            "CloudWatch data protection policy.",
        ),
        f(
            "versionFunctions",
            Shape::Bool,
            "Publish a version on every deploy (default true).",
        ),
        kept("vpc", Shape::Any, "VPC of every function."),
        f(
            "layers",
            layer_refs(),
            "Layer ARNs added to every function.",
        ),
        kept("apiGateway", Shape::Any, "REST API settings."),
        f(
            "httpApi",
            obj(vec![
                f(
                    "cors",
                    Shape::AnyOf(vec![Shape::Bool, map(Shape::Any)]),
                    "CORS of the stage's HTTP API: `true`, or `allowedOrigins`, `allowedHeaders`, `allowCredentials`, `maxAge`.",
                ),
                kept(
                    "id",
                    Shape::String,
                    "An existing HTTP API to attach routes to.",
                ),
                kept("name", Shape::String, "HTTP API name."),
                kept("payload", Shape::String, "Lambda payload format version."),
                kept("authorizers", Shape::Any, "JWT and Lambda authorizers."),
                kept(
                    "disableDefaultEndpoint",
                    Shape::Bool,
                    "Turn off the execute-api endpoint.",
                ),
                kept("metrics", Shape::Bool, "Detailed metrics."),
                kept(
                    "useProviderTags",
                    Shape::Bool,
                    "Tag the API with provider.tags.",
                ),
                kept(
                    "shouldStartNameWithService",
                    Shape::Bool,
                    "Name the API `<service>-<stage>`.",
                ),
            ]),
            "HTTP API settings.",
        ),
        kept("apiName", Shape::String, "REST API name."),
        kept("endpointType", Shape::String, "REST API endpoint type."),
        kept("websocket", Shape::Any, "WebSocket API settings."),
        kept("websocketsApiName", Shape::String, "WebSocket API name."),
        kept(
            "websocketsApiRouteSelectionExpression",
            Shape::String,
            "WebSocket route selection expression.",
        ),
        kept(
            "websocketsDescription",
            Shape::String,
            "WebSocket API description.",
        ),
        kept(
            "kmsKeyArn",
            Shape::String,
            "KMS key for environment variables.",
        ),
        f(
            "lambdaHashingVersion",
            Shape::Text,
            "Serverless v2 option; ignored.",
        ),
        kept(
            "notificationArns",
            arr(Shape::Any),
            "SNS topics for stack events.",
        ),
        kept(
            "disableRollback",
            Shape::Bool,
            "CloudFormation rollback setting.",
        ),
        kept(
            "rollbackConfiguration",
            Shape::Any,
            "CloudFormation rollback triggers.",
        ),
        kept("eventBridge", Shape::Any, "EventBridge settings."),
        kept("s3", Shape::Any, "S3 buckets for events."),
        kept("alb", Shape::Any, "Application Load Balancer settings."),
        kept("ecr", Shape::Any, "Container images."),
        kept("cloudFront", Shape::Any, "CloudFront settings."),
        kept("usagePlan", Shape::Any, "API Gateway usage plan."),
        kept("apiKeys", Shape::Any, "API Gateway keys."),
        kept("resourcePolicy", Shape::Any, "API Gateway resource policy."),
        kept(
            "runtimeManagement",
            Shape::Any,
            "Lambda runtime management.",
        ),
        kept(
            "vpcEndpointIds",
            Shape::Any,
            "VPC endpoints of a private REST API.",
        ),
        kept("kinesis", Shape::Any, "Kinesis consumer naming."),
    ])
}

fn function_shape(required: &'static [&'static str]) -> Shape {
    obj_required(
        vec![
            f(
                "handler",
                Shape::String,
                "`module.function` (a `path/module.function` path is relative to the project or `module`).",
            ),
            f(
                "name",
                Shape::String,
                "Deployed AWS function name (default `<service>-<stage>-<function>`).",
            ),
            f("description", Shape::String, "Function description."),
            f(
                "runtime",
                Shape::String,
                "Python runtime, e.g. `python3.12`.",
            ),
            f(
                "memorySize",
                Shape::Integer,
                "Memory in MB (default provider.memorySize, else 1024).",
            ),
            f(
                "timeout",
                Shape::Integer,
                "Timeout in seconds (default provider.timeout, else 6).",
            ),
            f(
                "environment",
                Shape::Ref("environment"),
                "Environment variables; merged over provider.environment.",
            ),
            f(
                "secretEnvironment",
                Shape::Ref("secretEnvironment"),
                "strata: environment variable names of this function whose values are masked wherever strata shows them; added to the service-wide list.",
            ),
            f(
                "events",
                arr(Shape::Any),
                "Triggers; kept, not created by strata yet.",
            )
            .unmanaged(UnmanagedKind::Event),
            f(
                "layers",
                layer_refs(),
                "Layer ARNs or `{Ref: NameLambdaLayer}`; replaces provider.layers.",
            ),
            f(
                "package",
                Shape::Ref("package"),
                "Per-function packaging (with package.individually).",
            ),
            f(
                "role",
                Shape::AnyOf(vec![Shape::String, map(Shape::Any)]),
                "Execution role ARN.",
            ),
            f(
                "tags",
                Shape::Ref("tags"),
                "Function tags; merged over provider.tags.",
            ),
            f(
                "architecture",
                Shape::Enum(ARCHITECTURES),
                "Instruction set (default provider.architecture).",
            ),
            f(
                "module",
                Shape::String,
                "serverless-python-requirements: folder with this function's code and requirements.txt.",
            ),
            f(
                "vendor",
                Shape::String,
                "serverless-python-requirements: folder copied in beside this function's packages (with package.individually).",
            ),
            f(
                "requirements",
                Shape::String,
                "strata: this function's own requirements file (relative to the project); functions with identical requirements share one layer.",
            ),
            f(
                "versionFunction",
                Shape::Bool,
                "Publish a version on deploy (default provider.versionFunctions).",
            ),
            f(
                "targets",
                arr(Shape::Enum(CLOUDS)),
                "strata: clouds this function deploys to (default: every cloud with a settings block, else aws).",
            ),
            f(
                "aws",
                Shape::Ref("functionAws"),
                "strata: AWS overrides for this function.",
            ),
            f(
                "azure",
                Shape::Ref("functionAzure"),
                "strata: Azure overrides for this function.",
            ),
            f(
                "gcp",
                Shape::Ref("functionGcp"),
                "strata: GCP overrides for this function.",
            ),
            kept(
                "reservedConcurrency",
                Shape::Integer,
                "Reserved concurrency.",
            ),
            kept(
                "provisionedConcurrency",
                Shape::Integer,
                "Provisioned concurrency.",
            ),
            kept("vpc", Shape::Any, "VPC settings."),
            kept("tracing", Shape::Any, "X-Ray tracing."),
            kept("onError", Shape::String, "Dead letter target ARN."),
            kept("destinations", Shape::Any, "Async invocation destinations."),
            kept(
                "kmsKeyArn",
                Shape::String,
                "KMS key for environment variables.",
            ),
            kept("snapStart", Shape::Bool, "Lambda SnapStart."),
            kept("disableLogs", Shape::Bool, "Skip the log group."),
            kept(
                "logRetentionInDays",
                Shape::Integer,
                "CloudWatch log retention.",
            ),
            kept("logs", Shape::Any, "Log settings."),
            kept("maximumEventAge", Shape::Integer, "Async event age limit."),
            kept(
                "maximumRetryAttempts",
                Shape::Integer,
                "Async retry attempts.",
            ),
            kept("ephemeralStorageSize", Shape::Integer, "/tmp size in MB."),
            kept("fileSystemConfig", Shape::Any, "EFS mount."),
            f(
                "image",
                Shape::Any,
                "Container image; strata builds zip functions only.",
            ),
            kept("condition", Shape::Any, "CloudFormation condition."),
            kept("dependsOn", Shape::Any, "CloudFormation dependencies."),
            kept("url", Shape::Any, "Function URL."),
            kept(
                "runtimeManagement",
                Shape::Any,
                "Lambda runtime management.",
            ),
            kept(
                "awsKmsKeyArn",
                Shape::String,
                "Deprecated: use kmsKeyArn.",
            ),
            kept(
                "logDataProtectionPolicy",
                Shape::Any,
                "CloudWatch data protection policy.",
            ),
            kept(
                "httpApi",
                Shape::Any,
                "HTTP API settings of this function.",
            ),
        ],
        required,
    )
    .replacing_required(&["image"])
}

fn layer_shape() -> Shape {
    obj(vec![
        f(
            "path",
            Shape::String,
            "Folder whose contents become the layer.",
        ),
        f("name", Shape::String, "Deployed layer name."),
        f("description", Shape::String, "Layer description."),
        f(
            "compatibleRuntimes",
            strings(),
            "Runtimes the layer declares, e.g. `python3.12`.",
        ),
        f(
            "compatibleArchitectures",
            arr(Shape::Enum(ARCHITECTURES)),
            "Architectures the layer declares.",
        ),
        f("licenseInfo", Shape::String, "License of the layer."),
        f(
            "allowedAccounts",
            strings(),
            "Accounts allowed to use the layer (`*` for all).",
        ),
        f(
            "retain",
            Shape::Bool,
            "Keep old versions when the layer changes.",
        ),
        f(
            "package",
            obj(vec![
                f("artifact", Shape::String, "A prebuilt layer zip."),
                f("patterns", strings(), "Globs to include; `!` excludes."),
                f("include", strings(), "Deprecated: use `patterns`.")
                    .deprecated("package.patterns"),
                f("exclude", strings(), "Deprecated: use `patterns`.")
                    .deprecated("package.patterns with `!` globs"),
            ]),
            "Layer packaging.",
        ),
    ])
}

fn python_requirements_shape() -> Shape {
    obj(vec![
        f(
            "fileName",
            Shape::String,
            "Requirements file (default requirements.txt).",
        ),
        f(
            "layer",
            Shape::AnyOf(vec![
                Shape::Bool,
                obj(vec![
                    f(
                        "name",
                        Shape::String,
                        "Layer name (default `<service>-<stage>-python-requirements`).",
                    ),
                    f("description", Shape::String, "Layer description."),
                    f(
                        "compatibleRuntimes",
                        strings(),
                        "Runtimes the layer declares.",
                    ),
                    f(
                        "compatibleArchitectures",
                        arr(Shape::Enum(ARCHITECTURES)),
                        "Architectures the layer declares.",
                    ),
                    f("licenseInfo", Shape::String, "License of the layer."),
                    f(
                        "allowedAccounts",
                        strings(),
                        "Accounts allowed to use the layer.",
                    ),
                    f("retain", Shape::Bool, "Keep old layer versions."),
                ]),
            ]),
            "Put dependencies in a Lambda layer instead of the function zip.",
        ),
        f(
            "slim",
            Shape::Bool,
            "Drop tests, caches, .pyc and dist-info extras from dependencies.",
        ),
        f(
            "slimPatterns",
            Shape::AnyOf(vec![Shape::Bool, strings()]),
            "Extra globs removed when slim is on (`false`, the plugin's default, means none).",
        ),
        f(
            "slimPatternsAppendDefaults",
            Shape::Bool,
            "Keep the default slim globs with slimPatterns (default true).",
        ),
        f(
            "strip",
            Shape::Bool,
            "Strip shared libraries when slim is on.",
        ),
        f(
            "noDeploy",
            strings(),
            "Packages left out of the zip (e.g. boto3).",
        ),
        f(
            "zip",
            Shape::Bool,
            "Ship dependencies as a nested .requirements.zip.",
        ),
        f(
            "useStaticCache",
            Shape::Bool,
            "Cache built requirements by hash.",
        ),
        f("useDownloadCache", Shape::Bool, "Cache downloaded wheels."),
        f("cacheLocation", Shape::String, "Cache folder."),
        f(
            "staticCacheMaxVersions",
            Shape::Integer,
            "Number of cached builds kept.",
        ),
        f("invalidateCaches", Shape::Bool, "Ignore caches once."),
        f(
            "pythonBin",
            Shape::String,
            "Python interpreter; strata does not need one.",
        ),
        f("pipCmdExtraArgs", strings(), "Extra pip arguments."),
        f(
            "dockerizePip",
            Shape::AnyOf(vec![Shape::Bool, Shape::Enum(&["non-linux"])]),
            "Build in Docker; strata builds without Docker and ignores it.",
        ),
        f("dockerSsh", Shape::Bool, "Docker build option; ignored."),
        f(
            "dockerImage",
            Shape::String,
            "Docker build option; ignored.",
        ),
        f("dockerFile", Shape::String, "Docker build option; ignored."),
        f("dockerEnv", strings(), "Docker build option; ignored."),
        f(
            "dockerPrivateKey",
            Shape::String,
            "Docker build option; ignored.",
        ),
        f(
            "dockerBuildCmdExtraArgs",
            strings(),
            "Docker build option; ignored.",
        ),
        f(
            "dockerRunCmdExtraArgs",
            strings(),
            "Docker build option; ignored.",
        ),
        f(
            "dockerExtraFiles",
            strings(),
            "Docker build option; ignored.",
        ),
        f(
            "dockerRootless",
            Shape::Bool,
            "Docker build option; ignored.",
        ),
        f("usePipenv", Shape::Bool, "Read a Pipfile."),
        f("usePoetry", Shape::Bool, "Read pyproject.toml/poetry.lock."),
        f(
            "requirePoetryLockFile",
            Shape::Bool,
            "Fail without poetry.lock.",
        ),
        f("poetryWithGroups", strings(), "Poetry groups to include."),
        f(
            "poetryWithoutGroups",
            strings(),
            "Poetry groups to exclude.",
        ),
        f("poetryOnlyGroups", strings(), "Only these Poetry groups."),
        f(
            "vendor",
            Shape::String,
            "Folder of vendored packages copied into the zip.",
        ),
    ])
}

fn aws_settings_shape() -> Shape {
    obj(vec![
        f(
            "region",
            Shape::String,
            "AWS region; overrides provider.region.",
        ),
        f("profile", Shape::String, "AWS credentials profile."),
        f(
            "role",
            Shape::String,
            "Execution role ARN for every function.",
        ),
        f(
            "deploymentBucket",
            Shape::String,
            "S3 bucket for zips over the direct-upload limit.",
        ),
        f(
            "architecture",
            Shape::Enum(ARCHITECTURES),
            "Default instruction set.",
        ),
        f("runtime", Shape::String, "Default runtime on AWS."),
        f("memorySize", Shape::Integer, "Default memory in MB on AWS."),
        f(
            "timeout",
            Shape::Integer,
            "Default timeout in seconds on AWS.",
        ),
        f(
            "environment",
            Shape::Ref("environment"),
            "Environment variables added on AWS.",
        ),
        f("tags", Shape::Ref("tags"), "Tags of every function."),
        f(
            "versionFunctions",
            Shape::Bool,
            "Publish a version per deploy (default true).",
        ),
    ])
}

fn azure_settings_shape() -> Shape {
    obj(vec![
        f(
            "subscriptionId",
            Shape::String,
            "Subscription (default: the AZURE_SUBSCRIPTION_ID of the deploying shell).",
        ),
        f(
            "resourceGroup",
            Shape::String,
            "Resource group of the function app.",
        ),
        f(
            "functionApp",
            Shape::String,
            "Function app name (default `<service>-<stage>`).",
        ),
        f(
            "storageAccount",
            Shape::String,
            "Storage account for packages (3-24 lowercase letters and digits).",
        ),
        f(
            "region",
            Shape::String,
            "Azure location, e.g. `westeurope`.",
        ),
        f(
            "plan",
            Shape::Enum(AZURE_PLANS),
            "Hosting plan (default flexConsumption).",
        ),
        f(
            "instanceMemory",
            Shape::Integer,
            "Flex Consumption instance memory: 512, 2048 or 4096 MB.",
        ),
        f(
            "identity",
            Shape::String,
            "User-assigned managed identity (resource ID, or a name in the resource group) the app reads its package with on Consumption (default: its system-assigned identity).",
        ),
        f("runtime", Shape::String, "Python runtime of the app."),
        f(
            "environment",
            Shape::Ref("environment"),
            "App settings added on Azure.",
        ),
        f(
            "appSettings",
            Shape::Ref("environment"),
            "Extra app settings.",
        ),
        f("tags", Shape::Ref("tags"), "Resource tags."),
    ])
}

fn gcp_settings_shape() -> Shape {
    obj(vec![
        f("project", Shape::String, "Project ID."),
        f("region", Shape::String, "Region (default us-central1)."),
        f(
            "bucket",
            Shape::String,
            "Bucket for source uploads (default: a generated upload URL).",
        ),
        f(
            "serviceAccount",
            Shape::String,
            "Runtime service account email.",
        ),
        f("runtime", Shape::String, "Default runtime on GCP."),
        f("memorySize", Shape::Integer, "Default memory in MB on GCP."),
        f(
            "timeout",
            Shape::Integer,
            "Default timeout in seconds on GCP.",
        ),
        f(
            "environment",
            Shape::Ref("environment"),
            "Environment variables added on GCP.",
        ),
        f("labels", Shape::Ref("tags"), "Labels of every function."),
        f("maxInstances", Shape::Integer, "Maximum instances."),
        f("minInstances", Shape::Integer, "Minimum instances."),
        f(
            "ingress",
            Shape::Enum(&["all", "internal-only", "internal-and-gclb"]),
            "Ingress setting.",
        ),
    ])
}

fn function_aws_shape() -> Shape {
    obj(vec![
        f("name", Shape::String, "Deployed function name."),
        f("runtime", Shape::String, "Runtime on AWS."),
        f("memorySize", Shape::Integer, "Memory in MB on AWS."),
        f("timeout", Shape::Integer, "Timeout in seconds on AWS."),
        f(
            "architecture",
            Shape::Enum(ARCHITECTURES),
            "Instruction set.",
        ),
        f("role", Shape::String, "Execution role ARN."),
        f("layers", layer_refs(), "Layers on AWS."),
        f(
            "environment",
            Shape::Ref("environment"),
            "Environment variables added on AWS.",
        ),
    ])
}

fn function_azure_shape() -> Shape {
    obj(vec![
        f(
            "name",
            Shape::String,
            "Function name inside the app (default: the logical name).",
        ),
        f("timeout", Shape::Integer, "Timeout in seconds on Azure."),
        f(
            "environment",
            Shape::Ref("environment"),
            "App settings added for this function.",
        ),
    ])
}

fn function_gcp_shape() -> Shape {
    obj(vec![
        f(
            "name",
            Shape::String,
            "Deployed function name (default `<service>-<stage>-<function>` in lowercase).",
        ),
        f("region", Shape::String, "Region of this function."),
        f("runtime", Shape::String, "Runtime on GCP."),
        f("memorySize", Shape::Integer, "Memory in MB on GCP."),
        f("timeout", Shape::Integer, "Timeout in seconds on GCP."),
        f(
            "serviceAccount",
            Shape::String,
            "Runtime service account email.",
        ),
        f(
            "environment",
            Shape::Ref("environment"),
            "Environment variables added on GCP.",
        ),
        f("labels", Shape::Ref("tags"), "Labels."),
        f("maxInstances", Shape::Integer, "Maximum instances."),
        f("minInstances", Shape::Integer, "Minimum instances."),
    ])
}

fn custom_shape() -> Shape {
    Shape::Object(Object {
        replaces_required: &[],
        fields: vec![
            f(
                "pythonRequirements",
                Shape::Ref("pythonRequirements"),
                "serverless-python-requirements options, implemented by strata.",
            ),
            f(
                "strata",
                obj(vec![
                    f(
                        "secretEnvironment",
                        Shape::Ref("secretEnvironment"),
                        "Environment variable names whose values are masked wherever strata shows them, in every function; where a serverless.yml says what `provider.secretEnvironment` says in a strata.yml.",
                    ),
                    f(
                        "resolver",
                        Shape::Enum(RESOLVERS),
                        resolver_doc!(
                            "Where a serverless.yml says what `package.resolver` says in a strata.yml."
                        ),
                    ),
                ]),
                "strata options that have no place in Serverless's own keys.",
            ),
        ],
        required: &[],
        additional: Some(Box::new(Shape::Any)),
    })
}

fn stage_overrides_shape() -> Shape {
    obj(vec![
        f(
            "provider",
            Shape::Ref("provider"),
            "Provider overrides for this stage.",
        ),
        f("runtime", Shape::String, "Default runtime for this stage."),
        f(
            "aws",
            Shape::Ref("awsSettings"),
            "AWS overrides for this stage.",
        ),
        f(
            "azure",
            Shape::Ref("azureSettings"),
            "Azure overrides for this stage.",
        ),
        f(
            "gcp",
            Shape::Ref("gcpSettings"),
            "GCP overrides for this stage.",
        ),
        f(
            "functions",
            map(Shape::Ref("functionOverride")),
            "Function overrides (or extra functions) for this stage.",
        ),
        f(
            "layers",
            map(Shape::Ref("layer")),
            "Layer overrides for this stage.",
        ),
        f(
            "package",
            Shape::Ref("servicePackage"),
            "Packaging overrides for this stage.",
        ),
        f(
            "custom",
            Shape::Ref("custom"),
            "Custom values for this stage.",
        ),
        f("params", map(Shape::Any), "Parameters for this stage."),
    ])
}
