//! Scopes on routes: a tower layer that lets through only tokens carrying them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{InvalidScope, Realm, Scopes, TokenAuth};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::Presented;
use crate::rejection::{
    Answer, DEFAULT_SCHEME, PERMISSION_DENIED, TokenAuthRejection, bearer_challenge, detail_response,
};

/// Lets a request through only if its token carries every required scope.
///
/// Make it with [`RequireScope::new`], which refuses a scope the service cannot
/// grant. Install it with axum's `route_layer` on the routes that need the scope, behind
/// [`TokenAuthLayer`](crate::TokenAuthLayer) (which must wrap it: `.route_layer(..)`
/// before `.layer(TokenAuthLayer::new(..))`). It works with any user type.
///
/// - No credentials, or credentials that failed in lenient mode: the 401 the
///   [`Authenticated`](crate::Authenticated) extractor would give, with
///   `WWW-Authenticate`.
/// - A token without a required scope: 403
///   `{"detail":"You do not have permission to perform this action."}` (DRF's
///   `PermissionDenied`) with `WWW-Authenticate: Token error="insufficient_scope",
///   scope="write"`, naming the layer's first keyword and every required scope; or,
///   where the request is answered in RFC 6750's terms (a `Bearer` client, see
///   [`Challenge`](tokenauth_core::Challenge)), `Bearer realm="api",
///   error="insufficient_scope", error_description="You do not have permission to
///   perform this action.", scope="write"`.
/// - Otherwise the route runs.
///
/// Tokens get their scopes at issue: those asked for, or every scope the service grants
/// ([`TokenAuth::with_scopes`](tokenauth_core::TokenAuth::with_scopes)).
///
/// ```no_run
/// use axum::{Router, routing::{get, post}};
/// use tokenauth::{Authenticated, RequireScope, TokenAuthLayer};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory, Scopes};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
///     .with_scopes(Scopes::parse("read write").unwrap());
/// let app: Router = Router::new()
///     .route("/notes", post(|auth: Authenticated| async move { auth.user.username }))
///     .route_layer(RequireScope::new(&auth, "write")?)
///     // Routes added after `route_layer` are not covered by it.
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .layer(TokenAuthLayer::new(auth));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RequireScope {
    required: Arc<Scopes>,
}

impl RequireScope {
    /// Requires the scopes of a space-separated list (`"write"`, or `"read write"` for
    /// both), each of which `auth` must be able to grant
    /// ([`TokenAuth::with_scopes`](tokenauth_core::TokenAuth::with_scopes)): a guard no
    /// token could ever pass is refused here, at start-up, rather than answering 403 to
    /// everyone.
    ///
    /// ```
    /// use tokenauth::RequireScope;
    /// use tokenauth::core::TokenAuth;
    /// use tokenauth::core::{MemoryStore, MemoryUserDirectory, Scopes};
    ///
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
    ///     .with_scopes(Scopes::parse("read").unwrap());
    /// assert!(RequireScope::new(&auth, "read").is_ok());
    /// let error = RequireScope::new(&auth, "write").unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "RequireScope: no token can carry `write`: the service grants `read sessions`; \
    ///      add it to the service's scopes (`scopes` on its builder)"
    /// );
    /// ```
    pub fn new<S: TokenStore, D: UserDirectory>(
        auth: &TokenAuth<S, D>,
        scopes: &str,
    ) -> Result<Self, InvalidRequirement> {
        let required = Scopes::parse(scopes).map_err(InvalidRequirement::Invalid)?;
        if required.is_empty() {
            return Err(InvalidRequirement::Empty);
        }
        if let Some(missing) = required.first_missing_from(auth.grantable_scopes()) {
            return Err(InvalidRequirement::NotGrantable {
                missing: missing.to_owned(),
                grantable: auth.grantable_scopes().clone(),
            });
        }
        Ok(Self::all(required))
    }

    /// Requires every scope of `scopes` (not empty), which the caller knows to be
    /// grantable.
    pub(crate) fn all(scopes: Scopes) -> Self {
        debug_assert!(!scopes.is_empty(), "RequireScope needs at least one scope");
        Self {
            required: Arc::new(scopes),
        }
    }

    /// The scopes required.
    pub fn required(&self) -> &Scopes {
        &self.required
    }
}

impl<I> Layer<I> for RequireScope {
    type Service = RequireScopeService<I>;

    fn layer(&self, inner: I) -> Self::Service {
        RequireScopeService {
            inner,
            required: Arc::clone(&self.required),
        }
    }
}

/// Why [`RequireScope::new`] refused a requirement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequirement {
    /// The list names an invalid scope.
    #[error("RequireScope: {0}")]
    Invalid(InvalidScope),
    /// The list is empty: to require authentication alone, take
    /// [`Authenticated`](crate::Authenticated) in the handler.
    #[error(
        "RequireScope: the list of scopes is empty; to require authentication alone, take `Authenticated`"
    )]
    Empty,
    /// The service cannot grant a required scope, so no token could pass.
    #[error(
        "RequireScope: no token can carry `{missing}`: the service grants `{grantable}`; \
         add it to the service's scopes (`scopes` on its builder)"
    )]
    NotGrantable {
        /// The first required scope the service cannot grant.
        missing: String,
        /// What the service grants.
        grantable: Scopes,
    },
}

