//! The tokenauth service: the `tokenauth` binary's library.
//!
//! It serves expiring API tokens over HTTP ([`app()`]), on SQLite by default or on
//! PostgreSQL (a `postgres://` database URL), with the tokens optionally in Redis or a
//! Redis Cluster (`--token-store`, [`tokenauth_redis::RedisStore`]), and
//! administers users and tokens from the command line ([`cli`]). The binary only parses
//! arguments and calls [`cli::run`].
//!
//! Tests and embedders start the server on a listener of their own with
//! [`serve_with_listener`]:
//!
//! ```no_run
//! use tokenauth::TokenAuth;
//! use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = tokenauth_sqlx::sqlite::connect("sqlite://tokenauth.db").await?;
//! let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on http://{}", listener.local_addr()?);
//! let upkeep = tokenauth_core::Maintenance::default();
//! let limits = tokenauth_server::ServeConfig::default();
//! tokenauth_server::serve_with_listener(listener, auth, upkeep, &limits, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod app;
pub mod cli;
mod parse_errors;
mod per_ip;
pub mod serve;
mod upkeep;
mod write_deadline;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;

use tokenauth::TokenAuth;
use tokenauth_core::{Maintenance, TokenStore, UserDirectory};
use tokio::net::TcpListener;

pub use app::{LoginOptions, app, app_with};
pub use serve::{Draining, ServeConfig, serve_router};

/// Serves [`app()`] on `listener` within `config`'s limits ([`serve_router`]) until
/// `shutdown` completes, then drains (`/readyz` answers 503 while requests are still
/// served) and finishes the requests in flight (until the shutdown deadline). Beside it runs the upkeep ([`TokenAuth::run_maintenance`], restarted if
/// it panics): last-used times are written every refresh interval and once more after
/// the last connection is closed, and long-expired tokens are purged on
/// `maintenance`'s schedule.
pub async fn serve_with_listener<S, D>(
    listener: TcpListener,
    auth: TokenAuth<S, D>,
    maintenance: Maintenance,
    config: &ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    S: TokenStore,
    D: UserDirectory,
{
    serve_app(
        listener,
        auth,
        &LoginOptions::default(),
        maintenance,
        config,
        shutdown,
    )
    .await
}

/// [`serve_with_listener`] with the login defences of `options` ([`app_with`]).
pub async fn serve_app<S, D>(
    listener: TcpListener,
    auth: TokenAuth<S, D>,
    options: &LoginOptions,
    maintenance: Maintenance,
    config: &ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    S: TokenStore,
    D: UserDirectory,
{
    let upkeep = upkeep::Upkeep::start(auth.clone(), maintenance);
    let app = app_with(auth, options);
    let served = serve::serve_exempting(listener, app, config, &options.proxies, shutdown).await;
    // After the last connection, even one dropped at the deadline: the final write.
    upkeep.shutdown().await;
    served
}

/// Binds `addr`: the first step of [`serve()`], apart so that a server that cannot take
/// its address fails before it changes anything.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, cli::CliError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| cli::CliError::Bind { addr, source })
}

/// Prints `listening on http://IP:PORT` (the real port, so port 0 works) to `out`, and
/// serves on `listener` until `shutdown`.
pub async fn serve<S, D>(
    auth: TokenAuth<S, D>,
    options: &LoginOptions,
    listener: TcpListener,
    maintenance: Maintenance,
    config: &ServeConfig,
    out: &mut impl Write,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), cli::CliError>
where
    S: TokenStore,
    D: UserDirectory,
{
    let local = listener.local_addr()?;
    writeln!(out, "listening on http://{local}")?;
    out.flush()?;
    tracing::info!(%local, lifespan = %auth.policy().lifespan(), "serving");
    serve_app(listener, auth, options, maintenance, config, shutdown).await?;
    tracing::info!("shut down");
    Ok(())
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

/// The README's examples, compiled as doc-tests so that they keep working.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
