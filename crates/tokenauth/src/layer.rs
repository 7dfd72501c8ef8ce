//! The tower middleware that authenticates every request.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode, header};
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{AuthError, AuthOutcome, Challenge, TokenAuth, Verified};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::{Presented, UserOf, UserType};
use crate::rejection::{Answer, TokenAuthRejection, method_not_allowed_response, refusal};

/// The paths the obtain endpoint is served at (`routes::OBTAIN_PATHS`), which the
/// layer does not authenticate by default.
pub(crate) const DEFAULT_LOGIN_PATHS: [&str; 2] = ["/api-token-auth/", "/auth/token"];

/// The token revocation endpoint's path (`routes::REVOKE_PATH`): like a login, it
/// ignores the `Authorization` header (the token in its form is the proof).
const REVOKE_PATH: &str = "/auth/revoke";

/// Authenticates requests by their `Authorization: Token <key>` (or `Bearer <key>`)
/// header, for the routes it wraps.
///
/// - No credentials (no header, or another scheme such as `Basic`): the request goes on
///   anonymous; handlers that take [`Authenticated`](crate::Authenticated) answer 401.
/// - Valid credentials: the request goes on with the user attached.
/// - Credentials that fail (unknown, expired, malformed, inactive user): 401 at once,
///   even on public routes, as DRF does; see [`with_lenient`](Self::with_lenient).
///
/// Every 401 that passes through the layer carries `WWW-Authenticate` naming the first
/// configured keyword (`Token`); other statuses keep their own (such as the 403 of
/// [`RequireScope`](crate::RequireScope)). That is DRF's wording; a client that sends
/// `Bearer` credentials is answered in RFC 6750's instead (see "Challenges" below). The
/// `Authorization` header (every one of
/// them, if the request has several) is marked sensitive so that tracing middleware does
/// not print it. A request with several `Authorization` headers is refused with 401
/// `Invalid token header. Token string should not contain spaces.`, as DRF refuses them
/// (its WSGI server joins them with commas). The layer never fails: every refusal is a
/// response.
///
/// # Layers nest
///
/// A request authenticates once, at the outermost layer: an inner `TokenAuthLayer`
/// (such as the one the session routes of `routes::session_router` carry) sees what the
/// outer one found and neither authenticates again nor records a second use. So a
/// router carrying its own layer can be merged inside or outside your app's layer
/// alike; the outermost layer's settings (lenient mode, login paths, client address)
/// are the ones that apply.
///
/// # Login paths
///
/// Requests to the obtain endpoint's paths, `/api-token-auth/` and `/auth/token`, are
/// not authenticated: they go on anonymous whatever their `Authorization` header says,
/// so a client holding a dead token can still log in, and a login records no use of
/// the token it happens to send. This holds whether the obtain routes are merged inside
/// or outside the layer, and nested under any prefix (`/api/v1/api-token-auth/`): a
/// request path counts as a login path when it ends with one, after a `/`. Mounted at
/// another path, tell the layer with [`with_login_paths`](Self::with_login_paths). (The
/// layer runs before the route, so it cannot ask the route; it compares the request
/// path as the layer sees it.) The token revocation endpoint's path, `/auth/revoke`,
/// is treated the same way: the token to revoke is in its form, so a stale header must
/// not stand in the way.
///
/// # Challenges
///
/// The service's [`Challenge`] setting says how refusals are worded; the bodies are
/// DRF's `{"detail": ...}` in every mode. Under [`Challenge::Auto`] (the default) a
/// request whose `Authorization` header (the first, if several) uses the `Bearer`
/// keyword gets RFC 6750's challenges, and every other request DRF's:
///
/// | the client sent | DRF's answer | RFC 6750's answer |
/// |---|---|---|
/// | no credentials | 401, `Token` | 401, `Bearer realm="api"` |
/// | failing credentials (unknown, expired, inactive user) | 401, `Token` | 401, `Bearer realm="api", error="invalid_token", error_description="<detail>"` |
/// | malformed or repeated credentials | 401, `Token` | 400, `Bearer realm="api", error="invalid_request", error_description="<detail>"` |
/// | a token without a required scope | 403, `Token error="insufficient_scope", scope="write"` | 403, `Bearer realm="api", error="insufficient_scope", error_description="<detail>", scope="write"` |
///
/// Under [`Challenge::Auto`], a request without credentials gets DRF's answer unless
/// `Bearer` is the first keyword. The realm is the service's
/// ([`TokenAuth::with_realm`]). Nested layers word a request as the outermost one did.
///
/// # Wrong methods
///
/// A method a route does not serve gets DRF's answer instead of axum's bare, empty
/// 405: 401 first for a request without valid credentials (as DRF's `IsAuthenticated`
/// views check permissions before the method), else 405 `{"detail":"Method \"POST\"
/// not allowed."}` with the route's `Allow` header. A public route that should answer
/// 405 to anonymous clients too takes `routes::method_not_allowed` as its fallback (a
/// response with a body is left as it is).
///
/// # Client addresses
///
/// The layer records the client's address as the token's `last_ip` (and reports a use
/// from a new address as [`AuthEvent::UsedFromNewIp`](tokenauth_core::AuthEvent)). By
/// default it is the peer address the server recorded (see [`peer_ip`]): axum's
/// `ConnectInfo<SocketAddr>` with the `connect-info` feature (serve the app with
/// `app.into_make_service_with_connect_info::<SocketAddr>()`), or a plain `SocketAddr`
/// request extension, which a server built on hyper-util can insert. With neither, no
/// address is recorded. [`with_client_ip`](Self::with_client_ip) replaces the rule.
///
/// It never reads `X-Forwarded-For`, `Forwarded` or `X-Real-IP`: any client can send
/// those headers with any value, so trusting them would let a client choose the address
/// written to its token's record and to the audit trail, hiding where a stolen token is
/// used from. Behind a reverse proxy the peer is the proxy; if you trust yours, pass
/// [`with_client_ip`](Self::with_client_ip) a function reading the address your proxy
/// appended (the right-most entry it added, never the left-most, which the client
/// wrote).
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::{Authenticated, TokenAuthLayer};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub struct TokenAuthLayer<S, D> {
    state: Arc<LayerState<S, D>>,
}

