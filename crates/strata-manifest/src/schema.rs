//! The manifest's shape, written once and used twice: to validate a resolved manifest
//! (unknown keys with did-you-mean, wrong types) and to emit the JSON Schema editors use.
//! Keeping one description means the schema cannot drift from what `strata validate`
//! accepts.

use std::sync::LazyLock;

use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use crate::config::UnmanagedKind;
use crate::diagnostic::Report;
use crate::yaml::{self, Node, Pos, Value};

#[derive(Clone, Debug)]
pub(crate) enum Shape {
    Any,
    String,
    /// A string, number or boolean, kept as written and read as text (environment values).
    Text,
    Integer,
    Bool,
    Enum(&'static [&'static str]),
    Array(Box<Shape>),
    Map(Box<Shape>),
    Object(Object),
    AnyOf(Vec<Shape>),
    Ref(&'static str),
}

#[derive(Clone, Debug)]
pub(crate) struct Object {
    fields: Vec<Field>,
    required: &'static [&'static str],
    /// Keys that stand in for the required ones (a function with `image` has no `handler`;
    /// the image itself is the one error to report).
    replaces_required: &'static [&'static str],
    /// Free-form keys beside the listed ones (e.g. `custom:`); `None` means strict.
    additional: Option<Box<Shape>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    name: &'static str,
    shape: Shape,
    description: &'static str,
    unmanaged: Option<UnmanagedKind>,
    deprecated: Option<&'static str>,
}

impl Field {
    fn unmanaged(mut self, kind: UnmanagedKind) -> Self {
        self.unmanaged = Some(kind);
        self
    }

    fn deprecated(mut self, replacement: &'static str) -> Self {
        self.deprecated = Some(replacement);
        self
    }
}

fn f(name: &'static str, shape: Shape, description: &'static str) -> Field {
    Field {
        name,
        shape,
        description,
        unmanaged: None,
        deprecated: None,
    }
}

/// A key strata keeps in the resolved config but does not act on yet.
fn kept(name: &'static str, shape: Shape, description: &'static str) -> Field {
    f(name, shape, description).unmanaged(UnmanagedKind::Setting)
}

fn obj(fields: Vec<Field>) -> Shape {
    obj_required(fields, &[])
}

fn obj_required(fields: Vec<Field>, required: &'static [&'static str]) -> Shape {
    Shape::Object(Object {
        fields,
        required,
        replaces_required: &[],
        additional: None,
    })
}

impl Shape {
    fn replacing_required(self, keys: &'static [&'static str]) -> Self {
        match self {
            Shape::Object(object) => Shape::Object(Object {
                replaces_required: keys,
                ..object
            }),
            other => other,
        }
    }
}

fn arr(shape: Shape) -> Shape {
    Shape::Array(Box::new(shape))
}

fn map(shape: Shape) -> Shape {
    Shape::Map(Box::new(shape))
}

fn strings() -> Shape {
    arr(Shape::String)
}

const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];
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
                Shape::Ref("package"),
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
    obj(vec![
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
    ])
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
        kept("httpApi", Shape::Any, "HTTP API settings."),
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
                obj(vec![f(
                    "secretEnvironment",
                    Shape::Ref("secretEnvironment"),
                    "Environment variable names whose values are masked wherever strata shows them, in every function; where a serverless.yml says what `provider.secretEnvironment` says in a strata.yml.",
                )]),
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
            Shape::Ref("package"),
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

