//! Small pieces of configuration kept beside the tokens.

use std::collections::BTreeMap;
use std::future::Future;

/// Text values by key, kept by a backend beside its tokens, for the programs that share
/// it: the `tokenauth` server stores the policy it serves with under `policy.`, so that
/// its admin commands apply the same lifespan (a purge never deletes a token a server
/// still accepts).
///
/// A backend stores and returns the values as given; what they mean is the caller's.
/// Implemented by tokenauth-sqlx's stores (their `tokenauth_settings` table).
///
/// # Example
///
/// Settings in a map behind a lock:
///
#[doc = concat!("```\n", include_str!("../../doc/map_settings.rs"), "```")]
pub trait Settings: Send + Sync + 'static {
    /// What can go wrong in the backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The settings whose key starts with `prefix` (exactly: case-sensitive, no
    /// wildcards), by key.
    fn settings(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, Self::Error>> + Send;

    /// Replaces every setting whose key starts with `prefix` by `values` (whose keys
    /// should start with it too), at once: readers see the old set or the new one,
    /// never a mix.
    fn replace_settings(
        &self,
        prefix: &str,
        values: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
