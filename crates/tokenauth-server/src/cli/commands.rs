//! The one runner of every command, generic over the backend [`backend::open`] opened.

use std::io::{BufRead, Write};

use tokenauth::core::TokenAuth;
use tokenauth::routes::IntrospectionClient;
use tokenauth_core::store::{RevocationBus, TokenImport, TokenStore, UserDirectory, UserImport};
use tokenauth_core::{AuthCache, BackendError, Cached, Lifespan, Maintenance, Publisher, Scopes};
use tokenauth_django::hashers::DjangoHashers;

use super::args::{MetricsArgs, Switch};
use super::backend::{Opened, Runner};
use super::policy::{ImportedTokens, Partial, PolicyStore};
use super::{CacheArgs, CliError, Command, DjangoModelArgs, Io, ServeArgs, TokenArgs, TokenCommand};
use super::{copy, import, import_django, tokens, users};
use crate::Metrics;

/// Runs commands with the standard streams of `io`.
pub(super) struct Commands<'a, R, W> {
    pub(super) io: &'a mut Io<R, W>,
    /// The Django user model and token package `import-django` reads.
    pub(super) django: DjangoModelArgs,
}

impl<R: BufRead, W: Write> Runner for Commands<'_, R, W> {
    /// With a bus, what the command ends is published on it (for the caches of every
    /// server) unless the tables log it themselves, and a serving cache follows it.
    async fn run<S, D, P, B>(self, opened: Opened<S, D, P, B>, command: Command) -> Result<(), CliError>
    where
        S: TokenImport,
        D: UserImport,
        P: PolicyStore,
        B: RevocationBus + Clone,
    {
        if let Some(settings) = &opened.settings
            && !matches!(command, Command::Serve(_) | Command::Migrate)
        {
            let recorded = settings.token_location().await.map_err(BackendError::new)?;
            opened.location.check(recorded.as_deref())?;
        }
        let publisher = (opened.bus.as_ref())
            .filter(|bus| bus.publish)
            .map(|bus| Publisher::start(bus.bus.clone()));
        let opened = match &publisher {
            Some(publisher) => Opened {
                auth: opened.auth.with_revocation_listener(publisher.clone()),
                ..opened
            },
            None => opened,
        };
        let result = opened.run_command(command, self.io, &self.django).await;
        if let Some(publisher) = publisher {
            // Before the process exits: the servers' caches must hear what ended.
            publisher.flush().await;
        }
        result
    }
}