/// JSON Schema (draft 2020-12) of the manifest file.
pub fn json_schema() -> Json {
    let schema = &*SCHEMA;
    let mut document = match shape_json(&schema.root) {
        Json::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert(
        "$id".into(),
        json!("https://github.com/strata-deploy/strata/docs/strata.schema.json"),
    );
    out.insert(
        "title".into(),
        json!("strata manifest (strata.yml or serverless.yml)"),
    );
    out.insert(
        "description".into(),
        json!("One manifest for AWS Lambda, Azure Functions and Google Cloud Functions: the Serverless Framework v3 AWS shape plus strata's aws, azure, gcp, stages, runtime and per-function targets."),
    );
    out.append(&mut document);
    out.insert(
        "$defs".into(),
        Json::Object(
            schema
                .defs
                .iter()
                .map(|(name, shape)| ((*name).to_owned(), shape_json(shape)))
                .collect(),
        ),
    );
    Json::Object(out)
}

fn shape_json(shape: &Shape) -> Json {
    match shape {
        Shape::Any => json!({}),
        Shape::String => json!({"type": "string"}),
        Shape::Text => json!({"type": ["string", "number", "boolean"]}),
        Shape::Integer => json!({"type": "integer"}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Enum(values) => json!({"type": "string", "enum": values}),
        Shape::Array(items) => json!({"type": "array", "items": shape_json(items)}),
        Shape::Map(values) => json!({"type": "object", "additionalProperties": shape_json(values)}),
        Shape::Object(object) => {
            let properties: serde_json::Map<String, Json> = object
                .fields
                .iter()
                .map(|field| {
                    let mut property = shape_json(&field.shape);
                    if let Json::Object(map) = &mut property {
                        map.insert("description".into(), json!(field.description));
                        if field.deprecated.is_some() {
                            map.insert("deprecated".into(), json!(true));
                        }
                    }
                    (field.name.to_owned(), property)
                })
                .collect();
            let mut out = serde_json::Map::new();
            out.insert("type".into(), json!("object"));
            out.insert("properties".into(), Json::Object(properties));
            if !object.required.is_empty() {
                out.insert("required".into(), json!(object.required));
            }
            out.insert(
                "additionalProperties".into(),
                object
                    .additional
                    .as_deref()
                    .map_or(json!(false), shape_json),
            );
            Json::Object(out)
        }
        Shape::AnyOf(shapes) => json!({"anyOf": shapes.iter().map(shape_json).collect::<Vec<_>>()}),
        Shape::Ref(name) => json!({"$ref": format!("#/$defs/{name}")}),
    }
}

/// How unknown keys are reported: serverless.yml's `configValidationMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnknownKeys {
    Error,
    Warn,
    Off,
}

impl UnknownKeys {
    /// strata.yml is always strict; serverless.yml follows its `configValidationMode`,
    /// whose default in Serverless v3 is `warn`.
    pub(crate) fn of(kind: crate::ManifestKind, root: &Node) -> Self {
        if kind == crate::ManifestKind::Strata {
            return Self::Error;
        }
        match root.get("configValidationMode").and_then(Node::as_str) {
            Some("error") => Self::Error,
            Some("off") => Self::Off,
            _ => Self::Warn,
        }
    }
}

/// Keys that Serverless plugins add to the schema: (where, key, plugin). `""` is the top
/// level, `function` a function's own keys.
const PLUGIN_KEYS: &[(&str, &str, &str)] = &[
    ("", "stepFunctions", "serverless-step-functions"),
    ("", "constructs", "serverless-lift"),
    ("", "lift", "serverless-lift"),
    ("", "appSync", "serverless-appsync-plugin"),
    ("", "layersConfig", "serverless-layers"),
    (
        "function",
        "iamRoleStatements",
        "serverless-iam-roles-per-function",
    ),
    (
        "function",
        "iamRoleStatementsName",
        "serverless-iam-roles-per-function",
    ),
    (
        "function",
        "iamRoleStatementsInherit",
        "serverless-iam-roles-per-function",
    ),
    (
        "function",
        "iamPermissionsBoundary",
        "serverless-iam-roles-per-function",
    ),
    ("function", "warmup", "serverless-plugin-warmup"),
    ("function", "alarms", "serverless-plugin-aws-alerts"),
    (
        "function",
        "pythonRequirements",
        "serverless-python-requirements",
    ),
];

fn plugin_of(parent: &str, key: &str) -> Option<&'static str> {
    let level = match parent.strip_prefix("functions.") {
        _ if parent.is_empty() => "",
        Some(name) if !name.contains(['.', '[']) => "function",
        _ => return None,
    };
    PLUGIN_KEYS
        .iter()
        .find(|(at, name, _)| *at == level && *name == key)
        .map(|(_, _, plugin)| *plugin)
}

