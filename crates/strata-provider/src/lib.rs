//! The contract between strata's CLI and its cloud backends.
//!
//! This crate owns the provider-neutral vocabulary of a deploy: what should be deployed
//! ([`DeploySpec`], [`FunctionSpec`], [`LayerSpec`], [`ArtifactRef`]), what a deploy would do
//! ([`DeployPlan`], side-effect free, secrets masked), what it did ([`DeployReport`],
//! [`InfoReport`], [`RollbackReport`], [`RemovePlan`], [`RemoveReport`]), how progress is
//! reported ([`Reporter`]), how calls are retried ([`RetryPolicy`], [`retry`], [`Deadline`],
//! [`Clock`]), how a deploy is asked to stop early ([`Interrupt`]), the redacting [`Secret`]
//! type, how an error carries a hint for the user ([`Hint`]), and the [`Provider`] trait
//! itself.
//!
//! It must never depend on a cloud SDK, on the manifest crate or on a terminal: the CLI maps
//! its resolved configuration into these types, backends map them onto their cloud, and only
//! the CLI prints.
//!
//! # How each cloud fits the trait
//!
//! Every backend follows the same shape — compare local hashes with the cloud's state, upload,
//! verify, then move one pointer — so [`Provider`] needs no cloud-specific methods:
//!
//! - **AWS** (`strata-aws`): `plan` reads `GetFunction` (`CodeSha256`, configuration), the
//!   stage alias and `ListLayerVersions` (dependency hash in the description). `apply` uploads
//!   (direct or S3), updates code, waits, updates configuration, waits, publishes a version
//!   and moves the alias named after the stage — the pointer. `rollback` moves the alias.
//! - **Azure**: a [`FunctionSpec`] is one function app; [`ArtifactRef`] is the app zip.
//!   `plan` compares the zip's sha256 with an app setting strata writes (the cloud is the
//!   state) and the other app settings with [`FunctionSpec::environment`], producing the same
//!   [`FunctionAction`]s. `apply` does a Kudu zip deploy (async, polled through [`Reporter::on_waiting`]
//!   and [`RetryPolicy::poll_delay`]) or a run-from-package blob upload ([`Step::Upload`])
//!   followed by an ARM read-merge-write of the app settings; the package setting is the
//!   pointer, so [`PointerMove`] records its old and new blob, and `rollback` writes the old one
//!   back. Layers do not exist there: an Azure plan has no [`LayerPlan`]s (dependencies are
//!   inside the app zip), which the types allow.
//! - **GCP**: `plan` reads the Cloud Functions v2 function (labels carry the source sha256),
//!   `apply` uploads the source zip ([`Step::Upload`]), then creates or patches the function
//!   with an `updateMask` built from the [`FieldChange`]s, polls the long-running operation
//!   ([`Step::Wait`]) until state ACTIVE. The function's revision is the pointer; `rollback`
//!   patches the previous source back.
//!
//! Retryable and fatal errors are classified by each backend ([`Classify`]); deadlines and
//! backoff are shared. Step names in [`StepFailure`] are common to all three clouds.

mod cloud;
mod hint;
mod interrupt;
mod observe;
mod plan;
mod provider;
mod report;
mod reporter;
mod retry;
mod secret;
mod spec;
mod trigger;

pub use cloud::{Architecture, Cloud};
pub use hint::{Hint, hint_of};
pub use interrupt::Interrupt;
pub use observe::{
    HTTP_METHODS, HttpShapeError, InvokeRequest, InvokeResponse, LogEvent, LogQuery, LogSource,
    Observer, format_timestamp, parse_timestamp, percent_encode,
};
pub use plan::{
    BucketAction, BucketPlan, CodeChange, DeployPlan, FieldChange, FunctionAction, FunctionPlan,
    LayerAction, LayerPlan, PointerMove, RoleAction, RolePlan,
};
pub use provider::Provider;
pub use report::{
    DeployReport, FunctionInfo, FunctionOutcome, FunctionReport, InfoReport, LayerReport, Pointer,
    PointerInfo, PointerKind, RemovePlan, RemoveReport, Resource, ResourceKind, RollbackEntry,
    RollbackReport, RollbackRequest, Step, StepFailure, carried_out,
};
pub use reporter::{NoopReporter, Reporter};
pub use retry::{
    CallTimedOut, Classify, Clock, Deadline, ErrorClass, GiveUp, ManualClock, RetryFailure,
    RetryPolicy, TokioClock, retry,
};
pub use secret::{MASK, Secret, display_environment_value, looks_secret};
pub use spec::{
    ArtifactRef, CloudSettings, DeploySpec, EventTrigger, FunctionSpec, LayerRef, LayerSpec,
    RoleSpec,
};
pub use trigger::{BucketSpec, ScheduleSpec, TopicRef, TopicSpec};
pub use trigger::{
    CorsSpec, HttpApiKind, HttpSpec, MappingSource, MappingSpec, ResourceChange, SourceRef,
    StackAction, StackPlan, StackSpec, TriggerAction, TriggerPlan, TriggerSpec,
};
