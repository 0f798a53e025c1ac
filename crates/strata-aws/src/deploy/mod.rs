//! `plan` (reads only) and `apply` (the deploy flow) for Lambda, in three rooms: planning,
//! applying, and the layers both use.

mod apply;
mod layers;
mod plan;

use std::collections::HashMap;

pub(crate) use apply::apply;
pub(crate) use layers::description_belongs_to;
pub use layers::layer_description;
pub(crate) use plan::plan;

use crate::desired::{TAG_SERVICE, TAG_STAGE};

/// Whether tags say strata created the resource for this service and stage.
pub(crate) fn owned_by(tags: Option<&HashMap<String, String>>, service: &str, stage: &str) -> bool {
    tags.is_some_and(|tags| {
        tags.get(TAG_SERVICE).map(String::as_str) == Some(service)
            && tags.get(TAG_STAGE).map(String::as_str) == Some(stage)
    })
}
