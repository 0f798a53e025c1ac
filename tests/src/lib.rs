//! Test support for strata: what tests of every strata crate share.
//!
//! Owns: [`wheel::WheelBuilder`] (valid and malicious wheels), [`index::LocalIndex`] (a PEP 503
//! package index on 127.0.0.1 with auth, fault injection and a request log), [`tls::TlsFront`]
//! (HTTPS in front of that index, with a throwaway CA), [`source::SourceProject`] (Python
//! projects with an in-tree build backend, in local git repositories), the naive [`zip`]
//! writer they rest on, [`moto`], a client for the shared moto server and its recorder, the
//! provider [`conformance`] suite every backend runs, [`stand_in`], an in-memory backend, and
//! [`azure_fake`], a contract fake of ARM, Kudu and Entra ID that stores blobs in Azurite.
//! It depends on no strata crate but the contract (`strata-provider`, whose own tests do not
//! use this crate), so that any other strata crate can dev-depend on this one; it holds no
//! production code.

pub mod azure_fake;
pub mod conformance;
pub mod index;
pub mod moto;
pub mod source;
pub mod stand_in;
pub mod tls;
pub mod wheel;
pub mod zip;

pub use index::LocalIndex;
pub use source::SourceProject;
pub use tls::TlsFront;
pub use wheel::{Malice, WheelBuilder};
