//! How a library error tells the user what to do about it, without putting advice into its
//! `Display` text: the CLI renders the message, its causes, then every hint it finds along the
//! `source` chain.
//!
//! The trait lives in this crate because it is the one strata crate that depends on no other,
//! so the manifest, Python and backend crates can all implement it without a dependency loop.

use std::error::Error;

/// An error that knows the next step for the user.
pub trait Hint: Error + 'static {
    /// What the user can do about this error, as one sentence; `None` when there is nothing
    /// useful to say beyond the message.
    fn hint(&self) -> Option<String>;
}

/// The hint of `error` when it is an `E` or a `Box<E>` (a boxed `#[source]` is a link of its
/// own type). The CLI keeps a list of these, one per error type that implements [`Hint`], and
/// tries each link of a `source` chain against it.
///
/// An error that wraps another with `#[error(transparent)]` hides the inner one from the
/// chain, so its own [`Hint::hint`] must pass the inner hint on.
pub fn hint_of<E: Hint>(error: &(dyn Error + 'static)) -> Option<String> {
    let error = match error.downcast_ref::<E>() {
        Some(error) => error,
        None => error.downcast_ref::<Box<E>>()?,
    };
    error.hint()
}
