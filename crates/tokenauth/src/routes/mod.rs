//! The HTTP endpoints: the obtain-token endpoint (a username and password in, a token
//! out), the session routes (logout, the user's tokens, a personal token, revoking
//! one), forward auth for reverse proxies ([`verify_router`]), and OAuth 2.0 token
//! introspection and revocation for other services ([`Routes::oauth_router`]).
//!
//! [`router`] serves both; [`obtain_router`] and [`session_router`] serve each. They are
//! generic over your app's state, so they `.merge()` into a `Router<AppState>`, and
//! they need no particular place relative to your [`TokenAuthLayer`]:
//!
//! - the obtain endpoint speaks DRF's `obtain_auth_token` protocol: JSON, urlencoded or
//!   multipart bodies, DRF's validation messages, `{"token": ...}` on success (plus
//!   `"expiry"`). Unlike DRF it ignores the `Authorization` header, so a client holding
//!   a dead token can log in again: the layer does not authenticate its paths (see
//!   "Login paths" on [`TokenAuthLayer`]), whether it wraps them or not;
//! - the session routes act on the presented token and its user: they carry their own
//!   [`TokenAuthLayer`], which stands aside when your app's layer already authenticated
//!   the request (see "Layers nest" on [`TokenAuthLayer`]).
//!
//! ```no_run
//! use axum::{Router, extract::State, routing::get};
//! use tokenauth::{Authenticated, TokenAuthLayer, routes};
//! use tokenauth::core::TokenAuth;
//! use tokenauth::core::{MemoryStore, MemoryUserDirectory};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     greeting: &'static str,
//! }
//!
//! async fn hello(State(state): State<AppState>, auth: Authenticated) -> String {
//!     format!("{}, {}", state.greeting, auth.user.username)
//! }
//!
//! let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
//! let app: Router = Router::new()
//!     .route("/hello", get(hello))
//!     .merge(routes::router(auth.clone()))
//!     .layer(TokenAuthLayer::new(auth))
//!     .with_state(AppState { greeting: "Hello" });
//! ```
//!

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, delete, get, post};
use http::request::Parts;
use http::{Method, StatusCode};
use tokenauth_core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserDirectory};

use crate::extract::Presented;
use crate::layer::{ClientIp, DEFAULT_LOGIN_PATHS, TokenAuthLayer, peer_ip};
use crate::rejection::{SERVER_ERROR, detail_response, method_not_allowed_response};
use crate::scope::RequireScope;

mod body;
mod oauth;
mod obtain;
#[cfg(feature = "openapi")]
pub mod openapi;
mod ready;
mod sessions;
mod throttle;
mod validate;
mod verify;

pub use oauth::{
    INTROSPECT_PATH, INTROSPECT_SCOPE, IntrospectionClient, InvalidClient, MIN_CLIENT_SECRET_BYTES,
    REVOKE_PATH,
};
use oauth::{IntrospectState, introspect, revoke};
use obtain::{ObtainState, obtain_token};
use sessions::{create_token, list_tokens, logout, logout_all, revoke_token};
pub use throttle::{InvalidThrottle, LoginThrottle, MAX_THROTTLE_KEYS, Rate, ThrottleConfig};
pub use verify::{CookieName, InvalidCookieName, VERIFY_PATH, VerifyOptions};

/// The two paths the obtain endpoint is served at by [`obtain_router`]: DRF's and
/// tokenauth's own. [`TokenAuthLayer`] does not authenticate
/// them (its default login paths).
pub const OBTAIN_PATHS: [&str; 2] = DEFAULT_LOGIN_PATHS;

/// The longest token `name` accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest `username` accepted, in characters (after trimming): Django's
/// `max_length` for usernames. Longer gets 400 `{"username": ["Ensure this field has
/// no more than 150 characters."]}`, before any password work.
pub const MAX_USERNAME_CHARS: usize = 150;

/// The longest `password` accepted, in bytes (UTF-8). Longer gets 400 `{"password":
/// ["Ensure this field has no more than 4096 bytes."]}`, before any password work.
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// The most scopes one `scope` field may ask for.
pub const MAX_SCOPES: usize = 32;

