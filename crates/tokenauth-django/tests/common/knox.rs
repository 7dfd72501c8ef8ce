//! The checks of a store on knox's own table (`fixtures/knox`, made by knox 5.0.2),
//! written once and run on SQLite, PostgreSQL and MariaDB.

use std::future::Future;

use serde::Deserialize;
use sha2::{Digest as _, Sha512};
use time::{Duration, OffsetDateTime};
use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::{AuthError, ManualClock, ObtainError, RevokeReason, TokenAuth, TokenRequest};

use super::micros;

/// `fixtures/knox/manifest.json`.
/// The checks of the knox fixture every server database runs, one test each, on the
/// calling module's `served()` (with `auth(prefix, lifespan)` and `clock`, and
/// [`KnoxRaw`]), its `Database::load()` (the stock DRF dump) and
/// `connect_knox_model`, and the manifest's tokens of `$tokens` (`postgres`, `mysql`);
/// `$attr` go on every test.
#[macro_export]
macro_rules! knox_checks {
    ($(#[$attr:meta])* ; $tokens:ident) => {
        #[tokio::test]
        $(#[$attr])*
        async fn every_knox_token_authenticates_as_knox_said() {
            let served = served().await;
            let tokens = &knox_manifest().tokens.$tokens;
            knox::every_token_as_knox_said(&served.auth("", LIFESPAN), &served.auth("knx_", LIFESPAN), tokens)
                .await;
        }

        #[tokio::test]
        $(#[$attr])*
        async fn knoxs_expiry_is_kept_to_the_microsecond() {
            let served = served().await;
            let tokens = &knox_manifest().tokens.$tokens;
            let (long, auth) = (served.auth("", LONG_LIFESPAN), served.auth("", LIFESPAN));
            knox::the_expiry_is_knoxs(&long, &auth, &served.clock, tokens).await;
        }

        #[tokio::test]
        $(#[$attr])*
        async fn logins_write_rows_knox_accepts_and_logouts_delete_them() {
            let manifest = knox_manifest();
            let served = served().await;
            knox::logins_write_rows_knox_accepts(&served.auth("", LIFESPAN), &served, &manifest, "").await;
            drop(served);
            let served = self::served().await;
            knox::logins_write_rows_knox_accepts(&served.auth("knx_", LIFESPAN), &served, &manifest, "knx_")
                .await;
        }

        #[tokio::test]
        $(#[$attr])*
        async fn knoxs_auto_refresh_moves_the_expiry_on_use() {
            let served = served().await;
            knox::auto_refresh_moves_the_expiry(&served.tables, &served.clock, &served, &knox_manifest()).await;
        }

        #[tokio::test]
        $(#[$attr])*
        async fn a_database_without_knoxs_table_is_refused_by_name() {
            let drf = Database::load().await;
            let refused = connect_knox_model(&drf.url, &UserModel::default())
                .await
                .unwrap_err();
            assert!(
                matches!(&refused, Error::KnoxTables { missing } if missing == &["table knox_authtoken"]),
                "{refused:?}"
            );
        }
    };
}

#[derive(Debug, Deserialize)]
pub struct KnoxManifest {
    pub generated_at: String,
    pub users: Vec<KnoxUser>,
    pub tokens: KnoxTokens,
}

#[derive(Debug, Deserialize)]
pub struct KnoxUser {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub is_active: bool,
}

#[derive(Debug, Deserialize)]
pub struct KnoxTokens {
    pub sqlite: Vec<KnoxToken>,
    pub postgres: Vec<KnoxToken>,
    pub mysql: Vec<KnoxToken>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KnoxToken {
    pub user: String,
    pub label: String,
    pub token: String,
    pub prefix: String,
    pub created_unix_micros: i64,
    pub expiry_unix_micros: Option<i64>,
    pub knox_at_generated_at: Verdict,
}

/// What knox's `TokenAuthentication` answered.
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    pub status: u16,
    pub user: Option<String>,
    pub detail: Option<String>,
}

pub fn knox_manifest() -> KnoxManifest {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/knox/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl KnoxManifest {
    pub fn generated_at(&self) -> OffsetDateTime {
        OffsetDateTime::parse(&self.generated_at, &time::format_description::well_known::Rfc3339).unwrap()
    }

    pub fn user(&self, username: &str) -> &KnoxUser {
        self.users.iter().find(|u| u.username == username).unwrap()
    }
}

/// The lifespan the checks serve with: longer than any fixture token has lived at
/// `generated_at`, as `--lifespan` must be at least knox's `TOKEN_TTL`.
pub const LIFESPAN: &str = "30d";

/// A row of `knox_authtoken` as knox reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnoxRow {
    pub token_key: String,
    pub user_id: i64,
    pub created: OffsetDateTime,
    pub expiry: Option<OffsetDateTime>,
}

/// Raw access to the knox fixture database, to see what knox would see.
pub trait KnoxRaw: Sync {
    /// The row whose `digest` is `digest`.
    fn row(&self, digest: &str) -> impl Future<Output = Option<KnoxRow>> + Send;
    /// How many rows the user has.
    fn count(&self, user_id: i64) -> impl Future<Output = i64> + Send;
}

/// knox's `digest` of a token: its hex SHA-512.
pub fn sha512(token: &str) -> String {
    Sha512::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What tokenauth answers for `token` at the clock's time: `200 user` or the detail.
async fn answer<S: TokenStore, D: UserAdmin>(auth: &TokenAuth<S, D>, token: &str) -> String {
    match auth.authenticate(token, None).await {
        Ok(verified) => format!("200 {}", verified.user.username),
        Err(error) => error.to_string(),
    }
}

/// Every manifest token with the served prefix authenticates as knox said, but for
/// the expired one, which tokenauth calls expired where knox calls it invalid; a token
/// with another prefix is unknown. `prefixed` serves knox's `knx_` prefix: its token
/// authenticates there, and the unprefixed ones do not.
pub async fn every_token_as_knox_said<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    prefixed: &TokenAuth<S, D>,
    tokens: &[KnoxToken],
) {
    assert_eq!(tokens.len(), 6);
    for token in tokens {
        let knox = &token.knox_at_generated_at;
        let expected = match (knox.status, knox.detail.as_deref()) {
            (200, _) => format!("200 {}", knox.user.as_deref().unwrap()),
            (401, Some("User inactive or deleted.")) => "User inactive or deleted".to_owned(),
            // knox deletes an expired row when it sees it and answers "Invalid token.";
            // tokenauth leaves it and says it expired.
            (401, Some("Invalid token.")) if token.label == "expired by expiry" => {
                "Token has expired".to_owned()
            }
            other => panic!("unexpected verdict {other:?}"),
        };
        let (served, other) = if token.prefix.is_empty() {
            (auth, prefixed)
        } else {
            (prefixed, auth)
        };
        assert_eq!(answer(served, &token.token).await, expected, "{}", token.label);
        assert_eq!(
            answer(other, &token.token).await,
            "Invalid token",
            "{}",
            token.label
        );
        let header = format!("Token {}", token.token);
        let via_header = served.authenticate_header(Some(header.as_bytes()), None).await;
        assert_eq!(via_header.is_ok(), knox.status == 200, "{}", token.label);
        if knox.status == 200 {
            let verified = served.authenticate(&token.token, None).await.unwrap();
            assert_eq!(verified.token.created, micros(token.created_unix_micros));
        }
        // knox's tokens are lowercase hex: another case or one character more is
        // another (unknown) token.
        let upper = token.token.to_uppercase();
        let longer = format!("{}0", token.token);
        for changed in [
            upper.as_str(),
            longer.as_str(),
            &token.token[..token.token.len() - 1],
        ] {
            let error = served.authenticate(changed, None).await.unwrap_err();
            assert!(matches!(error, AuthError::InvalidToken), "{error:?}");
        }
    }
}

/// A lifespan longer than the fixture's ten-year expiries.
pub const LONG_LIFESPAN: &str = "36500d";

/// knox's boundary: a token is accepted while `expiry >= now`; at its `expiry` it
/// still works, a microsecond later it has expired (under a lifespan `long` that
/// outlasts it). The lifespan ends a token first when it is shorter, and a NULL
/// expiry (knox's never) follows the lifespan alone (`auth`, 30 days).
pub async fn the_expiry_is_knoxs<S: TokenStore, D: UserAdmin>(
    long: &TokenAuth<S, D>,
    auth: &TokenAuth<S, D>,
    clock: &ManualClock,
    tokens: &[KnoxToken],
) {
    let laptop = tokens.iter().find(|t| t.label == "laptop").unwrap();
    clock.set(micros(laptop.expiry_unix_micros.unwrap()));
    assert_eq!(answer(long, &laptop.token).await, "200 alice");
    assert_eq!(
        answer(auth, &laptop.token).await,
        "Token has expired",
        "30 days are over"
    );
    clock.advance(Duration::microseconds(1));
    assert_eq!(answer(long, &laptop.token).await, "Token has expired");

    let never = tokens.iter().find(|t| t.label == "no expiry").unwrap();
    let lifespan: tokenauth_core::Lifespan = LIFESPAN.parse().unwrap();
    clock.set(micros(never.created_unix_micros) + lifespan.as_duration());
    assert_eq!(answer(auth, &never.token).await, "200 alice");
    clock.advance(Duration::microseconds(1));
    assert_eq!(answer(auth, &never.token).await, "Token has expired");
}

/// Every manifest user logs in (or not, inactive) and gets a new token per login, a
/// row knox would accept: `digest` the token's SHA-512, `token_key` its first 15
/// characters, `created` now, `expiry` a lifespan later, and which authenticates
/// here. Logout deletes its row; logging out everywhere deletes the user's rows,
/// knox's included.
pub async fn logins_write_rows_knox_accepts<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl KnoxRaw,
    manifest: &KnoxManifest,
    prefix: &str,
) {
    let now = manifest.generated_at();
    let lifespan: tokenauth_core::Lifespan = LIFESPAN.parse().unwrap();
    for user in &manifest.users {
        let wrong = auth
            .obtain(
                &user.username,
                &format!("{}x", user.password),
                TokenRequest::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(wrong, ObtainError::InvalidCredentials), "{wrong:?}");
        let before = raw.count(user.id).await;
        let login = auth
            .obtain(&user.username, &user.password, TokenRequest::default())
            .await;
        if !user.is_active {
            assert!(login.is_err(), "{}", user.username);
            assert_eq!(raw.count(user.id).await, before);
            continue;
        }
        let issued = login.unwrap();
        let second = auth
            .obtain(&user.username, &user.password, TokenRequest::default())
            .await
            .unwrap();
        assert_eq!(
            raw.count(user.id).await,
            before + 2,
            "a row per login, the others kept"
        );
        let token = issued.token.expose_secret();
        assert_ne!(
            token,
            second.token.expose_secret(),
            "a new token per login, as knox"
        );
        assert_eq!(token.len(), prefix.len() + 64);
        assert!(token.starts_with(prefix));
        assert!(
            token[prefix.len()..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        let row = raw
            .row(&sha512(token))
            .await
            .expect("the token's row, by knox's digest");
        assert_eq!(
            row,
            KnoxRow {
                token_key: token[..15].to_owned(),
                user_id: user.id,
                created: now,
                expiry: Some(now + lifespan.as_duration()),
            }
        );
        assert_eq!(answer(auth, token).await, format!("200 {}", user.username));

        // Logout: its row is gone, the other login's stays.
        let verified = auth.authenticate(token, None).await.unwrap();
        auth.logout(&verified.token).await.unwrap();
        assert_eq!(raw.row(&sha512(token)).await, None);
        assert_eq!(answer(auth, token).await, "Invalid token");
        let other = second.token.expose_secret();
        assert_eq!(answer(auth, other).await, format!("200 {}", user.username));
    }
    // Log out everywhere: alice's rows, knox's own among them, are all gone.
    let alice = manifest.user("alice");
    assert!(raw.count(alice.id).await >= 3);
    let user_id = tokenauth_core::UserId::from(alice.id);
    auth.revoke_user_tokens(&user_id, RevokeReason::LogoutAll)
        .await
        .unwrap();
    assert_eq!(raw.count(alice.id).await, 0);
    assert!(raw.count(manifest.user("bob").id).await > 0, "bob's stay");
}

/// knox's `AUTO_REFRESH` (`TOKEN_TTL` one hour, lifespan a century): each use moves a
/// live token's `expiry` to an hour after it, written only when that moves it by more
/// than `MIN_REFRESH_INTERVAL`; a token used in time outlives the hour it was issued
/// for, one left unused expires an hour after its last use; without the refresh the
/// same token ends an hour after its login.
pub async fn auto_refresh_moves_the_expiry<DB>(
    tables: &tokenauth_django::DjangoTables<DB>,
    clock: &ManualClock,
    raw: &impl KnoxRaw,
    manifest: &KnoxManifest,
) where
    DB: tokenauth_django::Dialect,
    tokenauth_django::knox::KnoxStore<DB>: TokenStore,
    tokenauth_django::DjangoUserDirectory<DB>: UserAdmin,
{
    let ttl = Duration::hours(1);
    let lifespan: tokenauth_core::Lifespan = LONG_LIFESPAN.parse().unwrap();
    let auth = |refresh: bool| {
        let store = tables.knox_store("", Some(ttl)).with_auto_refresh(refresh);
        tokenauth_django::knox_auth(store, tables.users(), lifespan)
            .unwrap()
            .with_clock(clock.clone())
    };
    let (refreshing, plain) = (auth(true), auth(false));
    let alice = manifest.user("alice");
    let login = |auth: &TokenAuth<_, _>| {
        let auth = auth.clone();
        async move {
            let issued = auth
                .obtain(&alice.username, &alice.password, TokenRequest::default())
                .await
                .unwrap();
            issued.token.expose_secret().to_owned()
        }
    };
    let start = tokenauth_core::Clock::now(clock);
    let (kept, unrefreshed) = (login(&refreshing).await, login(&plain).await);
    let expiry = |token: String| async move { raw.row(&sha512(&token)).await.unwrap().expiry };
    assert_eq!(expiry(kept.clone()).await, Some(start + ttl));

    // 30 s later: the move would be 30 s, within knox's minimum interval: not written.
    clock.advance(Duration::seconds(30));
    refreshing.authenticate(&kept, None).await.unwrap();
    assert_eq!(expiry(kept.clone()).await, Some(start + ttl));

    // 50 minutes in: moved to an hour from now, and the other store's token too when
    // used through the refreshing one (the setting is the server's, not the row's).
    clock.set(start + Duration::minutes(50));
    refreshing.authenticate(&kept, None).await.unwrap();
    let moved = start + Duration::minutes(50) + ttl;
    assert_eq!(expiry(kept.clone()).await, Some(moved));

    // Past the hour it was issued for: the used token works, the other has expired.
    clock.set(start + ttl + Duration::minutes(10));
    refreshing.authenticate(&kept, None).await.unwrap();
    let refused = plain.authenticate(&unrefreshed, None).await.unwrap_err();
    assert!(matches!(refused, AuthError::Expired), "{refused:?}");
    assert_eq!(
        expiry(unrefreshed).await,
        Some(start + ttl),
        "no refresh without the setting"
    );

    // Unused for longer than the TTL: expired, and not renewed by the attempt.
    let last = start + ttl + Duration::minutes(10);
    clock.set(last + ttl + Duration::microseconds(1));
    let refused = refreshing.authenticate(&kept, None).await.unwrap_err();
    assert!(matches!(refused, AuthError::Expired), "{refused:?}");
    assert_eq!(expiry(kept).await, Some(last + ttl));
}
