//! The options naming Django's user model (`--schema django` and `import-django`):
//! `AUTH_USER_MODEL`'s table and fields, with Django's defaults; and the token
//! package (DRF's or django-rest-knox's) with knox's prefix.

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use tokenauth_django::{Identifier, LoginMatch, UserModel};

use crate::cli::DjangoTokens;

/// Django's user model, for `--schema django` and `import-django` (docs/django.md,
/// "Custom user model").
#[derive(Debug, Clone, Args)]
pub struct DjangoModelArgs {
    /// The table of Django's user model (`AUTH_USER_MODEL`'s `db_table`, such as
    /// `accounts_user`), for --schema django and import-django. Its primary key's type
    /// (integer, big integer, UUID) is read from the database.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_USER_TABLE",
        default_value = "auth_user",
        value_name = "TABLE",
        value_parser = identifier
    )]
    pub django_user_table: Identifier,
    /// The column users log in with: the model's USERNAME_FIELD (`email`, or any
    /// unique column), matched exactly as Django's `get_by_natural_key` matches it.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_LOGIN_FIELD",
        default_value = "username",
        value_name = "COLUMN",
        value_parser = identifier
    )]
    pub django_login_field: Identifier,
    /// How a login is compared with --django-login-field: `exact` as Django's
    /// ModelBackend (get_by_natural_key; on MySQL/MariaDB the column's collation
    /// decides), or `iexact`, case-insensitively, as a backend that looks users up
    /// with `__iexact` (for --schema django; docs/django.md, "Custom user model").
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_LOGIN_MATCH",
        default_value = "exact",
        value_name = "exact|iexact",
        value_parser = PossibleValuesParser::new(["exact", "iexact"]).map(|value| match value.as_str() {
            "iexact" => LoginMatch::CaseInsensitive,
            _ => LoginMatch::Exact,
        })
    )]
    pub django_login_match: LoginMatch,
    /// The column of the user model's active flag, or `none` for a model without one
    /// (an AbstractBaseUser whose is_active is always True): every user is then
    /// active, as Django's ModelBackend treats them, and none can be deactivated.
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_ACTIVE_FIELD",
        default_value = "is_active",
        value_name = "COLUMN|none",
        value_parser = active_field
    )]
    pub django_active_field: ActiveField,
    /// Whose tokens the Django database holds: DRF's `authtoken_token` (`drf`) or
    /// django-rest-knox's `knox_authtoken` (`knox`; DRF's table is then not needed),
    /// for --schema django and import-django.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "KIND",
        default_value_t = DjangoTokens::Drf,
        env = "TOKENAUTH_DJANGO_TOKENS"
    )]
    pub django_tokens: DjangoTokens,
    /// knox's `TOKEN_PREFIX` (at most 10 printable characters; default none), for
    /// --schema django --django-tokens knox: what tokens issued here start with, and
    /// the only prefix accepted (a token knox issued under another prefix is refused).
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_KNOX_PREFIX",
        default_value = "",
        value_name = "PREFIX",
        value_parser = knox_prefix
    )]
    pub django_knox_prefix: String,
    /// knox's `TOKEN_TTL`, for --schema django --django-tokens knox: a token issued here
    /// expires this long after it is created and, with --django-knox-auto-refresh on,
    /// this long after each use. Default: the --lifespan, which still ends every token
    /// that long after it was created (knox's `AUTO_REFRESH_MAX_TTL`).
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_KNOX_TTL",
        value_name = "DURATION",
        value_parser = super::values::duration
    )]
    pub django_knox_ttl: Option<tokenauth_core::Lifespan>,
    /// knox's `AUTO_REFRESH`, for --schema django --django-tokens knox: each use of a
    /// token moves its expiry to now + --django-knox-ttl (written when that moves it by
    /// more than 60 s, knox's `MIN_REFRESH_INTERVAL`).
    #[arg(
        long,
        global = true,
        env = "TOKENAUTH_DJANGO_KNOX_AUTO_REFRESH",
        value_enum,
        value_name = "on|off",
        default_value = "off"
    )]
    pub django_knox_auto_refresh: super::Switch,
}

/// `--django-active-field`: a column, or none.
#[derive(Debug, Clone)]
pub struct ActiveField(Option<Identifier>);

fn identifier(value: &str) -> Result<Identifier, String> {
    Identifier::new(value).map_err(|error| error.to_string())
}

fn knox_prefix(value: &str) -> Result<String, String> {
    tokenauth_core::TokenFormat::knox(value)
        .map(|_| value.to_owned())
        .map_err(|error| error.to_string())
}

fn active_field(value: &str) -> Result<ActiveField, String> {
    match value {
        "none" => Ok(ActiveField(None)),
        column => identifier(column).map(|column| ActiveField(Some(column))),
    }
}

impl DjangoModelArgs {
    /// The user model the options name.
    pub fn model(&self) -> UserModel {
        UserModel::of(
            self.django_user_table.clone(),
            self.django_login_field.clone(),
            self.django_active_field.0.clone(),
        )
        .with_login_match(self.django_login_match)
    }
}
