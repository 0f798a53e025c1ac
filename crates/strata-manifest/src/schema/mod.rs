//! The manifest's shape, written once and used twice: to validate a resolved manifest
//! (unknown keys with did-you-mean, wrong types) and to emit the JSON Schema editors use.
//! Keeping one description means the schema cannot drift from what `strata validate`
//! accepts.

mod fields;
mod json_schema;
mod shape;
mod validate;

pub use json_schema::json_schema;
pub(crate) use validate::{UnknownKeys, Validator, did_you_mean};