/// Validates a tree against the schema, fixing up what can be read unambiguously
/// (integers and booleans written as strings, a single value for a list, null meaning "not
/// set", as Serverless v3's validator coerces them) and collecting every problem.
pub(crate) struct Validator<'r> {
    pub(crate) report: &'r mut Report,
    /// Unresolved trees (the `stages:` block) may hold `${…}` anywhere; those strings pass.
    pub(crate) raw: bool,
    pub(crate) unmanaged: Vec<(UnmanagedKind, String, Pos, String)>,
    pub(crate) unknown_keys: UnknownKeys,
    /// Plugins the manifest lists, to word the warning on a key that belongs to one.
    pub(crate) plugins: Vec<String>,
}

impl Validator<'_> {
    pub(crate) fn check_root(&mut self, node: &mut Node) {
        let root = SCHEMA.root.clone();
        self.check(node, &root, "");
    }

    /// Checks the `stages:` block (unresolved, so `${…}` strings pass any type).
    pub(crate) fn check_stages(&mut self, node: &mut Node) {
        self.check(node, &map(Shape::Ref("stageOverrides")), "stages");
    }

    fn check(&mut self, node: &mut Node, shape: &Shape, path: &str) {
        if matches!(node.value, Value::Poison) {
            return;
        }
        if node.meta.deferred
            || (self.raw && matches!(&node.value, Value::String(s) if s.contains("${")))
        {
            return;
        }
        match shape {
            Shape::Any => {}
            Shape::Ref(name) => {
                let shape = SCHEMA.defs[name].clone();
                self.check(node, &shape, path);
            }
            Shape::String => {
                if !matches!(node.value, Value::String(_)) {
                    self.type_error(node, path, "a string");
                }
            }
            Shape::Text => {
                if let Some(function) = cloudformation_function(node) {
                    self.report.error(
                        node.pos,
                        path,
                        format!("`{function}` is a CloudFormation reference, which strata does not resolve here"),
                        Some("give the value itself, or read it with `${cf:<stack>.<output>}` or `${ssm:<name>}`, which strata resolves when it deploys".to_owned()),
                    );
                } else if !matches!(
                    node.value,
                    Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
                ) {
                    self.type_error(node, path, "a string, number or boolean");
                }
            }
            Shape::Bool => match coerced_bool(node) {
                Some(value) => node.value = Value::Bool(value),
                None => self.type_error(node, path, "true or false"),
            },
            Shape::Integer => match &node.value {
                Value::Int(_) => {}
                Value::Float(value) if value.fract() == 0.0 && value.abs() < 1e15 => {
                    #[allow(clippy::cast_possible_truncation)]
                    let integer = *value as i64;
                    node.value = Value::Int(integer);
                }
                Value::String(text) if text.trim().parse::<i64>().is_ok() => {
                    node.value = Value::Int(text.trim().parse().unwrap_or_default());
                }
                _ => self.type_error(node, path, "an integer"),
            },
            Shape::Enum(values) => match &node.value {
                Value::String(text) if values.contains(&text.as_str()) => {}
                Value::String(text) => {
                    let hint = did_you_mean(text, values.iter().copied())
                        .map(|best| format!("did you mean `{best}`?"))
                        .or_else(|| Some(format!("expected one of: {}", values.join(", "))));
                    self.report.error(
                        node.pos,
                        path,
                        format!("`{text}` is not one of {}", values.join(", ")),
                        hint,
                    );
                }
                _ => self.type_error(node, path, &format!("one of {}", values.join(", "))),
            },
            Shape::Array(items) => {
                if matches!(
                    node.value,
                    Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
                ) {
                    // One value where a list is expected is a list of one, as in Serverless.
                    let item = node.clone();
                    node.value = Value::Seq(vec![item]);
                }
                if let Value::Seq(children) = &mut node.value {
                    for (index, child) in children.iter_mut().enumerate() {
                        self.check(child, items, &format!("{path}[{index}]"));
                    }
                } else {
                    self.type_error(node, path, "a list");
                }
            }
            Shape::Map(values) => {
                if let Value::Map(entries) = &mut node.value {
                    for (key, child) in entries.iter_mut() {
                        let child_path = yaml::join_path(path, &key.name);
                        self.check(child, values, &child_path);
                    }
                } else {
                    self.type_error(node, path, "a map");
                }
            }
            Shape::Object(object) => self.check_object(node, object, path),
            Shape::AnyOf(shapes) => {
                let chosen = shapes.iter().find(|shape| accepts_kind(shape, node));
                match chosen {
                    Some(shape) => {
                        let shape = shape.clone();
                        self.check(node, &shape, path);
                    }
                    None => {
                        let expected: Vec<String> = shapes.iter().map(describe).collect();
                        self.type_error(node, path, &expected.join(" or "));
                    }
                }
            }
        }
    }

    fn check_object(&mut self, node: &mut Node, object: &Object, path: &str) {
        let pos = node.pos;
        let Value::Map(entries) = &mut node.value else {
            self.type_error(node, path, "a map");
            return;
        };
        // `key:` with no value means "not set" in Serverless; dropping it keeps the
        // resolved document valid against the schema.
        entries.retain(|(_, value)| !matches!(value.value, Value::Null));
        for (key, child) in entries.iter_mut() {
            let child_path = yaml::join_path(path, &key.name);
            match object.fields.iter().find(|field| field.name == key.name) {
                Some(field) => {
                    if let Some(replacement) = field.deprecated {
                        self.report.warning(
                            key.pos,
                            &child_path,
                            format!("`{}` is deprecated", key.name),
                            Some(format!("use {replacement}")),
                        );
                    }
                    self.check(child, &field.shape, &child_path);
                    if let Some(kind) = field.unmanaged {
                        self.record_unmanaged(kind, child, &child_path);
                    }
                }
                None => match &object.additional {
                    Some(shape) => self.check(child, shape, &child_path),
                    None => self.unknown_key(object, path, &key.name, key.pos, &child_path),
                },
            }
        }
        let replaced = object
            .replaces_required
            .iter()
            .any(|name| entries.iter().any(|(key, _)| key.name == *name));
        if !self.raw && !replaced {
            for required in object.required {
                if !entries.iter().any(|(key, _)| key.name == *required) {
                    self.report.error(
                        pos,
                        path,
                        format!("missing required key `{required}`"),
                        None,
                    );
                }
            }
        }
    }

    fn record_unmanaged(&mut self, kind: UnmanagedKind, node: &Node, path: &str) {
        if self.raw {
            return;
        }
        match (&node.value, kind) {
            (Value::Seq(items), UnmanagedKind::Event | UnmanagedKind::IamStatement) => {
                for (index, item) in items.iter().enumerate() {
                    let label = match (&item.value, kind) {
                        (Value::Map(entries), UnmanagedKind::Event) => entries.first().map_or_else(
                            || "event".to_owned(),
                            |(key, _)| format!("`{}` event", key.name),
                        ),
                        _ => kind.label().to_owned(),
                    };
                    self.unmanaged
                        .push((kind, format!("{path}[{index}]"), item.pos, label));
                }
            }
            (Value::Map(sections), UnmanagedKind::Resource) => {
                for (section, value) in sections {
                    let section_path = yaml::join_path(path, &section.name);
                    match (&value.value, section.name.as_str()) {
                        (Value::Map(resources), "Resources") => {
                            for (name, resource) in resources {
                                let label =
                                    resource.get("Type").and_then(Node::as_str).map_or_else(
                                        || "resource".to_owned(),
                                        |t| format!("{t} resource"),
                                    );
                                self.unmanaged.push((
                                    kind,
                                    yaml::join_path(&section_path, &name.name),
                                    name.pos,
                                    label,
                                ));
                            }
                        }
                        _ => self.unmanaged.push((
                            kind,
                            section_path,
                            section.pos,
                            format!("`{}` section", section.name),
                        )),
                    }
                }
            }
            _ => self
                .unmanaged
                .push((kind, path.to_owned(), node.pos, kind.label().to_owned())),
        }
    }

    fn unknown_key(&mut self, object: &Object, parent: &str, name: &str, pos: Pos, path: &str) {
        if let Some(plugin) = plugin_of(parent, name) {
            let listed = self.plugins.iter().any(|listed| listed == plugin);
            let hint = if listed {
                "strata does not run Serverless plugins; the key is kept in `strata print` output"
                    .to_owned()
            } else {
                format!(
                    "list {plugin} under `plugins` for Serverless to read it; strata keeps the key but does not run plugins"
                )
            };
            self.report.warning(
                pos,
                path,
                format!("`{name}` belongs to the plugin {plugin}; kept, not applied"),
                Some(hint),
            );
            return;
        }
        let suggestion = did_you_mean(name, object.fields.iter().map(|field| field.name))
            .map(|best| format!("did you mean `{best}`?"));
        let message = format!("unknown key `{name}`");
        match self.unknown_keys {
            UnknownKeys::Error => self.report.error(pos, path, message, suggestion),
            UnknownKeys::Warn => {
                let hint = match suggestion {
                    Some(suggestion) => format!(
                        "{suggestion} (a warning because of `configValidationMode: warn`, Serverless v3's default)"
                    ),
                    None => {
                        "strata ignores it; `configValidationMode: error` makes unknown keys errors"
                            .to_owned()
                    }
                };
                self.report.warning(pos, path, message, Some(hint));
            }
            UnknownKeys::Off => {}
        }
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let message = match &node.meta.origin {
            Some(origin) => format!(
                "expected {expected}, found {} (the value of `{origin}`)",
                node.type_name()
            ),
            None => format!("expected {expected}, found {}", node.type_name()),
        };
        self.report.error(node.pos, path, message, None);
    }
}