/// Finds the client's address in a request.
pub(crate) type ClientIp = Arc<dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync>;

struct LayerState<S, D> {
    auth: TokenAuth<S, D>,
    lenient: bool,
    login_paths: Arc<[String]>,
    client_ip: ClientIp,
}

impl<S, D> Clone for LayerState<S, D> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            lenient: self.lenient,
            login_paths: Arc::clone(&self.login_paths),
            client_ip: Arc::clone(&self.client_ip),
        }
    }
}

impl<S, D> fmt::Debug for LayerState<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthLayer")
            .field("auth", &self.auth)
            .field("lenient", &self.lenient)
            .field("login_paths", &self.login_paths)
            .finish_non_exhaustive()
    }
}

impl<S, D> fmt::Debug for TokenAuthLayer<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

impl<S, D> Clone for TokenAuthLayer<S, D> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuthLayer<S, D> {
    /// A layer authenticating with `auth`.
    pub fn new(auth: TokenAuth<S, D>) -> Self {
        Self {
            state: Arc::new(LayerState {
                auth,
                lenient: false,
                login_paths: DEFAULT_LOGIN_PATHS
                    .iter()
                    .chain([&REVOKE_PATH])
                    .map(|p| (*p).to_owned())
                    .collect(),
                client_ip: Arc::new(peer_ip),
            }),
        }
    }

    fn configure(self, change: impl FnOnce(&mut LayerState<S, D>)) -> Self {
        let mut state = LayerState::clone(&self.state);
        change(&mut state);
        Self {
            state: Arc::new(state),
        }
    }

    /// Treats failing credentials as anonymous instead of answering 401 at once
    /// (default `false`, DRF's behaviour).
    ///
    /// In lenient mode a public route (one taking `Option<Authenticated>`, or nothing)
    /// serves a request with an expired or unknown token as anonymous, while a protected
    /// route still answers 401 with the real reason (`Token has expired`...). Useful
    /// when clients keep sending stale tokens to public pages.
    pub fn with_lenient(self, lenient: bool) -> Self {
        self.configure(|state| state.lenient = lenient)
    }

    /// The paths whose requests are not authenticated (default: the obtain endpoint's,
    /// `/api-token-auth/` and `/auth/token`); see "Login paths" above. A request path
    /// matches a login path when it is the same or ends with it after a `/`.
    ///
    /// ```no_run
    /// use axum::Router;
    /// use tokenauth::{TokenAuthLayer, routes::obtain};
    /// use tokenauth::core::TokenAuth;
    /// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
    ///
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    /// let app: Router = Router::new()
    ///     .route("/login", obtain(auth.clone()))
    ///     .layer(TokenAuthLayer::new(auth).with_login_paths(["/login"]));
    /// ```
    ///
    /// # Warning
    ///
    /// A handler at a login path never sees a user: list only paths that serve logins.
    pub fn with_login_paths<P: Into<String>>(self, paths: impl IntoIterator<Item = P>) -> Self {
        let paths: Arc<[String]> = paths.into_iter().map(Into::into).collect();
        self.configure(|state| state.login_paths = paths)
    }

