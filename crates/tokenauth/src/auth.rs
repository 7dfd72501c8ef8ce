//! The app's handle: one configuration, built once, from which the layer, the routes
//! and the server loop are taken.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use http::request::Parts;
use tokenauth_core::store::{RevocationBus, RevocationListener, TokenStore, UserDirectory};
use tokenauth_core::{
    AuthCache, Cached, Challenge, Clock, EventHook, Following, Lifespan, Maintenance, ObtainPolicy,
    PasswordHasher, Publisher, Realm, Scopes, TokenFormat, TokenLimit,
};

use crate::layer::{ClientIp, TokenAuthLayer, peer_ip};
use crate::scope::{InvalidRequirement, RequireScope};

/// Token authentication for an axum app: the [layer](Self::layer) that authenticates
/// requests, the [routes](Self::routes) that log in and out, and
/// [`serve`](Self::serve), which runs the app with the background upkeep.
///
/// Built once by [`TokenAuth::builder`] (or [`TokenAuth::new`] with the defaults), then
/// cheap to clone: every clone, and everything taken from it, shares one configuration,
/// one cache and one buffer of last-used times, so a logout through the routes is seen
/// by the layer at once. There is nothing left to configure after
/// [`build`](TokenAuthBuilder::build), so the order in which the layer, the routes and
/// the scope guards are taken does not matter.
///
/// It dereferences to the core service ([`tokenauth_core::TokenAuth`]) for everything
/// else: `obtain`, `authenticate`, `revoke_user`, [`user_changed`], `password_hasher`...
///
/// ```no_run
/// use axum::{Router, routing::{get, post}};
/// use tokenauth::{Authenticated, TokenAuth};
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = TokenAuth::builder(MemoryStore::new(), MemoryUserDirectory::new())
///     .lifespan("7d".parse()?)
///     .scopes("read write".parse()?)
///     .build();
///
/// let app = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     // Only tokens with the `write` scope: the guard covers this route alone.
///     .route("/notes", post(|| async { "noted" }).route_layer(auth.require_scope("write")?))
///     .merge(auth.routes())
///     .layer(auth.layer());
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// auth.serve(listener, app).await?; // until Ctrl-C or SIGTERM, then the last writes
/// # Ok(()) }
/// ```
///
/// # Mistakes that do not compile
///
/// A built handle cannot be reconfigured, so clones cannot diverge (the builder's
/// setters are gone, and the core's consume a service the handle only lends):
///
/// ```compile_fail
/// # use tokenauth::{TokenAuth, core::{MemoryStore, MemoryUserDirectory}};
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let shorter = auth.with_lifespan("1d".parse().unwrap());
/// ```
///
/// The builder is not `Clone`: one configuration makes one service.
///
/// ```compile_fail
/// # use tokenauth::{TokenAuth, core::{MemoryStore, MemoryUserDirectory}};
/// let builder = TokenAuth::builder(MemoryStore::new(), MemoryUserDirectory::new());
/// let copy = builder.clone();
/// ```
///
/// A handler can only ask for a user type ([`AuthUser`](tokenauth_core::AuthUser)):
///
/// ```compile_fail
/// # use tokenauth::Authenticated;
/// let _: axum::routing::MethodRouter = axum::routing::get(|_: Authenticated<String>| async { "" });
/// ```
///
/// [`user_changed`]: tokenauth_core::TokenAuth::user_changed
pub struct TokenAuth<S, D> {
    core: tokenauth_core::TokenAuth<S, D>,
    layer: TokenAuthLayer<S, D>,
    #[cfg(feature = "routes")]
    routes: crate::routes::Routes<S, D>,
    maintenance: Maintenance,
    /// Keeps the cache following the revocation bus for as long as a clone lives.
    _following: Option<Arc<Following>>,
}

impl<S, D> Clone for TokenAuth<S, D> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            layer: self.layer.clone(),
            #[cfg(feature = "routes")]
            routes: self.routes.clone(),
            maintenance: self.maintenance,
            _following: self._following.clone(),
        }
    }
}