/// The largest obtain body accepted, in bytes: room for the longest username,
/// password, name and scope list, JSON-escaped. Larger gets 413 `{"detail": "Request
/// body is too large."}`, refused on its `Content-Length` or read no further than this.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The most fields (JSON keys, form pairs, multipart parts) an obtain body may have;
/// more gets 400 `{"detail": "Too many fields: at most 32 are accepted."}`.
pub const MAX_FIELDS: usize = 32;

/// The routes with their options: the login throttle and how to find the client's
/// address. The session routes other than logout require the service's session scope
/// ([`TokenAuth::with_session_scope`]; `sessions` as soon as scopes are configured). [`router`], [`obtain_router`]
/// and [`session_router`] are `Routes::new(auth)` with the defaults.
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::{TokenAuthLayer, TrustedProxies};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory, Scopes};
/// use tokenauth::routes::{LoginThrottle, Routes};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new())
///     .with_scopes(Scopes::parse("read write").unwrap()); // and `sessions`, for the session routes
/// let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
/// let routes = Routes::new(auth.clone())
///     .with_login_throttle(LoginThrottle::new("user=5/min:10,ip=300/min:100".parse().unwrap()))
///     .with_client_ip(move |parts| proxies.client_ip(parts));
/// let app: Router = routes.router().layer(TokenAuthLayer::new(auth));
/// ```
pub struct Routes<S, D> {
    auth: TokenAuth<S, D>,
    throttle: LoginThrottle,
    client_ip: ClientIp,
    introspection_client: Option<IntrospectionClient>,
}

impl<S, D> Clone for Routes<S, D> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            throttle: self.throttle.clone(),
            client_ip: Arc::clone(&self.client_ip),
            introspection_client: self.introspection_client.clone(),
        }
    }
}

