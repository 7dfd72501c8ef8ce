//! The service's settings, as the builder methods left them.

use super::*;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) format: TokenFormat,
    pub(crate) policy: ExpiryPolicy,
    /// Accepted `Authorization` keywords; the first is the one named in challenges.
    pub(crate) keywords: Vec<String>,
    /// Which challenges refusals carry.
    pub(crate) challenge: Challenge,
    /// The realm of RFC 6750 challenges.
    pub(crate) realm: Realm,
    pub(crate) obtain_policy: ObtainPolicy,
    pub(crate) token_limit: Option<TokenLimit>,
    pub(crate) refresh_interval: Duration,
    /// The scopes tokens may carry: those given ([`TokenAuth::with_scopes`]) and the
    /// session scope.
    pub(crate) grantable: Scopes,
    /// The scopes given to [`TokenAuth::with_scopes`].
    pub(crate) scopes_given: Scopes,
    /// The session scope given to [`TokenAuth::with_session_scope`]; `None` until then.
    pub(crate) session_scope_given: Option<Option<Scopes>>,
    /// The scope the session routes require, decided by [`Config::settle`].
    pub(crate) session_scope: Option<Scopes>,
    /// How long one call to the store or the directory may take.
    pub(crate) backend_timeout: Option<std::time::Duration>,
}

/// The scope the session routes require once scopes are configured
/// ([`TokenAuth::with_session_scope`]).
pub const DEFAULT_SESSION_SCOPE: &str = "sessions";

impl Config {
    /// Decides the session scope and the grantable scopes from what was given, so that
    /// the order of the calls does not matter.
    pub(super) fn settle(&mut self) {
        self.session_scope = match &self.session_scope_given {
            Some(given) => given.clone(),
            None => (!self.scopes_given.is_empty())
                .then(|| Scopes::parse(DEFAULT_SESSION_SCOPE).expect("a valid scope")),
        };
        self.grantable = match &self.session_scope {
            Some(session) => self.scopes_given.union(session),
            None => self.scopes_given.clone(),
        };
    }
}