    /// How to find the client's address in a request (default: [`peer_ip`]); see
    /// "Client addresses" above. `None` records no address.
    ///
    /// ```no_run
    /// use std::net::IpAddr;
    /// use tokenauth::{TokenAuthLayer, peer_ip};
    /// use tokenauth::core::TokenAuth;
    /// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
    ///
    /// // Behind one trusted proxy that appends the peer it saw to X-Forwarded-For.
    /// let from_proxy = |parts: &http::request::Parts| -> Option<IpAddr> {
    ///     let forwarded = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
    ///     forwarded.rsplit(',').next()?.trim().parse().ok()
    /// };
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    /// let layer = TokenAuthLayer::new(auth)
    ///     .with_client_ip(move |parts| from_proxy(parts).or_else(|| peer_ip(parts)));
    /// ```
    ///
    /// # Warning
    ///
    /// The address is written to the token's record and to the audit trail: read it
    /// only from what your own infrastructure wrote, never from what a client can send.
    pub fn with_client_ip(
        self,
        client_ip: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        let client_ip: ClientIp = Arc::new(client_ip);
        self.configure(|state| state.client_ip = client_ip)
    }
}

/// The address of the peer that sent the request, as the server recorded it: axum's
/// `ConnectInfo<SocketAddr>` (with the `connect-info` feature), else a `SocketAddr`
/// request extension; `None` without either. IPv4 clients of a dual-stack listener
/// appear as plain IPv4 addresses. The default of
/// [`TokenAuthLayer::with_client_ip`].
///
/// `X-Forwarded-For` and its kin are deliberately not read: see "Client addresses" on
/// [`TokenAuthLayer`].
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "connect-info")]
    let connect_info = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    #[cfg(not(feature = "connect-info"))]
    let connect_info = None;
    connect_info
        .or_else(|| parts.extensions.get::<SocketAddr>().copied())
        .map(|addr| addr.ip().to_canonical())
}

impl<I, S, D> Layer<I> for TokenAuthLayer<S, D> {
    type Service = TokenAuthService<I, S, D>;

    fn layer(&self, inner: I) -> Self::Service {
        TokenAuthService {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// The service made by [`TokenAuthLayer`].
#[derive(Debug)]
pub struct TokenAuthService<I, S, D> {
    inner: I,
    state: Arc<LayerState<S, D>>,
}

impl<I: Clone, S, D> Clone for TokenAuthService<I, S, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, D, ReqBody, ResBody> Service<Request<ReqBody>> for TokenAuthService<I, S, D>
where
    I: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
    S: TokenStore,
    D: UserDirectory,
{
    type Response = Response;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, I::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let state = Arc::clone(&self.state);
        // The clone may not be ready: use the instance that `poll_ready` readied and
        // leave the clone in its place (see tower's `Service` docs).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            // An outer layer has authenticated this request already: its answer holds.
            let answer = match Presented::of(&parts.extensions) {
                Ok(presented) => presented.answer.clone(),
                Err(_) => match state.authenticate(&mut parts).await {
                    Ok(answer) => answer,
                    Err(response) => return Ok(response),
                },
            };
            // What a bare 405 becomes: see "Wrong methods" above.
            let method = parts.method.clone();
            let outcome = Presented::of(&parts.extensions).and_then(Presented::token).err();
            let response = inner.call(Request::from_parts(parts, body)).await?;
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && response.body().size_hint().exact() == Some(0)
            {
                return Ok(answer.finish(method_not_allowed(&method, outcome, response.headers())));
            }
            Ok(answer.finish(response.map(Body::new)))
        })
    }
}