/// `Ref`, `Fn::GetAtt`, `Fn::ImportValue`, ... when the node is a CloudFormation intrinsic.
fn cloudformation_function(node: &Node) -> Option<&str> {
    match node.entries() {
        [(key, _)]
            if key.name == "Ref" || key.name == "Condition" || key.name.starts_with("Fn::") =>
        {
            Some(&key.name)
        }
        _ => None,
    }
}

/// A boolean as Serverless v3 coerces one: `"true"`/`"false"` (typically from `${env:X}`)
/// and 1/0 are booleans too.
fn coerced_bool(node: &Node) -> Option<bool> {
    match &node.value {
        Value::Bool(value) => Some(*value),
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        Value::Int(1) => Some(true),
        Value::Int(0) => Some(false),
        _ => None,
    }
}

fn accepts_kind(shape: &Shape, node: &Node) -> bool {
    match shape {
        Shape::Any => true,
        Shape::String | Shape::Enum(_) => matches!(node.value, Value::String(_)),
        Shape::Text => matches!(
            node.value,
            Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
        ),
        Shape::Integer => matches!(node.value, Value::Int(_)),
        Shape::Bool => coerced_bool(node).is_some(),
        Shape::Array(_) => matches!(node.value, Value::Seq(_)),
        Shape::Map(_) | Shape::Object(_) => matches!(node.value, Value::Map(_)),
        Shape::AnyOf(shapes) => shapes.iter().any(|shape| accepts_kind(shape, node)),
        Shape::Ref(name) => accepts_kind(&SCHEMA.defs[name], node),
    }
}

