//! What a backend declares it can do, and the one check of a command against it.
//!
//! A backend's store declares what its rows hold ([`Capabilities`]: DRF's table holds
//! one key per user, no scopes, no use...); the backend as a whole declares the rest
//! ([`Declaration`]: migrations, a policy store, a separate token store, a cache, the
//! bulk commands). [`check`] refuses, before the command runs, every option and command
//! they exclude: an option a backend cannot honour is an error, never ignored.

use tokenauth_core::store::Capabilities;

use super::args::TOKEN_STORE_PREFIX;
use super::{Cli, CliError, Command, Policy, Schema, ServeArgs, TokenArgs, TokenCommand, UserCommand};

/// What a backend as a whole declares, beside its store's [`Capabilities`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Declaration {
    /// How refusals name the backend (`not with NAME: ...`).
    pub(super) name: &'static str,
    /// Whether `migrate` applies: tokenauth migrates its own schema, never another
    /// program's.
    pub(super) migrates: bool,
    /// Whether the database keeps the serving policy (`serve` stores it, the `token`
    /// commands read it); without, they run on the options given and the defaults.
    pub(super) keeps_policy: bool,
    /// Whether the tokens may be kept elsewhere (`--token-store`).
    pub(super) separate_token_store: bool,
    /// Whether other programs write its tables without a revocation signal, so that a
    /// cache would go on serving what they ended.
    pub(super) unsignalled_writers: bool,
    /// Whether the bulk commands (`import`, `import-django`, `copy-database`) apply.
    pub(super) bulk_writes: bool,
    /// Whether `serve` purges long-expired tokens in the background.
    pub(super) purges: bool,
    /// Why each refusal, in the backend's words.
    pub(super) reasons: Reasons,
}

/// The reason each refusal gives, after `not with NAME: `.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reasons {
    pub(super) migrate: &'static str,
    pub(super) token_store: &'static str,
    pub(super) cache: &'static str,
    pub(super) bulk: &'static str,
    /// `--idle-timeout`, without [`Capabilities::usage`].
    pub(super) idle_timeout: &'static str,
    /// `--scopes`, without [`Capabilities::scopes`].
    pub(super) scopes: &'static str,
    /// `--session-scope`, without [`Capabilities::scopes`].
    pub(super) session_scope: &'static str,
    /// `--obtain-policy`, without [`Capabilities::several_tokens_per_user`].
    pub(super) obtain_policy: &'static str,
    /// `--max-tokens-per-user` and `--on-limit`, likewise.
    pub(super) token_limit: &'static str,
    /// `token create`'s `--name`, `--lifespan` and `--scope`, without
    /// [`Capabilities::names`], [`Capabilities::own_lifespans`] or
    /// [`Capabilities::scopes`].
    pub(super) token_fields: &'static str,
}

impl Declaration {
    /// tokenauth's own schema: everything.
    pub(super) const TOKENAUTH: Self = Self {
        name: "--schema tokenauth",
        migrates: true,
        keeps_policy: true,
        separate_token_store: true,
        unsignalled_writers: false,
        bulk_writes: true,
        purges: true,
        // Never shown: nothing is refused.
        reasons: Reasons {
            migrate: "",
            token_store: "",
            cache: "",
            bulk: "",
            idle_timeout: "",
            scopes: "",
            session_scope: "",
            obtain_policy: "",
            token_limit: "",
            token_fields: "",
        },
    };

    /// A Django/DRF database's own tables, shared with the Django application.
    pub(super) const DJANGO: Self = Self {
        name: "--schema django",
        migrates: false,
        // Django's database gets no table of tokenauth's.
        keeps_policy: false,
        separate_token_store: false,
        unsignalled_writers: true,
        bulk_writes: false,
        // Like the original, expired tokens stay until their user logs in again (and
        // answer "Token has expired" meanwhile).
        purges: false,
        reasons: Reasons {
            migrate: "tokenauth never migrates a Django database: its schema belongs to Django's `migrate`",
            token_store: "--token-store, --token-store-prefix and --token-store-ca: the tokens are DRF's rows in authtoken_token",
            cache: "--cache: Django's own changes (a deleted token, a new password, a deactivated user) would reach no cache",
            bulk: "import, import-django and copy-database write tokenauth's own schema: give its database, without --schema django",
            idle_timeout: "--idle-timeout: DRF's table records no use",
            scopes: "--scopes: DRF's tokens carry no scopes",
            session_scope: "--session-scope: DRF's tokens carry no scopes",
            obtain_policy: "--obtain-policy: DRF's is fixed (the valid key again, one per user)",
            token_limit: "--max-tokens-per-user and --on-limit: DRF keeps one token per user",
            token_fields: "--name, --lifespan and --scope: DRF's table has no column for them",
        },
    };
}