impl<S, D> fmt::Debug for TokenAuth<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth")
            .field("core", &self.core)
            .field("maintenance", &self.maintenance)
            .field("follows_bus", &self._following.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, D> Deref for TokenAuth<S, D> {
    type Target = tokenauth_core::TokenAuth<S, D>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Token authentication over `store` and `users` with the defaults (see
    /// [`TokenAuthBuilder`]).
    pub fn new(store: S, users: D) -> Self {
        Self::builder(store, users).build()
    }

    /// Starts the configuration of a service over `store` and `users`.
    pub fn builder(store: S, users: D) -> TokenAuthBuilder<S, D> {
        TokenAuthBuilder::from_core(tokenauth_core::TokenAuth::new(store, users))
    }

    /// The layer that authenticates the requests of the routes it wraps (see
    /// [`TokenAuthLayer`]): put it last, `router.layer(auth.layer())`, so that it wraps
    /// every route. A route outside it that asks for [`Authenticated`](crate::Authenticated)
    /// answers a generic 500 and logs why.
    pub fn layer(&self) -> TokenAuthLayer<S, D> {
        self.layer.clone()
    }

    /// The obtain endpoint (`POST /api-token-auth/`, `POST /auth/token`) and the session
    /// routes (`POST /auth/logout`, `POST /auth/logoutall`, `GET /auth/tokens`,
    /// `POST /auth/tokens`, `DELETE /auth/tokens/{id}`), to merge or nest into a router of any state, inside
    /// or outside the layer: the layer recognises the login paths under any prefix.
    /// See [`routes`](crate::routes).
    #[cfg(feature = "routes")]
    pub fn routes<St: Clone + Send + Sync + 'static>(&self) -> axum::Router<St> {
        self.routes.router()
    }

    /// Forward auth for reverse proxies (nginx `auth_request`, Traefik `ForwardAuth`,
    /// Envoy `ext_authz`) at `/auth/verify` and below: identity headers for a valid
    /// token, the layer's 401s, a 403 for a scope the proxy requires. Mount it outside
    /// the layer, which it does not need. See
    /// [`routes::verify_router`](crate::routes::verify_router) and `docs/gateway.md`.
    #[cfg(feature = "routes")]
    pub fn verify_routes<St: Clone + Send + Sync + 'static>(
        &self,
        options: &crate::routes::VerifyOptions,
    ) -> axum::Router<St> {
        self.routes.verify_router(options)
    }

    /// OAuth 2.0 token introspection (`POST /auth/introspect`, RFC 7662: for tokens
    /// carrying the `introspect` scope, or the [client](TokenAuthBuilder::introspection_client))
    /// and revocation (`POST /auth/revoke`, RFC 7009: anyone presenting the token), for
    /// other services. Merge it inside the layer (introspection needs the caller's
    /// token). See [`Routes::oauth_router`](crate::routes::Routes::oauth_router).
    #[cfg(feature = "routes")]
    pub fn oauth_routes<St: Clone + Send + Sync + 'static>(&self) -> axum::Router<St> {
        self.routes.oauth_router()
    }

    /// A guard for routes that need every scope in `scopes` (space-separated): put it on
    /// the route's method router, `post(handler).route_layer(guard)`, to cover that
    /// route alone. An error if a scope cannot be granted by this service (see
    /// [`RequireScope::new`]).
    pub fn require_scope(&self, scopes: &str) -> Result<RequireScope, InvalidRequirement> {
        RequireScope::new(&self.core, scopes)
    }

    /// The core service (which this handle also dereferences to).
    pub fn core(&self) -> &tokenauth_core::TokenAuth<S, D> {
        &self.core
    }

    /// The upkeep's schedule ([`TokenAuthBuilder::maintenance`]).
    pub fn maintenance(&self) -> Maintenance {
        self.maintenance
    }
}

/// The configuration of a [`TokenAuth`], consumed by [`build`](Self::build).
///
/// The defaults: tokens live 30 days, with no idle timeout; `Token` and `Bearer`
/// keywords, with RFC 6750's challenges for `Bearer` clients ([`Challenge::Auto`], realm
/// `api`); a new token per login and at most
/// [`DEFAULT_MAX_TOKENS_PER_USER`](tokenauth_core::DEFAULT_MAX_TOKENS_PER_USER) live
/// tokens per user; no scopes; no cache; the login throttle
/// ([`LoginThrottle::default`](crate::routes::LoginThrottle::default)); the peer's
/// address as the client's ([`peer_ip`]); the upkeep on [`Maintenance::default`]'s
/// schedule. Each setter may be called in any order.
#[must_use = "a builder does nothing until `build` is called"]
pub struct TokenAuthBuilder<S, D> {
    core: tokenauth_core::TokenAuth<S, D>,
    #[cfg(feature = "routes")]
    throttle: crate::routes::LoginThrottle,
    #[cfg(feature = "routes")]
    introspection_client: Option<crate::routes::IntrospectionClient>,
    client_ip: ClientIp,
    maintenance: Maintenance,
    cache: Option<AuthCache>,
    bus: Option<BusHookup>,
}

/// Starts serving a revocation bus once a runtime is certain (at `build`): its
/// publisher, and the cache following it if there is one.
type BusHookup = Box<dyn FnOnce(Option<&AuthCache>) -> (Publisher, Option<Following>) + Send>;