impl<S, D> fmt::Debug for Routes<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes")
            .field("auth", &self.auth)
            .field("throttle", &self.throttle)
            .field("introspection_client", &self.introspection_client)
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore, D: UserDirectory> Routes<S, D> {
    /// The routes over `auth`, with the default login throttle
    /// ([`ThrottleConfig::default`]), the peer's address as the client's ([`peer_ip`]),
    /// and the service's session scope required by the session routes.
    pub fn new(auth: TokenAuth<S, D>) -> Self {
        Self {
            auth,
            throttle: LoginThrottle::default(),
            client_ip: Arc::new(peer_ip),
            introspection_client: None,
        }
    }

    /// Limits logins per username and per client address (default
    /// [`LoginThrottle::default`]; see [`LoginThrottle`]).
    ///
    /// # Warning
    ///
    /// [`LoginThrottle::off`] leaves passwords open to guessing at the speed of the
    /// password hasher: use it only where something in front throttles logins.
    pub fn with_login_throttle(mut self, throttle: LoginThrottle) -> Self {
        self.throttle = throttle;
        self
    }

    /// How to find the client's address (default [`peer_ip`]), for the login throttle,
    /// the login events and the session routes' own layer. See "Client addresses" on
    /// [`TokenAuthLayer`], and [`TrustedProxies`](crate::TrustedProxies).
    ///
    /// # Warning
    ///
    /// A client that can choose its address escapes the per-address throttle: read it
    /// only from what your own infrastructure wrote.
    pub fn with_client_ip(
        mut self,
        client_ip: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.client_ip = Arc::new(client_ip);
        self
    }

    /// The obtain endpoint and the session routes ([`router`]).
    pub fn router<St: Clone + Send + Sync + 'static>(&self) -> Router<St> {
        self.obtain_router().merge(self.session_router())
    }

    /// The obtain endpoint at its two paths ([`obtain_router`]).
    pub fn obtain_router<St: Clone + Send + Sync + 'static>(&self) -> Router<St> {
        let obtain = self.obtain();
        OBTAIN_PATHS
            .iter()
            .fold(Router::new(), |router, path| router.route(path, obtain.clone()))
    }

    /// The obtain endpoint as a method router ([`obtain`]).
    pub fn obtain<St: Clone + Send + Sync + 'static>(&self) -> MethodRouter<St> {
        let state = Arc::new(ObtainState {
            auth: self.auth.clone(),
            throttle: self.throttle.clone(),
            client_ip: Arc::clone(&self.client_ip),
        });
        post(obtain_token::<S, D>)
            .fallback(method_not_allowed)
            .with_state(state)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    }

    /// Lets `client` call the introspection endpoint with HTTP Basic
    /// ([`introspection_router`](Self::introspection_router); default: none, only
    /// tokens carrying [`INTROSPECT_SCOPE`]).
    pub fn with_introspection_client(mut self, client: IntrospectionClient) -> Self {
        self.introspection_client = Some(client);
        self
    }

    /// The OAuth 2.0 endpoints: [`introspection_router`](Self::introspection_router)
    /// and [`revocation_router`](Self::revocation_router).
    pub fn oauth_router<St: Clone + Send + Sync + 'static>(&self) -> Router<St> {
        self.introspection_router().merge(self.revocation_router())
    }

    /// Token introspection (RFC 7662) at `POST /auth/introspect` ([`INTROSPECT_PATH`]).
    ///
    /// The caller presents a token carrying [`INTROSPECT_SCOPE`] (checked by the
    /// router's own [`TokenAuthLayer`], which stands aside under your app's), or the
    /// client credential of [`with_introspection_client`](Self::with_introspection_client)
    /// with HTTP Basic. The form (`application/x-www-form-urlencoded`) names the
    /// `token` asked about; `token_type_hint` is ignored. The answer, with
    /// `Cache-Control: no-store`, is
    /// `{"active":true,"scope":"read write","username":"alice","sub":"42","token_type":"Token","exp":1767269696,"iat":1764677696}`
    /// (`scope` left out when the token has none; `token_type` is the first
    /// `Authorization` keyword, the one to present the token with), or exactly
    /// `{"active":false}` for a token that is unknown, malformed, revoked, expired or
    /// whose user is inactive or deleted, never saying which. Asking records no use of
    /// the token: its last use, and with it a sliding expiry, stay as they were
    /// ([`TokenAuth::inspect`]).
    ///
    /// Refusals: no credentials, 401 `Authentication credentials were not provided.`
    /// (challenging with `Basic realm="tokenauth"` too when a client is configured); a
    /// wrong client credential, 401 `{"error":"invalid_client",...}` with the `Basic`
    /// challenge; a token without the scope, 403 `insufficient_scope`; a missing,
    /// empty or repeated `token`, 400 `{"error":"invalid_request",...}`; a body of
    /// another type, 415; over [`MAX_BODY_BYTES`], 413; other methods, 405. An
    /// unavailable store, 503 with `Retry-After`.
    pub fn introspection_router<St: Clone + Send + Sync + 'static>(&self) -> Router<St> {
        let state = Arc::new(IntrospectState::new(
            self.auth.clone(),
            self.introspection_client.clone(),
        ));
        let client_ip = Arc::clone(&self.client_ip);
        Router::new()
            .route(
                INTROSPECT_PATH,
                post(introspect::<S, D>)
                    .fallback(method_not_allowed)
                    .with_state(state)
                    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
            )
            .layer(TokenAuthLayer::new(self.auth.clone()).with_client_ip(move |parts| client_ip(parts)))
    }

    /// Token revocation (RFC 7009) at `POST /auth/revoke` ([`REVOKE_PATH`]): the
    /// `token` of the form (`application/x-www-form-urlencoded`; `token_type_hint` is
    /// ignored) is revoked if it is stored, with logout's effects (caches and other
    /// instances are told), and the answer is 200 with an empty body whether it was
    /// or not, so the endpoint tells nobody whether a token exists.
    ///
    /// Anyone may call it: presenting the token is the proof of holding it, and its
    /// holder can already end it (`POST /auth/logout`). So a secret scanner that
    /// finds a leaked token can revoke it, as GitHub's credential revocation API
    /// allows. The `Authorization` header is not read, and [`TokenAuthLayer`] does not
    /// authenticate this path either, so the router may sit inside or outside it.
    ///
    /// Refusals: a missing, empty or repeated `token`, 400
    /// `{"error":"invalid_request",...}`; a body of another type, 415; over
    /// [`MAX_BODY_BYTES`], 413; other methods, 405. An unavailable store, 503 with
    /// `Retry-After`.
    pub fn revocation_router<St: Clone + Send + Sync + 'static>(&self) -> Router<St> {
        Router::new().route(
            REVOKE_PATH,
            post(revoke::<S, D>)
                .fallback(method_not_allowed)
                .with_state(self.auth.clone())
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
    }

    /// The session routes ([`session_router`]).
    pub fn session_router<St: Clone + Send + Sync + 'static>(&self) -> Router<St> {
        let auth = &self.auth;
        let tokens = get(list_tokens::<S, D>);
        // Where the store can keep a named token beside the user's others: elsewhere
        // (DRF's one token per user) POST is not served, and answers 405.
        let holds = auth.store().capabilities();
        let tokens = if holds.several_tokens_per_user && holds.names {
            tokens
                .post(create_token::<S, D>)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        } else {
            tokens
        };
        let tokens = tokens.fallback(method_not_allowed_authenticated);
        let logout = Router::new().route(
            "/auth/logout",
            post(logout::<S, D>).fallback(method_not_allowed_authenticated),
        );
        let others = Router::new()
            .route(
                "/auth/logoutall",
                post(logout_all::<S, D>).fallback(method_not_allowed_authenticated),
            )
            .route("/auth/tokens", tokens)
            .route(
                "/auth/tokens/{id}",
                delete(revoke_token::<S, D>).fallback(method_not_allowed_authenticated),
            );
        let others = match auth.session_scope() {
            Some(scopes) => others.route_layer(RequireScope::all(scopes.clone())),
            None => others,
        };
        let client_ip = Arc::clone(&self.client_ip);
        logout
            .merge(others)
            .with_state(auth.clone())
            .layer(TokenAuthLayer::new(auth.clone()).with_client_ip(move |parts| client_ip(parts)))
    }

    /// The forward-auth route at [`VERIFY_PATH`] and below it ([`verify_router`]),
    /// finding the client's address as these routes do
    /// ([`with_client_ip`](Self::with_client_ip)).
    pub fn verify_router<St: Clone + Send + Sync + 'static>(&self, options: &VerifyOptions) -> Router<St> {
        let verify = self.verify(options);
        Router::new()
            .route(VERIFY_PATH, verify.clone())
            // Envoy's ext_authz appends the request's path to its `path_prefix`.
            .route(&format!("{VERIFY_PATH}/{{*path}}"), verify)
    }

    /// The forward-auth route as a method router ([`verify`]).
    pub fn verify<St: Clone + Send + Sync + 'static>(&self, options: &VerifyOptions) -> MethodRouter<St> {
        let state = Arc::new(verify::VerifyState {
            auth: self.auth.clone(),
            options: options.clone(),
            client_ip: Arc::clone(&self.client_ip),
            warned: Default::default(),
        });
        any(verify::verify::<S, D>).with_state(state)
    }
}

