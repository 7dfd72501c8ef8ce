//! The free functions: each builds one router or method router of [`Routes::new`] with
//! the defaults, for apps that change none.

use axum::Router;
use axum::routing::{MethodRouter, get};
use tokenauth_core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserDirectory};

use super::{Routes, VerifyOptions, method_not_allowed, ready};
// Named only by the doc comments' links.
#[cfg(doc)]
use super::{MAX_NAME_CHARS, VERIFY_PATH};
#[cfg(doc)]
use crate::layer::{TokenAuthLayer, peer_ip};
#[cfg(doc)]
use crate::scope::RequireScope;

/// A router serving both the obtain endpoint ([`obtain_router`]) and the session routes
/// ([`session_router`]), to merge into your app's router, before or after its
/// [`TokenAuthLayer`] alike (see the [module docs](super)).
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