impl<S, D> fmt::Debug for TokenAuthBuilder<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthBuilder")
            .field("core", &self.core)
            .field("maintenance", &self.maintenance)
            .field("cache", &self.cache.is_some())
            .field("bus", &self.bus.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore, D: UserDirectory> TokenAuthBuilder<S, D> {
    /// Continues the configuration of a core service built elsewhere (its settings are
    /// kept).
    pub fn from_core(core: tokenauth_core::TokenAuth<S, D>) -> Self {
        Self {
            core,
            #[cfg(feature = "routes")]
            throttle: crate::routes::LoginThrottle::default(),
            #[cfg(feature = "routes")]
            introspection_client: None,
            client_ip: Arc::new(peer_ip),
            maintenance: Maintenance::default(),
            cache: None,
            bus: None,
        }
    }

    fn map_core(
        mut self,
        f: impl FnOnce(tokenauth_core::TokenAuth<S, D>) -> tokenauth_core::TokenAuth<S, D>,
    ) -> Self {
        self.core = f(self.core);
        self
    }

    /// How long tokens live (default 30 days); also the longest lifespan a client may
    /// ask for. See [`tokenauth_core::TokenAuth::with_lifespan`].
    pub fn lifespan(self, lifespan: Lifespan) -> Self {
        self.map_core(|core| core.with_lifespan(lifespan))
    }

    /// Sliding expiry: a token unused for `idle` expires before its lifespan ends
    /// (default none). See [`tokenauth_core::TokenAuth::with_idle_timeout`].
    pub fn idle_timeout(self, idle: Lifespan) -> Self {
        self.map_core(|core| core.with_idle_timeout(Some(idle)))
    }

    /// The scopes tokens may carry (default none). Once there are scopes, the session
    /// routes require the session scope too (`sessions`, granted automatically; see
    /// [`session_scope`](Self::session_scope)).
    pub fn scopes(self, scopes: Scopes) -> Self {
        self.map_core(|core| core.with_scopes(scopes))
    }

    /// The scope the session routes require (`None`: none), instead of `sessions`. See
    /// [`tokenauth_core::TokenAuth::with_session_scope`].
    pub fn session_scope(self, scope: Option<Scopes>) -> Self {
        self.map_core(|core| core.with_session_scope(scope))
    }

    /// What a login does when the user already has tokens (default: a new token each
    /// time).
    pub fn obtain_policy(self, policy: ObtainPolicy) -> Self {
        self.map_core(|core| core.with_obtain_policy(policy))
    }

    /// The per-user limit on live tokens (`None`: no limit).
    pub fn token_limit(self, limit: Option<TokenLimit>) -> Self {
        self.map_core(|core| core.with_token_limit(limit))
    }

    /// The token format (prefix; see [`TokenFormat`]).
    pub fn format(self, format: TokenFormat) -> Self {
        self.map_core(|core| core.with_format(format))
    }

    /// The keywords accepted in `Authorization` (default `Token` and `Bearer`); the first
    /// is the one named in challenges.
    pub fn keywords<K: Into<String>>(self, keywords: impl IntoIterator<Item = K>) -> Self {
        self.map_core(|core| core.with_keywords(keywords))
    }

    /// Which challenges refusals carry (default [`Challenge::Auto`]: RFC 6750's
    /// `Bearer realm="api", error=...` to clients that send `Bearer` credentials, DRF's
    /// `Token` to the others). See [`Challenge`].
    pub fn challenge(self, challenge: Challenge) -> Self {
        self.map_core(|core| core.with_challenge(challenge))
    }

    /// The `realm` of RFC 6750 challenges (default `api`).
    pub fn realm(self, realm: Realm) -> Self {
        self.map_core(|core| core.with_realm(realm))
    }

    /// The password hasher (default argon2id with OWASP's parameters).
    pub fn password_hasher(self, hasher: PasswordHasher) -> Self {
        self.map_core(|core| core.with_password_hasher(hasher))
    }

    /// Told of every login, logout and refusal (see [`EventHook`]).
    pub fn event_hook(self, hook: impl EventHook) -> Self {
        self.map_core(|core| core.with_event_hook(hook))
    }

    /// Told of every revocation, after the store committed it.
    pub fn revocation_listener(self, listener: impl RevocationListener) -> Self {
        self.map_core(|core| core.with_revocation_listener(listener))
    }

    /// The clock (default the system's); tests pass one they move.
    pub fn clock(self, clock: impl Clock) -> Self {
        self.map_core(|core| core.with_clock(clock))
    }

    /// The login throttle, per username and per client address (default
    /// [`LoginThrottle::default`](crate::routes::LoginThrottle::default)).
    #[cfg(feature = "routes")]
    pub fn login_throttle(mut self, throttle: crate::routes::LoginThrottle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Lets `client` call the introspection endpoint with HTTP Basic (default: only
    /// tokens carrying the `introspect` scope may; see [`TokenAuth::oauth_routes`]).
    #[cfg(feature = "routes")]
    pub fn introspection_client(mut self, client: crate::routes::IntrospectionClient) -> Self {
        self.introspection_client = Some(client);
        self
    }

    /// How to find a request's client address, for the layer, the login throttle and
    /// the login events (default [`peer_ip`]; see [`TrustedProxies`](crate::TrustedProxies)
    /// behind a reverse proxy).
    pub fn client_ip(mut self, client_ip: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static) -> Self {
        self.client_ip = Arc::new(client_ip);
        self
    }

    /// The background upkeep's schedule, for [`TokenAuth::serve`] (default
    /// [`Maintenance::default`]).
    pub fn maintenance(mut self, schedule: Maintenance) -> Self {
        self.maintenance = schedule;
        self
    }

    /// Publishes this service's revocations on `bus`, and, with a [cache](Self::cache),
    /// applies those of other processes to it, so that a logout anywhere ends the token
    /// everywhere at once (and [`user_changed`](tokenauth_core::TokenAuth::user_changed)
    /// reaches other processes).
    ///
    /// # Panics
    ///
    /// [`build`](Self::build) panics outside a Tokio runtime when a bus is set (the bus
    /// is served by tasks).
    pub fn revocation_bus<B: RevocationBus>(mut self, bus: B) -> Self {
        self.bus = Some(Box::new(move |cache: Option<&AuthCache>| {
            let following = cache.map(|cache| cache.follow(&bus));
            (Publisher::start(bus), following)
        }));
        self
    }

    /// Keeps valid tokens and their users in memory, in front of the store and the
    /// directory (see [`AuthCache`]). Revocations made through this service reach it at
    /// once; those made by other processes need a [bus](Self::revocation_bus) or wait for
    /// the cache's TTL.
    pub fn cache(self, cache: AuthCache) -> TokenAuthBuilder<Cached<S>, Cached<D>> {
        TokenAuthBuilder {
            core: self.core.with_cache(cache.clone()),
            #[cfg(feature = "routes")]
            throttle: self.throttle,
            #[cfg(feature = "routes")]
            introspection_client: self.introspection_client,
            client_ip: self.client_ip,
            maintenance: self.maintenance,
            cache: Some(cache),
            bus: self.bus,
        }
    }

    /// The service, its layer and its routes, sharing this configuration.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, when a [revocation bus](Self::revocation_bus) is set.
    pub fn build(self) -> TokenAuth<S, D> {
        let mut core = self.core;
        let mut following = None;
        if let Some(hookup) = self.bus {
            let (publisher, follows) = hookup(self.cache.as_ref());
            core = core.with_revocation_listener(publisher);
            following = follows;
        }
        let client_ip = self.client_ip;
        let layer_ip = Arc::clone(&client_ip);
        let layer = TokenAuthLayer::new(core.clone()).with_client_ip(move |parts| layer_ip(parts));
        #[cfg(feature = "routes")]
        let mut routes = crate::routes::Routes::new(core.clone())
            .with_login_throttle(self.throttle)
            .with_client_ip(move |parts| client_ip(parts));
        #[cfg(feature = "routes")]
        if let Some(client) = self.introspection_client {
            routes = routes.with_introspection_client(client);
        }
        TokenAuth {
            core,
            layer,
            #[cfg(feature = "routes")]
            routes,
            maintenance: self.maintenance,
            _following: following.map(Arc::new),
        }
    }
}

#[cfg(feature = "serve")]
impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Serves `app` on `listener` until Ctrl-C (or, on Unix, SIGTERM), with the
    /// background upkeep ([`maintenance`](TokenAuthBuilder::maintenance)): last-used
    /// times written every minute, long-expired tokens purged. Once the server has
    /// drained, the upkeep writes the last uses it saw, so stopping loses none.
    ///
    /// Each request's peer address is passed to the layer (axum's `ConnectInfo`), which
    /// records it as the token's last client address.
    pub async fn serve(&self, listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, app, shutdown_signal()).await
    }

    /// [`serve`](Self::serve), stopping when `signal` completes.
    pub async fn serve_with_shutdown(
        &self,
        listener: tokio::net::TcpListener,
        app: axum::Router,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let upkeep = self.core.start_maintenance(self.maintenance);
        let make_service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, make_service)
            .with_graceful_shutdown(signal)
            .await;
        // After the server, even one that failed: the uses it saw are written.
        let stopped = upkeep.shutdown().await.map_err(std::io::Error::other);
        served.and(stopped)
    }
}

/// Ctrl-C, or SIGTERM (what `docker stop` and systemd send) on Unix.
#[cfg(feature = "serve")]
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed: never stop on this one.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