/// A router serving both the obtain endpoint ([`obtain_router`]) and the session routes
/// ([`session_router`]), to merge into your app's router, before or after its
/// [`TokenAuthLayer`] alike (see the [module docs](self)).
pub fn router<St, S, D>(auth: TokenAuth<S, D>) -> Router<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    Routes::new(auth).router()
}

/// A router serving the obtain endpoint at `POST /api-token-auth/` (DRF's path) and
/// `POST /auth/token`. Other methods get DRF's 405 with an `Allow` header.
///
/// The body takes DRF's `username` and `password`, and optionally:
///
/// - `name`: a label for the token (the device or client), at most
///   [`MAX_NAME_CHARS`] characters;
/// - `lifespan`: a lifespan shorter than the configured one, as seconds (a number or a
///   string) or text such as `"7d"` or `"12h"` (see
///   [`Lifespan`](tokenauth_core::Lifespan)); a longer one is refused with 400
///   `{"lifespan": ["Ensure the lifespan is at most 30d (2592000 seconds)."]}`;
/// - `scope`: the scopes wanted, space-separated as in OAuth 2 (`"read write"`), each
///   one the service grants ([`TokenAuth::with_scopes`]); without it the token gets
///   every grantable scope, and an empty string asks for none.
///
/// A user at the per-user token limit with [`OnLimit::Reject`] gets 403 with a
/// `detail` saying so.
///
/// The endpoint ignores the `Authorization` header: [`TokenAuthLayer`] does not
/// authenticate its paths, so it may be merged inside or outside the layer.
///
/// [`OnLimit::Reject`]: tokenauth_core::OnLimit::Reject
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::{routes::obtain_router};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new().merge(obtain_router(auth));
/// ```
pub fn obtain_router<St, S, D>(auth: TokenAuth<S, D>) -> Router<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    Routes::new(auth).obtain_router()
}

