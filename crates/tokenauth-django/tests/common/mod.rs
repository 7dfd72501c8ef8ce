//! What the fixture tests share: the manifest, the clock at its `generated_at`, and
//! the checks, written once and run on SQLite and PostgreSQL.
#![allow(dead_code, unreachable_pub)]

/// The checks of the stock fixture every server database runs, one test each, on the
/// calling file's `fixture()` (with `auth`, `clock` and `manifest`, and `Raw`) and the
/// manifest's tokens of `$tokens` (`postgres`, `mysql`); `$attr` go on every test.
#[macro_export]
macro_rules! fixture_checks {
    ($(#[$attr:meta])* ; $tokens:ident) => {
        $crate::fixture_checks!(@case [$(#[$attr])*] every_manifest_token_authenticates_as_the_seed_did,
            |f| common::every_token_as_the_manifest_says(&f.auth, &f.manifest.tokens.$tokens));
        $crate::fixture_checks!(@case [$(#[$attr])*] a_token_exactly_a_lifespan_old_is_valid_and_a_microsecond_more_is_not,
            |f| common::the_expiry_boundary_is_strict(&f.auth, &f.clock, &f.manifest, &f.manifest.tokens.$tokens));
        $crate::fixture_checks!(@case [$(#[$attr])*] unknown_unusable_inactive_and_wrong_cost_one_verification_each,
            |f| common::every_refusal_costs_one_verification(&f.auth));
        $crate::fixture_checks!(@case [$(#[$attr])*] obtain_returns_the_valid_key_replaces_an_expired_one_and_creates_one,
            |f| common::obtain_is_drfs(&f.auth, &f, &f.manifest, &f.manifest.tokens.$tokens));
        $crate::fixture_checks!(@case [$(#[$attr])*] concurrent_logins_after_expiry_all_get_one_new_key,
            |f| common::concurrent_logins_share_one_new_key(&f.auth, &f, &f.manifest.tokens.$tokens));
        $crate::fixture_checks!(@case [$(#[$attr])*] a_password_set_here_ends_the_token_and_one_set_by_django_does_not,
            |f| common::password_changes(&f.auth, &f, &f.manifest.tokens.$tokens));
        $crate::fixture_checks!(@case [$(#[$attr])*] a_password_set_during_a_login_mints_no_key,
            |f| common::password_race::a_password_set_during_a_login_mints_no_key(&f.auth, &f));
        $crate::fixture_checks!(@case [$(#[$attr])*] a_key_issued_under_a_password_django_replaced_is_not_committed,
            |f| common::password_race::a_commit_under_a_replaced_password_is_a_conflict(&f.auth, &f));
        $crate::fixture_checks!(@case [$(#[$attr])*] users_and_tokens_managed_here_are_rows_django_reads,
            |f| common::users_managed_here_are_djangos(&f.auth, &f, &f.manifest, &f.manifest.tokens.$tokens));
    };
    (@case [$($attr:tt)*] $name:ident, |$f:ident| $check:expr) => {
        #[tokio::test(flavor = "multi_thread")]
        $($attr)*
        async fn $name() {
            let $f = fixture().await;
            $check.await;
        }
    };
}

pub mod conformance;
pub mod custom;
pub mod joined;
pub mod knox;
pub mod password_race;

use std::future::Future;
use std::sync::Arc;

use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::{AuthError, ManualClock, ObtainError, PasswordHasher, TokenAuth, TokenRequest};
use tokenauth_django::hashers::{DjangoHash, django_hasher};

/// The fixtures' `manifest.json`.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub generated_at_unix_micros: i64,
    pub lifespan_seconds: i64,
    pub users: Vec<ManifestUser>,
    pub tokens: Tokens,
}

#[derive(Debug, Deserialize)]
pub struct ManifestUser {
    pub username: String,
    pub id: i64,
    pub password: Option<String>,
    pub hasher: Option<String>,
    pub password_hash: String,
    pub is_active: bool,
    pub authenticate_ok: bool,
    pub rehash_on_successful_login: bool,
    pub has_token: bool,
}

#[derive(Debug, Deserialize)]
pub struct Tokens {
    pub sqlite: Vec<ManifestToken>,
    pub postgres: Vec<ManifestToken>,
    pub mysql: Vec<ManifestToken>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ManifestToken {
    pub key: String,
    pub username: String,
    pub user_id: i64,
    pub created_unix_micros: i64,
    pub expired_at_generated_at: bool,
    pub seed_auth_at_generated_at: String,
}

pub fn manifest() -> Manifest {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Manifest {
    pub fn generated_at(&self) -> OffsetDateTime {
        micros(self.generated_at_unix_micros)
    }

    pub fn user(&self, username: &str) -> &ManifestUser {
        self.users.iter().find(|u| u.username == username).unwrap()
    }
}

/// A time as Django writes it on SQLite (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC).
pub fn parse_django(text: &str) -> OffsetDateTime {
    let (base, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = time::PrimitiveDateTime::parse(base, &format)
        .unwrap()
        .assume_utc();
    let micros: i64 = format!("{fraction:0<6}").parse().unwrap();
    at + time::Duration::microseconds(micros)
}

pub fn micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap()
}

/// Raw access to the fixture database, to see what Django would see.
pub trait Raw: Sync {
    /// `auth_user.password` of the user.
    fn password_of(&self, username: &str) -> impl Future<Output = String> + Send;
    /// Sets `auth_user.password` behind tokenauth's back, as Django would.
    fn set_password(&self, username: &str, hash: &str) -> impl Future<Output = ()> + Send;
    /// The user's `authtoken_token` row: key, and `created` as the database holds it
    /// (SQLite: the text; PostgreSQL: the value as UTC).
    fn token_of(&self, user_id: i64) -> impl Future<Output = Option<(String, OffsetDateTime)>> + Send;
    /// Checks a row tokenauth wrote for `user_id` at `at` is spelled as Django writes it.
    fn assert_django_row(&self, user_id: i64, at: OffsetDateTime) -> impl Future<Output = ()> + Send;
    /// `(is_staff, is_superuser, first_name, last_name, email, last_login is null)` and
    /// `date_joined` of a user tokenauth created.
    fn new_user_row(
        &self,
        username: &str,
    ) -> impl Future<Output = (bool, bool, String, String, String, bool, OffsetDateTime)> + Send;
}

/// The service as `tokenauth serve --schema django` configures it, on the fixture
/// clock.
pub fn configure<S: TokenStore, D: UserAdmin>(auth: TokenAuth<S, D>, clock: &ManualClock) -> TokenAuth<S, D> {
    auth.with_clock(clock.clone())
}

pub fn clock(manifest: &Manifest) -> ManualClock {
    ManualClock::new(manifest.generated_at())
}

/// Every manifest token authenticates (or fails) as the seed said, at `generated_at`.
pub async fn every_token_as_the_manifest_says<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    tokens: &[ManifestToken],
) {
    assert!(!tokens.is_empty());
    for token in tokens {
        let got = auth.authenticate(&token.key, None).await;
        let got = match got {
            Ok(verified) => {
                assert_eq!(verified.user.id.as_str(), token.user_id.to_string());
                assert_eq!(verified.user.username, token.username);
                assert_eq!(verified.token.created, micros(token.created_unix_micros));
                "ok".to_owned()
            }
            Err(error) => error.to_string(),
        };
        assert_eq!(got, token.seed_auth_at_generated_at, "{}", token.username);
        let header = format!("Token {}", token.key);
        let via_header = auth.authenticate_header(Some(header.as_bytes()), None).await;
        assert_eq!(via_header.is_ok(), token.seed_auth_at_generated_at == "ok");
        // DRF's keys are lowercase: another case is another (unknown) key.
        let upper = auth
            .authenticate(&token.key.to_uppercase(), None)
            .await
            .unwrap_err();
        assert!(matches!(upper, AuthError::InvalidToken), "{upper:?}");
    }
}

/// The expiry boundary: a token exactly `lifespan` old is valid; a microsecond more
/// and it has expired (erin's token at `generated_at + 1 s`).
pub async fn the_expiry_boundary_is_strict<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    clock: &ManualClock,
    manifest: &Manifest,
    tokens: &[ManifestToken],
) {
    let erin = tokens.iter().find(|t| t.username == "erin").unwrap();
    clock.set(micros(erin.created_unix_micros) + Duration::seconds(manifest.lifespan_seconds));
    assert!(auth.authenticate(&erin.key, None).await.is_ok());
    clock.advance(Duration::microseconds(1));
    let error = auth.authenticate(&erin.key, None).await.unwrap_err();
    assert_eq!(error.to_string(), "Token has expired");
}

/// Every manifest user logs in (or not) as Django's `authenticate()` did, and hashes
/// Django would re-hash are re-hashed to Django's preferred one.
pub async fn every_user_logs_in_as_the_manifest_says<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
    manifest: &Manifest,
) {
    every_manifest_user_logs_in(auth, raw, manifest).await;
    other_spellings_name_nobody(auth, manifest).await;
}

/// Every manifest user logs in (or not) as Django's `authenticate()` did, its hash
/// re-hashed where Django's would be.
pub async fn every_manifest_user_logs_in<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
    manifest: &Manifest,
) {
    for user in &manifest.users {
        let before = raw.password_of(&user.username).await;
        assert_eq!(before, user.password_hash);
        let password = user.password.clone().unwrap_or_default();
        let wrong = auth
            .obtain(&user.username, &format!("{password}x"), TokenRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(wrong, ObtainError::InvalidCredentials), "{wrong:?}");
        assert_eq!(
            raw.password_of(&user.username).await,
            before,
            "a wrong password re-hashes nothing"
        );
        let login = auth
            .obtain(&user.username, &password, TokenRequest::default())
            .await;
        assert_eq!(
            login.is_ok(),
            user.authenticate_ok,
            "{}: {login:?}",
            user.username
        );
        let after = raw.password_of(&user.username).await;
        if user.rehash_on_successful_login {
            assert!(
                after.starts_with("pbkdf2_sha256$1000000$"),
                "{}: {after}",
                user.username
            );
            let parsed = DjangoHash::parse(&after).unwrap().unwrap();
            assert!(parsed.verify(password.as_bytes()).unwrap());
            // And logging in again still works, against the new hash.
            assert!(
                auth.obtain(&user.username, &password, TokenRequest::default())
                    .await
                    .is_ok()
            );
        } else {
            assert_eq!(after, before, "{}", user.username);
        }
        if let Ok(issued) = login {
            let key = issued.token.expose_secret();
            assert_eq!(key.len(), 40);
            assert!(key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
    }
}

/// Django's lookup is exact on SQLite and PostgreSQL: no trimming here (the HTTP
/// endpoint trims), no case folding, no Unicode normalisation.
pub async fn other_spellings_name_nobody<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    manifest: &Manifest,
) {
    let zoe = manifest.user("zoë ünïcode");
    let password = zoe.password.as_deref().unwrap();
    let nfd = "zoe\u{308} u\u{308}ni\u{308}code";
    for name in ["ALICE", "alice ", nfd, "nobody"] {
        let refused = auth
            .obtain(name, password, TokenRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(refused, ObtainError::InvalidCredentials), "{name}");
    }
}

/// Unknown users, unusable and inactive users cost one password verification each,
/// like a wrong password.
pub async fn every_refusal_costs_one_verification<S: TokenStore, D: UserAdmin>(auth: &TokenAuth<S, D>) {
    let hasher: &PasswordHasher = auth.password_hasher();
    for (username, password) in [
        ("nobody", "x"),
        ("heinz", ""),
        ("grace", "wrong"),
        ("alice", "wrong"),
    ] {
        let before = hasher.verifications();
        assert!(
            auth.obtain(username, password, TokenRequest::default())
                .await
                .is_err()
        );
        assert_eq!(hasher.verifications() - before, 1, "{username}");
    }
}

/// DRF's obtain: the valid key again, a new key for an expired one (the old one then
/// unknown), a new key for a user without one.
pub async fn obtain_is_drfs<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
    manifest: &Manifest,
    tokens: &[ManifestToken],
) {
    let now = manifest.generated_at();
    let token_of = |name: &str| tokens.iter().find(|t| t.username == name).unwrap().clone();
    // alice: valid, the same key, twice; `created` untouched.
    let alice = token_of("alice");
    for _ in 0..2 {
        let issued = auth
            .obtain("alice", "alice-password", TokenRequest::default())
            .await
            .unwrap();
        assert_eq!(issued.token.expose_secret(), alice.key);
        assert_eq!(issued.info.created, micros(alice.created_unix_micros));
    }
    // carol: expired, replaced; the old key is then unknown.
    let carol = token_of("carol");
    let issued = auth
        .obtain("carol", "carol-password", TokenRequest::default())
        .await
        .unwrap();
    let new_key = issued.token.expose_secret().to_owned();
    assert_ne!(new_key, carol.key);
    assert_eq!(raw.token_of(carol.user_id).await, Some((new_key.clone(), now)));
    raw.assert_django_row(carol.user_id, now).await;
    let old = auth.authenticate(&carol.key, None).await.unwrap_err();
    assert!(matches!(old, AuthError::InvalidToken), "{old:?}");
    assert!(auth.authenticate(&new_key, None).await.is_ok());
    let again = auth
        .obtain("carol", "carol-password", TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(again.token.expose_secret(), new_key);
    // dave: none, created.
    assert_eq!(raw.token_of(4).await, None);
    let issued = auth
        .obtain("dave", "dave-password", TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(
        raw.token_of(4).await,
        Some((issued.token.expose_secret().to_owned(), now))
    );
    raw.assert_django_row(4, now).await;
}

/// Concurrent logins of a user whose token expired all get the one new key.
pub async fn concurrent_logins_share_one_new_key<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
    tokens: &[ManifestToken],
) {
    let frank = tokens.iter().find(|t| t.username == "frank").unwrap();
    // The hashing queue's wait bound is not what this test is about: on a loaded
    // machine eight slow hashes can wait longer than the default 5 s.
    let hasher = django_hasher().with_queue(64, std::time::Duration::from_secs(600));
    let auth = Arc::new(auth.clone().with_password_hasher(hasher));
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move {
                auth.obtain("frank", "frank-password", TokenRequest::default())
                    .await
                    .map(|issued| issued.token.into_secret())
            })
        })
        .collect();
    let mut keys = Vec::new();
    for login in logins {
        keys.push(login.await.unwrap().expect("no login fails"));
    }
    keys.dedup();
    assert_eq!(keys.len(), 1, "one key for all");
    assert_ne!(keys[0], frank.key);
    assert_eq!(
        raw.token_of(frank.user_id).await.map(|(key, _)| key),
        Some(keys[0].clone())
    );
}

/// A password set through tokenauth is Django's and ends the token; one set through
/// Django leaves it working.
pub async fn password_changes<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
    tokens: &[ManifestToken],
) {
    let alice = tokens.iter().find(|t| t.username == "alice").unwrap();
    let zoe = tokens.iter().find(|t| t.username == "zoë ünïcode").unwrap();
    // Through Django: the token keeps working, the new password logs in.
    let made_by_django = raw.password_of("bob").await;
    raw.set_password("zoë ünïcode", &made_by_django).await;
    assert!(auth.authenticate(&zoe.key, None).await.is_ok());
    let issued = auth
        .obtain("zoë ünïcode", "bob-password", TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(issued.token.expose_secret(), zoe.key);
    // Through tokenauth: Django's hash, and the token is gone.
    let (_, ended) = auth
        .change_password("alice", "new alice password")
        .await
        .unwrap()
        .unwrap();
    let _ = ended;
    let stored = raw.password_of("alice").await;
    assert!(stored.starts_with("pbkdf2_sha256$1000000$"), "{stored}");
    assert_eq!(raw.token_of(alice.user_id).await, None);
    let error = auth.authenticate(&alice.key, None).await.unwrap_err();
    assert!(matches!(error, AuthError::InvalidToken), "{error:?}");
    let issued = auth
        .obtain("alice", "new alice password", TokenRequest::default())
        .await
        .unwrap();
    assert_ne!(issued.token.expose_secret(), alice.key);
    assert!(
        auth.obtain("alice", "alice-password", TokenRequest::default())
            .await
            .is_err()
    );
}

/// Users created and managed through tokenauth are rows Django can read; their
/// tokens work; deactivation comes before expiry.
pub async fn users_managed_here_are_djangos<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    raw: &impl Raw,
    manifest: &Manifest,
    tokens: &[ManifestToken],
) {
    let upserted = auth.upsert_user("новый", "pw with space ", true).await.unwrap();
    assert!(upserted.created);
    let row = raw.new_user_row("новый").await;
    assert!(!row.0, "is_staff");
    assert!(!row.1, "is_superuser");
    assert_eq!((row.2.as_str(), row.3.as_str(), row.4.as_str()), ("", "", ""));
    assert!(row.5, "last_login stays NULL");
    assert_eq!(row.6, manifest.generated_at());
    let stored = raw.password_of("новый").await;
    assert!(stored.starts_with("pbkdf2_sha256$1000000$"), "{stored}");
    let issued = auth
        .obtain("новый", "pw with space ", TokenRequest::default())
        .await
        .unwrap();
    assert!(
        auth.authenticate(issued.token.expose_secret(), None)
            .await
            .is_ok()
    );
    // An administrator's issue replaces the key (one per user).
    let id = upserted.user.id.clone();
    let replaced = auth.issue(&id, TokenRequest::default()).await.unwrap();
    assert_ne!(replaced.token.expose_secret(), issued.token.expose_secret());
    assert_eq!(auth.list(Some(&id)).await.unwrap().len(), 1);
    // Inactive before expired: carol's expired token of a deactivated user.
    let carol = tokens.iter().find(|t| t.username == "carol").unwrap();
    auth.set_active("carol", false).await.unwrap().unwrap();
    let error = auth.authenticate(&carol.key, None).await.unwrap_err();
    assert_eq!(error.to_string(), "User inactive or deleted");
    // Revoking by the listed id ends the key.
    let listed = auth.list(Some(&id)).await.unwrap();
    assert!(auth.revoke(&listed[0].id).await.unwrap());
    assert!(
        auth.authenticate(replaced.token.expose_secret(), None)
            .await
            .is_err()
    );
    // Deleting a user deletes its token too.
    let bob = tokens.iter().find(|t| t.username == "bob").unwrap();
    auth.delete_user("bob").await.unwrap().unwrap();
    assert_eq!(raw.token_of(bob.user_id).await, None);
    assert!(auth.authenticate(&bob.key, None).await.is_err());
}
