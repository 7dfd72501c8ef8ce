//! The [`Routes`] builder: the routes' options, and each router or method router built
//! from them.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, any, delete, get, post};
use http::request::Parts;
use tokenauth_core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserDirectory};

use super::oauth::{IntrospectState, introspect, revoke};
use super::obtain::{ObtainState, obtain_token};
use super::sessions::{create_token, list_tokens, logout, logout_all, revoke_token};
use super::{
    INTROSPECT_PATH, IntrospectionClient, LoginThrottle, MAX_BODY_BYTES, OBTAIN_PATHS, REVOKE_PATH,
    VERIFY_PATH, VerifyOptions, method_not_allowed, method_not_allowed_authenticated, verify,
};
use crate::layer::{ClientIp, TokenAuthLayer, peer_ip};
use crate::scope::RequireScope;
// Named only by the doc comments' links.
#[cfg(doc)]
use super::{INTROSPECT_SCOPE, ThrottleConfig, obtain, obtain_router, router, session_router, verify_router};

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
    // `pub(super)`: the sibling `openapi` module reads the service and the client.
    pub(super) auth: TokenAuth<S, D>,
    throttle: LoginThrottle,
    client_ip: ClientIp,
    pub(super) introspection_client: Option<IntrospectionClient>,
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