fn describe(shape: &Shape) -> String {
    match shape {
        Shape::Any => "any value".to_owned(),
        Shape::String => "a string".to_owned(),
        Shape::Text => "a string, number or boolean".to_owned(),
        Shape::Integer => "an integer".to_owned(),
        Shape::Bool => "true or false".to_owned(),
        Shape::Enum(values) => format!("one of {}", values.join(", ")),
        Shape::Array(_) => "a list".to_owned(),
        Shape::Map(_) | Shape::Object(_) => "a map".to_owned(),
        Shape::AnyOf(shapes) => shapes.iter().map(describe).collect::<Vec<_>>().join(" or "),
        Shape::Ref(name) => describe(&SCHEMA.defs[name]),
    }
}

/// Closest candidate by Jaro-Winkler similarity, or an exact case-insensitive match.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = if candidate.to_ascii_lowercase() == lower {
                2.0
            } else {
                strsim::jaro_winkler(&lower, &candidate.to_ascii_lowercase())
            };
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_keys() {
        assert_eq!(
            did_you_mean("memorysize", ["memorySize", "timeout"]),
            Some("memorySize")
        );
        assert_eq!(did_you_mean("handlr", ["handler", "name"]), Some("handler"));
        assert_eq!(did_you_mean("zzz", ["handler", "name"]), None);
    }

    #[test]
    fn schema_is_strict_where_strata_reads() {
        let schema = json_schema();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["function"]["additionalProperties"], false);
        assert!(schema["$defs"]["function"]["properties"]["targets"].is_object());
        assert_eq!(schema["$defs"]["custom"]["additionalProperties"], json!({}));
    }
}
