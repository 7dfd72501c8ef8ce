//! The tokenauth service: the `tokenauth` binary's library.
//!
//! It serves expiring API tokens over HTTP ([`app()`]), on SQLite by default or on
//! PostgreSQL (a `postgres://` database URL), with the tokens optionally in Redis or a
//! Redis Cluster (`--token-store`, [`tokenauth_redis::RedisStore`]), and
//! administers users and tokens from the command line ([`cli`]). The binary only parses
//! arguments and calls [`cli::run`].
//!
//! Tests and embedders start the server on a listener of their own with [`serve()`]:
//!
//! ```no_run
//! use tokenauth::core::TokenAuth;
//! use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = tokenauth_sqlx::sqlite::connect("sqlite://tokenauth.db").await?;
//! let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on http://{}", listener.local_addr()?);
//! let options = tokenauth_server::ServeOptions::default();
//! tokenauth_server::serve(listener, auth, &options, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod app;
pub mod cli;
pub mod cors;
pub mod logs;
pub mod metrics;
pub mod openapi;
mod parse_errors;
mod per_ip;
pub mod serve;
mod write_deadline;

use std::future::Future;
use std::net::SocketAddr;

use tokenauth::core::TokenAuth;
use tokenauth_core::Maintenance;
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokio::net::TcpListener;

pub use app::{LoginOptions, app, app_with};
pub use metrics::Metrics;
pub use serve::{Draining, ServeConfig, serve_router};

/// How [`serve()`] serves: the login defences, the upkeep's schedule, the connection
/// limits. The default is `tokenauth serve`'s defaults.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The login throttle, the trusted proxies (also exempt from the per-address
    /// connection cap) and the session scope ([`app_with`]).
    pub login: LoginOptions,
    /// When long-expired tokens are purged.
    pub maintenance: Maintenance,
    /// The connection limits: timeouts, caps, the drain and the shutdown deadline.
    pub limits: ServeConfig,
    /// The origins whose browser apps may call the API (default none: no CORS).
    pub cors: Option<cors::CorsOrigins>,
    /// The metrics in which connections are counted, served at `/metrics` unless
    /// `metrics_elsewhere` (default none: nothing counted or served). The service's own
    /// are counted by its hook and backends ([`Metrics::hook`], [`Metrics::measure`]).
    pub metrics: Option<Metrics>,
    /// Whether `/metrics` is served on a listener of its own rather than here.
    pub metrics_elsewhere: bool,
}

/// Serves [`app_with`] on `listener` within `options`' limits ([`serve_router`]) until
/// `shutdown` completes, then drains (`/readyz` answers 503 while requests are still
/// served) and finishes the requests in flight (until the shutdown deadline).
///
/// Beside it runs the upkeep ([`TokenAuth::start_maintenance`], restarted if it
/// panics): last-used times are written every refresh interval and once more after
/// the last connection is closed, and long-expired tokens are purged on `options`'
/// schedule.
pub async fn serve<S, D>(
    listener: TcpListener,
    auth: TokenAuth<S, D>,
    options: &ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    S: TokenStore,
    D: UserDirectory,
{
    let upkeep = auth.start_maintenance(options.maintenance);
    let served_metrics = options.metrics.as_ref().filter(|_| !options.metrics_elsewhere);
    let mut app = app::app_serving(auth, &options.login, served_metrics);
    if let Some(cors) = &options.cors {
        app = cors.apply(app);
    }
    let proxies = &options.login.proxies;
    let metrics = options.metrics.as_ref();
    let served = serve::serve_counted(listener, app, &options.limits, proxies, metrics, shutdown).await;
    // After the last connection, even one dropped at the deadline: the final write.
    if let Err(error) = upkeep.shutdown().await {
        tracing::error!(%error, "the upkeep supervisor failed");
    }
    served
}

/// Binds `addr`: apart from [`serve()`], so that a server that cannot take its address
/// fails before it changes anything.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, cli::CliError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| cli::CliError::Bind { addr, source })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first
/// polled: a signal that arrives between the two (say, right after `listening on` is
/// printed) must stop the server gracefully, not kill it by the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = async |signal: Option<tokio::signal::unix::Signal>| match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The library guide's examples (docs/library.md), compiled the same way.
#[doc = include_str!("../../../docs/library.md")]
#[cfg(doctest)]
pub struct LibraryGuideDoctests;