/// The service made by [`RequireScope`].
#[derive(Debug, Clone)]
pub struct RequireScopeService<I> {
    inner: I,
    required: Arc<Scopes>,
}

impl<I> RequireScopeService<I> {
    fn check<B>(&self, req: &Request<B>) -> Result<(), ScopeRejection> {
        check_scopes(req.extensions(), &self.required)
    }
}

/// Whether the request whose extensions these are was authenticated by a token
/// carrying every scope of `required`: [`RequireScope`]'s check, for routes that also
/// accept other credentials.
pub(crate) fn check_scopes(extensions: &http::Extensions, required: &Scopes) -> Result<(), ScopeRejection> {
    let presented = Presented::of(extensions)?;
    let token = presented.token()?;
    if required.is_subset(&token.scopes) {
        return Ok(());
    }
    tracing::debug!(
        token_id = %token.id,
        %required,
        granted = %token.scopes,
        "insufficient scope"
    );
    Err(insufficient_scope(&presented.answer, required.clone()))
}

/// The refusal of a token lacking `required`, worded as `answer` says.
pub(crate) fn insufficient_scope(answer: &Answer, required: Scopes) -> ScopeRejection {
    let (scheme, realm) = match answer {
        Answer::Drf(keyword) => (String::from_utf8_lossy(keyword.as_bytes()).into_owned(), None),
        Answer::Bearer(realm) => ("Bearer".to_owned(), Some(realm.clone())),
    };
    ScopeRejection::InsufficientScope {
        required,
        scheme,
        realm,
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopeService<I>
where
    I: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, I::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if let Err(rejection) = self.check(&req) {
            let response = rejection.into_response();
            return Box::pin(async move { Ok(response) });
        }
        // The clone may not be ready: use the instance that `poll_ready` readied and
        // leave the clone in its place (see tower's `Service` docs).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { Ok(inner.call(req).await?.map(Body::new)) })
    }
}

/// Why [`RequireScope`] refused a request.
///
/// ```
/// use axum_core::response::IntoResponse;
/// use tokenauth::ScopeRejection;
/// use tokenauth::core::Scopes;
///
/// let rejection = ScopeRejection::InsufficientScope {
///     required: Scopes::parse("write").unwrap(),
///     scheme: "Token".to_owned(),
///     realm: None,
/// };
/// let response = rejection.into_response();
/// assert_eq!(response.status(), 403);
/// assert_eq!(
///     response.headers()["www-authenticate"],
///     r#"Token error="insufficient_scope", scope="write""#
/// );
///
/// // RFC 6750's, for a client that sent Bearer credentials.
/// let rejection = ScopeRejection::InsufficientScope {
///     required: Scopes::parse("write").unwrap(),
///     scheme: "Bearer".to_owned(),
///     realm: Some("api".parse().unwrap()),
/// };
/// assert_eq!(
///     rejection.into_response().headers()["www-authenticate"],
///     "Bearer realm=\"api\", error=\"insufficient_scope\", \
///      error_description=\"You do not have permission to perform this action.\", scope=\"write\""
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeRejection {
    /// The request is not authenticated: the extractor's rejection (401, or 500 if
    /// [`TokenAuthLayer`](crate::TokenAuthLayer) is missing).
    Unauthenticated(TokenAuthRejection),
    /// The token lacks a required scope: 403.
    InsufficientScope {
        /// Every scope the route requires.
        required: Scopes,
        /// The authentication scheme named in the challenge (`Token`; `Bearer` with a
        /// realm).
        scheme: String,
        /// With a realm, the challenge is RFC 6750's, `Bearer realm="..",
        /// error="insufficient_scope", error_description="..", scope=".."`, whatever
        /// `scheme` says; without, DRF's keyword with the error and the scope.
        realm: Option<Realm>,
    },
}

impl ScopeRejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(rejection) => rejection.status(),
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// The `detail` message.
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Unauthenticated(rejection) => rejection.detail(),
            Self::InsufficientScope { .. } => PERMISSION_DENIED,
        }
    }
}

impl std::fmt::Display for ScopeRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for ScopeRejection {}

impl From<TokenAuthRejection> for ScopeRejection {
    fn from(rejection: TokenAuthRejection) -> Self {
        Self::Unauthenticated(rejection)
    }
}

impl IntoResponse for ScopeRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated(rejection) => rejection.into_response(),
            Self::InsufficientScope {
                required,
                realm: Some(realm),
                ..
            } => {
                let mut response = detail_response(StatusCode::FORBIDDEN, PERMISSION_DENIED);
                let challenge = bearer_challenge(
                    &realm,
                    Some(("insufficient_scope", PERMISSION_DENIED)),
                    Some(&required),
                );
                response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                response
            }
            Self::InsufficientScope {
                required,
                scheme,
                realm: None,
            } => {
                let mut response = detail_response(StatusCode::FORBIDDEN, PERMISSION_DENIED);
                let scheme = if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_graphic()) {
                    scheme.as_str()
                } else {
                    DEFAULT_SCHEME
                };
                // Scope names are printable ASCII without spaces, quotes or backslashes,
                // so the quoted list needs no escaping and is a valid header value.
                let challenge = format!(r#"{scheme} error="insufficient_scope", scope="{required}""#);
                let challenge = HeaderValue::from_str(&challenge)
                    .expect("a visible-ASCII scheme and scope names make a valid header value");
                response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                response
            }
        }
    }
}