impl<S: TokenStore, D: UserDirectory> LayerState<S, D> {
    /// Authenticates the request and records the outcome in its extensions, with how
    /// its refusals are worded (returned too); `Err` is the response that refuses it.
    async fn authenticate(&self, parts: &mut Parts) -> Result<Answer, Response> {
        let answer = answer(&self.auth, parts.headers.get(header::AUTHORIZATION));
        let login = self
            .login_paths
            .iter()
            .any(|login| is_login_path(parts.uri.path(), login));
        let token = if login {
            // Marked all the same: a login's header is no less secret.
            mark_authorization_sensitive(parts);
            Err(TokenAuthRejection::NotProvided)
        } else {
            let ip = (self.client_ip)(parts);
            match authenticate_authorization(&self.auth, parts, ip).await {
                Ok(Some(verified)) => {
                    parts.extensions.insert(UserOf(verified.user));
                    Ok(verified.token)
                }
                Ok(None) => Err(TokenAuthRejection::NotProvided),
                // Never lenient on a failed backend: the credentials were not judged.
                Err(error) if self.lenient && !matches!(error, AuthError::Backend(_)) => {
                    Err(TokenAuthRejection::from(&error))
                }
                Err(error) => return Err(answer.finish(refusal(&error))),
            }
        };
        parts.extensions.insert(Presented {
            token,
            answer: answer.clone(),
            user_type: UserType::of::<D::User>(),
        });
        Ok(answer)
    }
}

/// How the refusals of a request with this `Authorization` header (its first, if
/// several) are worded, by `auth`'s [`Challenge`] setting: under `Auto`, by the keyword
/// the client used, or the first keyword when it sent no credentials. For the layer and
/// the routes that authenticate by themselves.
pub(crate) fn answer<S: TokenStore, D: UserDirectory>(
    auth: &TokenAuth<S, D>,
    header: Option<&HeaderValue>,
) -> Answer {
    let rfc6750 = match auth.challenge_mode() {
        Challenge::Drf => false,
        Challenge::Rfc6750 => true,
        Challenge::Auto => auth
            .keyword_of(header.map(HeaderValue::as_bytes))
            .unwrap_or(auth.challenge())
            .eq_ignore_ascii_case("Bearer"),
    };
    if rfc6750 {
        Answer::Bearer(auth.realm().clone())
    } else {
        Answer::Drf(
            HeaderValue::from_str(auth.challenge())
                .expect("keywords are validated as visible ASCII by TokenAuth::with_keywords"),
        )
    }
}

/// Marks every `Authorization` header of `parts` sensitive, so that no tracing
/// middleware prints any of them; whether there are several.
fn mark_authorization_sensitive(parts: &mut Parts) -> bool {
    match parts.headers.entry(header::AUTHORIZATION) {
        header::Entry::Occupied(mut entry) => {
            entry.iter_mut().for_each(|value| value.set_sensitive(true));
            entry.iter().nth(1).is_some()
        }
        header::Entry::Vacant(_) => false,
    }
}

/// The verdict on the `Authorization` header of `parts`, as the layer and the
/// forward-auth route judge it: `Ok(None)` without credentials (no header, or another
/// scheme such as `Basic`). Every `Authorization` header is marked sensitive; several
/// are refused as DRF refuses them. `ip` is the client's address, recorded with the use.
pub(crate) async fn authenticate_authorization<S: TokenStore, D: UserDirectory>(
    auth: &TokenAuth<S, D>,
    parts: &mut Parts,
    ip: Option<IpAddr>,
) -> Result<Option<Verified<D::User>>, AuthError> {
    if mark_authorization_sensitive(parts) {
        // Several headers are one to DRF, joined with commas by the WSGI server:
        // "Token <key>, <other>" has more than two words.
        auth.report_authentication(AuthOutcome::Malformed);
        return Err(AuthError::ContainsSpaces);
    }
    let header = parts.headers.get(header::AUTHORIZATION);
    auth.authenticate_header(header.map(HeaderValue::as_bytes), ip)
        .await
}

/// DRF's answer to a method a route does not serve, for the bare 405 axum gives: the
/// 401 first for a request without valid credentials (`rejection`), as a DRF view with
/// `IsAuthenticated` answers (it checks permissions before the method), else 405
/// `Method "X" not allowed.` with the route's `Allow` header.
fn method_not_allowed(
    method: &http::Method,
    rejection: Option<TokenAuthRejection>,
    bare: &http::HeaderMap,
) -> Response {
    if let Some(rejection) = rejection {
        return rejection.into_response();
    }
    let mut response = method_not_allowed_response(method);
    if let Some(allow) = bare.get(header::ALLOW) {
        response.headers_mut().insert(header::ALLOW, allow.clone());
    }
    response
}

/// Whether a request to `path` is one to the login path `login`: the same path, or
/// one ending with it after a `/` (the obtain routes nested under a prefix such as
/// `/api/v1`, whichever side of the nesting the layer wraps).
fn is_login_path(path: &str, login: &str) -> bool {
    // A login path starting with `/` ends at a segment boundary of any path ending with it.
    path == login || (login.starts_with('/') && path.ends_with(login))
}