/// The obtain endpoint as a method router, to mount at a path of your choice. Tell
/// your [`TokenAuthLayer`] about that path with
/// [`with_login_paths`](TokenAuthLayer::with_login_paths) if the layer wraps
/// it.
pub fn obtain<St, S, D>(auth: TokenAuth<S, D>) -> MethodRouter<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    Routes::new(auth).obtain()
}

/// A router serving the session routes, for the user of the presented token:
///
/// - `POST /auth/logout`: revokes the presented token; 204, empty body.
/// - `POST /auth/logoutall`: revokes every token of the user; 204.
/// - `GET /auth/tokens`: the user's live tokens, oldest first, as a JSON list of
///   `{"id", "name", "scopes", "created", "expiry", "last_used", "current"}`
///   (`scopes` a list of strings, times RFC 3339, `last_used` `null` if never written,
///   `current` true for the presented token). Never a secret or a digest.
/// - `POST /auth/tokens`: a personal token for the user
///   ([`TokenAuth::issue_personal`]). The body (JSON, urlencoded or multipart, bounded
///   as the obtain endpoint's) takes a `name` (required), and optionally a `scope`,
///   each of which the presented token must carry (default: its own; a broader one is
///   refused with 403 `{"detail": "A token cannot grant a scope it does not carry:
///   \"write\"."}`), and a `lifespan` (at most the service's), validated as the
///   obtain endpoint's. 201 with `{"token", "id", "name", "scopes", "expiry"}` and
///   `Cache-Control: no-store`: the secret is shown this once. The per-user limit
///   applies. Not served (405) over a store that keeps one token per user.
/// - `DELETE /auth/tokens/{id}`: revokes one of the user's tokens; 204, or 404
///   `{"detail":"Not found."}` for an id that is unknown, malformed or another user's.
///
/// Revocation takes effect on the very next request. With scopes configured, every
/// route but logout requires the session scope
/// ([`TokenAuth::with_session_scope`]). Anonymous requests get 401
/// `Authentication credentials were not provided.`; other methods get DRF's 405 (after
/// authentication: without valid credentials, the 401 comes first, as in DRF).
///
/// The routes carry their own [`TokenAuthLayer`] over `auth`.
/// Merged inside your app's layer, they use what that layer found instead (one
/// authentication per request); its directory must be the same type as `auth`'s.
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::TokenAuthLayer;
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
/// use tokenauth::routes::{obtain_router, session_router};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .merge(session_router(auth.clone()))
///     .merge(obtain_router(auth.clone()))
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub fn session_router<St, S, D>(auth: TokenAuth<S, D>) -> Router<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    Routes::new(auth).session_router()
}

/// A router serving forward auth at [`VERIFY_PATH`] (`/auth/verify`) and any path
/// below it (`/auth/verify/orders/7`, as Envoy's `ext_authz` asks), for reverse
/// proxies that ask another service whether to let a request through (nginx
/// `auth_request`, Traefik `ForwardAuth`, Envoy `ext_authz`, Oathkeeper's
/// `bearer_token`). It answers every method:
///
/// - 200 with identity headers (see [`VerifyOptions`]: by default `X-Auth-User` the
///   username, `X-Auth-User-Id`, `X-Auth-Scopes` space-separated, `X-Auth-Token-Id`,
///   `X-Auth-Expires` RFC 3339) and a JSON body `{"sub": "<user id>", "extra":
///   {"username", "scope", "token_id", "expires"}}`;
/// - 401 with `WWW-Authenticate` and DRF's `{"detail": ...}`, as
///   [`TokenAuthLayer`] answers, for missing or failing credentials (RFC 6750's
///   challenges to a `Bearer` client, as there, but a 401 for malformed credentials
///   too: nginx's `auth_request` turns a 400 into its own 500);
/// - 403 `insufficient_scope`, as [`RequireScope`] answers, when the token lacks a
///   required scope: those of every `scope` query parameter (`?scope=write`,
///   space-separated or repeated) and of the [required-scope
///   header](VerifyOptions::required_scope_header), all required. A scope the service
///   cannot grant is refused the same way (no token carries it), and logged once as a
///   warning;
/// - 400 for a malformed scope requirement;
/// - 503 with `Retry-After` when the token store or user directory is unavailable, so
///   that the proxy refuses the request (fails closed).
///
/// Credentials come from `Authorization` only, unless [a
/// cookie](VerifyOptions::cookie) is configured: its value is then read when the
/// request has no credentials in `Authorization`. A successful check is a use of the
/// token like any authenticated request: it is recorded as the token's last use (with
/// the client's address, [`peer_ip`] by default) and, with an idle timeout, extends it.
///
/// It authenticates by itself, so it needs no [`TokenAuthLayer`]; behind one, it uses
/// what the layer found (one use recorded, not two).
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::core::TokenAuth;
/// use tokenauth::routes::{VerifyOptions, verify_router};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new().merge(verify_router(auth, &VerifyOptions::default()));
/// ```
pub fn verify_router<St, S, D>(auth: TokenAuth<S, D>, options: &VerifyOptions) -> Router<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    Routes::new(auth).verify_router(options)
}