/// The commands on an opened backend.
impl<S, D, P, B> Opened<S, D, P, B>
where
    S: TokenImport,
    D: UserImport,
    P: PolicyStore,
    B: RevocationBus + Clone,
{
    async fn run_command<R: BufRead, W: Write>(
        self,
        command: Command,
        io: &mut Io<R, W>,
        django: &DjangoModelArgs,
    ) -> Result<(), CliError> {
        match command {
            Command::Migrate => writeln!(io.stdout, "database is up to date")?,
            Command::Serve(args) => self.serve(&args, io).await?,
            Command::User(command) => users::run(command, &self.auth, io).await?,
            Command::Token(args) => self.token(args, io).await?,
            Command::Import(args) => {
                // Generated tokens carry what a login would give: the stored policy's scopes.
                let given = Partial::default();
                let stored = self.stored(&given).await?;
                let policy = given.resolve(stored);
                import::run(args, &policy.apply(self.auth, Lifespan::DEFAULT), io).await?;
            }
            Command::ImportDjango(args) => {
                let settings = self
                    .settings
                    .as_ref()
                    .expect("the refusals admit bulk commands only where a policy is kept");
                import_django::run(
                    args,
                    &django.model(),
                    django.django_tokens,
                    &self.auth,
                    settings,
                    io,
                )
                .await?;
            }
            // Run before any `--database` is opened (`cli::run`); here only if refused.
            Command::CopyDatabase(args) => copy::run(&args, io).await?,
            // Run before any backend is opened (`cli::run`): nothing here.
            Command::Completions { .. }
            | Command::Man { .. }
            | Command::Healthcheck(_)
            | Command::Config(_) => {}
        }
        Ok(())
    }

    /// The settings a command was not given: those the last `serve` stored, or, where the
    /// backend keeps no policy, those its store fixes.
    async fn stored(&self, given: &Partial) -> Result<Partial, CliError> {
        match &self.settings {
            Some(settings) => Partial::load(settings, given).await,
            None => Ok(Partial::fixed_by(&self.holds)),
        }
    }

    async fn serve<R, W: Write>(self, args: &ServeArgs, io: &mut Io<R, W>) -> Result<(), CliError> {
        // Bound first: a second server started by mistake on a taken address must not
        // overwrite the running one's policy.
        let listener = crate::bind(args.bind.resolve().await?).await?;
        // Before anything is stored: a server that cannot start changes nothing.
        let introspection_client = introspection_client(args)?;
        let metrics = MetricsServer::bind(&args.metrics).await?;
        // What serve is given, else the defaults (or what the store fixes); stored for the
        // token commands.
        let given = Partial::given(Some(args.lifespan), Some(args.purge_grace), &args.policy);
        let mut policy = given.resolve(Partial::fixed_by(&self.holds));
        let session_scope = args
            .session_scope()
            .map(|scope| Scopes::parse(&scope))
            .transpose()?;
        if let Some(scope) = &session_scope {
            // Stored with the policy, so that `token create` grants it as serve does.
            policy.grant(scope)?;
        }
        if let Some(settings) = &self.settings {
            policy.store(settings).await?;
            // Where the tokens are, so that every command uses (or refuses) the same.
            settings
                .set_token_location(&self.location.to_string())
                .await
                .map_err(BackendError::new)?;
        }
        // After `import-django`, the DRF keys or knox tokens it stored (as digests) work
        // here.
        let imported = self.imported_tokens().await?;
        let auth = self.auth;
        auth.store()
            .retain(policy.retention(), true)
            .await
            .map_err(BackendError::new)?;
        let format = imported.accepted_by(auth.format().clone());
        let auth = auth.with_format(format);
        // ...and its users' Django hashes, until re-hashed, cost about ten times
        // argon2id's: unknown users (and every failed login) must cost as much, or
        // response times tell which usernames exist.
        let auth = if imported.any() {
            let hasher = auth.password_hasher().clone().with_dummy_of(DjangoHashers::new());
            auth.with_password_hasher(hasher)
        } else {
            auth
        };
        let maintenance = Maintenance {
            purge_interval: self.declared.purges.then_some(args.purge_interval),
            purge_grace: policy.purge_grace.as_duration(),
        };
        let auth = policy
            .apply(auth, args.policy.refresh_interval)
            .with_session_scope(session_scope)
            .with_challenge(args.challenge)
            .with_realm(args.realm.clone())
            .with_backend_timeout(Some(args.backend_timeout()));
        let counted = metrics.as_ref().map(|server| &server.metrics);
        let auth = match counted {
            Some(metrics) => auth.with_event_hook(metrics.hook()),
            None => auth,
        }
        .map_backends(
            |store| Metrics::measure(counted, store),
            |users| Metrics::measure(counted, users),
        );
        let cache_on = args.cache.is_on(self.declared.unsignalled_writers);
        let (auth, _following) =
            with_cache(auth, cache_on, &args.cache, self.bus.as_ref().map(|bus| &bus.bus));
        if let Some(metrics) = counted {
            metrics.watch_hasher(auth.password_hasher());
            if cache_on {
                metrics.watch_cache(auth.store().cache());
            }
            if let Some(bus) = &self.bus {
                metrics.watch_bus(bus.bus.connected());
            }
        }
        let options = crate::ServeOptions {
            login: crate::LoginOptions {
                throttle: tokenauth::routes::LoginThrottle::new(args.login_throttle),
                proxies: args.trusted_proxies.clone(),
                verify: args.verify.options(),
                introspection_client,
            },
            maintenance,
            limits: args.limits.clone(),
            cors: args.cors_origins.clone(),
            metrics: counted.cloned(),
            metrics_elsewhere: metrics.as_ref().is_some_and(|server| server.listener.is_some()),
        };
        // Installed before `listening on` is printed: a signal right after it must stop
        // the server gracefully, not kill it.
        let shutdown = crate::shutdown_signal();
        // The real port, so that port 0 works.
        let local = listener.local_addr()?;
        writeln!(io.stdout, "listening on http://{local}")?;
        let metrics = metrics.map(MetricsServer::start).transpose()?.flatten();
        if let Some((addr, _)) = &metrics {
            writeln!(io.stdout, "metrics on http://{addr}/metrics")?;
        }
        io.stdout.flush()?;
        tracing::info!(%local, lifespan = %auth.policy().lifespan(), "serving");
        let served = crate::serve(listener, auth, &options, shutdown).await;
        if let Some((_, stop)) = metrics {
            stop.finish().await;
        }
        served?;
        tracing::info!("shut down");
        Ok(())
    }

    async fn token<R: BufRead, W: Write>(self, args: TokenArgs, io: &mut Io<R, W>) -> Result<(), CliError> {
        let purge_grace = match args.command {
            TokenCommand::Purge { older_than } => older_than,
            _ => None,
        };
        let given = Partial::given(args.server_lifespan, purge_grace, &args.policy);
        let stored = self.stored(&given).await?;
        let policy = given.resolve(stored);
        self.auth
            .store()
            .retain(policy.retention(), false)
            .await
            .map_err(BackendError::new)?;
        let imported = self.imported_tokens().await?;
        let auth = policy.apply(self.auth, args.policy.refresh_interval);
        // A leaked DRF key or knox token that `import-django` brought is revoked by its
        // value too.
        let format = imported.accepted_by(auth.format().clone());
        tokens::run(args.command, &auth.with_format(format), &policy, io).await
    }

    /// Which tokens `import-django` stored (as digests) here: they then work as
    /// tokens.
    async fn imported_tokens(&self) -> Result<ImportedTokens, CliError> {
        Ok(match &self.settings {
            Some(settings) => settings.imported_tokens().await.map_err(BackendError::new)?,
            None => ImportedTokens::default(),
        })
    }
}