impl Declaration {
    /// A Django database's own tables with django-rest-knox's tokens: as DRF's, but
    /// several tokens per user, each with an expiry of its own.
    pub(super) const DJANGO_KNOX: Self = Self {
        name: "--schema django --django-tokens knox",
        reasons: Reasons {
            token_store: "--token-store, --token-store-prefix and --token-store-ca: the tokens are knox's rows in knox_authtoken",
            idle_timeout: "--idle-timeout: knox's table records no use",
            scopes: "--scopes: knox's tokens carry no scopes",
            session_scope: "--session-scope: knox's tokens carry no scopes",
            token_fields: "--name and --scope: knox's table has no column for them",
            ..Self::DJANGO.reasons
        },
        ..Self::DJANGO
    };
}

/// Refuses what `cli` asks that the backend (`declared`, with a store holding
/// `holds`) cannot do; the first refusal found, in the order of the command line.
pub(super) fn check(cli: &Cli, declared: &Declaration, holds: &Capabilities) -> Result<(), CliError> {
    let reasons = &declared.reasons;
    // A prefix is refused when it is not the default (whether it was given cannot be told).
    let token_store = cli.token_store.is_some()
        || cli.token_store_ca.is_some()
        || cli.token_store_prefix != TOKEN_STORE_PREFIX;
    let mut refused = vec![(token_store && !declared.separate_token_store, reasons.token_store)];
    match &cli.command {
        Command::Migrate => refused.push((!declared.migrates, reasons.migrate)),
        Command::Import(_) | Command::ImportDjango(_) | Command::CopyDatabase(_) => {
            refused.push((!declared.bulk_writes, reasons.bulk));
        }
        Command::Serve(args) => refused.extend(serve(args, declared, holds)),
        Command::Token(args) => refused.extend(token(args, holds, reasons)),
        Command::User(command) => refused.push((
            cli.schema == Schema::Django
                && cli.django.model().active_field().is_none()
                && deactivates(command),
            NO_ACTIVE_FIELD,
        )),
        // No backend is opened for them.
        Command::Completions { .. } | Command::Man { .. } | Command::Healthcheck(_) | Command::Config(_) => {}
    }
    match refused.into_iter().find(|(refuse, _)| *refuse) {
        Some((_, what)) => Err(CliError::NotWith {
            backend: declared.name,
            what,
        }),
        None => Ok(()),
    }
}

/// `user deactivate` and `user add --inactive` on a Django user model without an
/// active flag (`--django-active-field none`).
const NO_ACTIVE_FIELD: &str = "user deactivate and user add --inactive: the user model has no active flag \
     (--django-active-field none): every user is active, and none can be deactivated";

/// Whether `command` makes a user inactive.
fn deactivates(command: &UserCommand) -> bool {
    matches!(
        command,
        UserCommand::Deactivate { .. } | UserCommand::Add { inactive: true, .. }
    )
}

/// The refusals of `serve`'s options.
fn serve(args: &ServeArgs, declared: &Declaration, holds: &Capabilities) -> Vec<(bool, &'static str)> {
    let reasons = &declared.reasons;
    let mut refused = policy(&args.policy, holds, reasons);
    refused.extend([
        (
            args.cache.enabled == Some(true) && declared.unsignalled_writers,
            reasons.cache,
        ),
        (
            args.session_scope().is_some() && !holds.scopes,
            reasons.session_scope,
        ),
    ]);
    refused
}

/// The refusals of a `token` command's options.
fn token(args: &TokenArgs, holds: &Capabilities, reasons: &Reasons) -> Vec<(bool, &'static str)> {
    let mut refused = policy(&args.policy, holds, reasons);
    if let TokenCommand::Create {
        name,
        lifespan,
        scope,
        ..
    } = &args.command
    {
        let unheld = (name.is_some() && !holds.names)
            || (lifespan.is_some() && !holds.own_lifespans)
            || (!scope.is_empty() && !holds.scopes);
        refused.push((unheld, reasons.token_fields));
    }
    refused
}

/// The refusals of the policy options `serve` and the `token` commands share.
fn policy(policy: &Policy, holds: &Capabilities, reasons: &Reasons) -> Vec<(bool, &'static str)> {
    // A store of one token per user fixes the obtain policy and the limit.
    let one_per_user = !holds.several_tokens_per_user;
    vec![
        (
            policy.idle_timeout.is_some() && !holds.usage,
            reasons.idle_timeout,
        ),
        (policy.scopes.is_some() && !holds.scopes, reasons.scopes),
        (
            policy.obtain_policy.is_some() && one_per_user,
            reasons.obtain_policy,
        ),
        (
            (policy.max_tokens_per_user.is_some() || policy.on_limit.is_some()) && one_per_user,
            reasons.token_limit,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_commands_apply_only_where_a_policy_is_kept() {
        // `import-django` records in the policy store that DRF keys were imported.
        for declared in [Declaration::TOKENAUTH, Declaration::DJANGO] {
            assert!(
                !declared.bulk_writes || declared.keeps_policy,
                "{}",
                declared.name
            );
        }
    }
}