/// The forward-auth route of [`verify_router`] as a method router, to mount at a path
/// of your choice.
pub fn verify<St, S, D>(auth: TokenAuth<S, D>, options: &VerifyOptions) -> MethodRouter<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    Routes::new(auth).verify(options)
}

/// A readiness probe for load balancers and orchestrators, to mount at a path of your
/// choice (the `tokenauth` server uses `GET /readyz`): 200 `{"status":"ready"}` when
/// the token store and the user directory both answer
/// ([`TokenAuth::ready`]: each backend's `ping`, within the
/// [backend timeout](TokenAuth::with_backend_timeout)), else 503
/// `{"detail":"Not ready: the token store or the user directory does not answer."}`
/// with `Retry-After: 5` (the cause is logged). Other methods get DRF's 405.
///
/// It takes no credentials. A liveness probe should not use it: a database outage
/// would then restart servers that recover by themselves when it ends.
///
/// ```no_run
/// use axum::Router;
/// use tokenauth::{routes::readiness};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new().route("/readyz", readiness(auth));
/// ```
pub fn readiness<St, S, D>(auth: TokenAuth<S, D>) -> MethodRouter<St>
where
    St: Clone + Send + Sync + 'static,
    S: TokenStore,
    D: UserDirectory,
{
    get(ready::readiness::<S, D>)
        .fallback(method_not_allowed)
        .with_state(auth)
}

/// DRF's 405: `{"detail": "Method \"GET\" not allowed."}`. Axum adds the `Allow`
/// header naming the methods the route serves.
///
/// Install it on your own public routes with `Router::method_not_allowed_fallback`,
/// before adding [`TokenAuthLayer`], so that a wrong method with
/// bad credentials is a 401 as in DRF (which authenticates before looking at the
/// method). On routes that require authentication use
/// [`method_not_allowed_authenticated`], which answers anonymous requests with the 401
/// too:
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::{Authenticated, TokenAuthLayer, routes::method_not_allowed};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/", get(|auth: Option<Authenticated>| async move { auth.is_some().to_string() }))
///     .method_not_allowed_fallback(method_not_allowed)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed(method: Method) -> Response {
    method_not_allowed_response(&method)
}

/// [`method_not_allowed`] for routes that require authentication: a request without
/// valid credentials gets the 401 first, as a DRF view with `IsAuthenticated` answers
/// (it checks permissions before looking at the method). It works with any user type.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::routes::method_not_allowed_authenticated;
/// use tokenauth::{Authenticated, TokenAuthLayer};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .method_not_allowed_fallback(method_not_allowed_authenticated)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed_authenticated(request: Request) -> Response {
    match Presented::of(request.extensions()).and_then(Presented::token) {
        Ok(_) => method_not_allowed(request.method().clone()).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// DRF's 500, after logging the cause.
fn server_error(error: &(dyn std::error::Error + 'static), what: &str) -> Response {
    tracing::error!(error, "{what}");
    detail_response(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR)
}

/// A JSON answer carrying a token's secret: `Cache-Control: no-store`, so that no
/// cache keeps it.
fn secret_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = crate::rejection::json_response(status, body);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

fn not_found() -> Response {
    detail_response(StatusCode::NOT_FOUND, "Not found.")
}