/// The introspection client of `--introspection-client-id` and
/// `--introspection-client-secret-file` (clap requires both or neither), its secret
/// read from the first line of the file.
fn introspection_client(args: &ServeArgs) -> Result<Option<IntrospectionClient>, CliError> {
    let (Some(id), Some(path)) = (
        &args.introspection_client_id,
        &args.introspection_client_secret_file,
    ) else {
        return Ok(None);
    };
    let contents = std::fs::read_to_string(path).map_err(|source| CliError::File {
        path: path.clone(),
        source,
    })?;
    let secret = contents.lines().next().unwrap_or_default();
    // The error names the rule, never the secret.
    IntrospectionClient::new(id.clone(), secret)
        .map(Some)
        .map_err(|error| CliError::Options(format!("{}: {error}", path.display())))
}

/// Puts the cache `args` size in front of `auth` if it is `on`, following `bus` if
/// there is one; keep the returned handle while serving. Off, the cache is a disabled
/// one, which passes every lookup on: one service type either way.
fn with_cache<S: TokenStore, D: UserDirectory, B: RevocationBus>(
    auth: TokenAuth<S, D>,
    on: bool,
    args: &CacheArgs,
    bus: Option<&B>,
) -> (TokenAuth<Cached<S>, Cached<D>>, Option<tokenauth_core::Following>) {
    if !on {
        return (auth.with_cache(AuthCache::disabled()), None);
    }
    let cache = AuthCache::new(args.cache_size.get()).with_ttl(args.cache_ttl.as_duration());
    let following = bus.map(|bus| cache.follow(bus));
    if following.is_none() {
        tracing::info!(
            ttl = %args.cache_ttl,
            "cache on without a revocation bus: changes made by other processes are seen after the TTL"
        );
    }
    (auth.with_cache(cache), following)
}

/// `serve`'s metrics, and the listener of their own if `--metrics-bind` gives one.
struct MetricsServer {
    metrics: Metrics,
    listener: Option<tokio::net::TcpListener>,
}

/// The metrics listener's task, and what stops it.
struct Stop {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// The metrics `args` ask for (none with `--metrics off`), their listener bound.
    async fn bind(args: &MetricsArgs) -> Result<Option<Self>, CliError> {
        if args.switch == Switch::Off {
            return Ok(None);
        }
        let listener = match &args.metrics_bind {
            Some(addr) => Some(crate::bind(addr.resolve().await?).await?),
            None => None,
        };
        Ok(Some(Self {
            metrics: Metrics::new(),
            listener,
        }))
    }

    /// Serves `/metrics` on the listener of their own, if any: its address, and what
    /// stops it (after the main server, so that the last scrapes see the drain).
    fn start(self) -> Result<Option<(std::net::SocketAddr, Stop)>, CliError> {
        let Some(listener) = self.listener else {
            return Ok(None);
        };
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = self.metrics.router().fallback(crate::app::not_found);
        let task = tokio::spawn(async move {
            let limits = crate::ServeConfig {
                drain: std::time::Duration::ZERO,
                ..crate::ServeConfig::default()
            };
            let proxies = tokenauth::TrustedProxies::none();
            crate::serve_router(listener, router, &limits, &proxies, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Some((addr, Stop { stop, task })))
    }
}

impl Stop {
    async fn finish(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the metrics listener failed"),
            Err(error) => tracing::error!(%error, "the metrics listener's task failed"),
        }
    }
}
