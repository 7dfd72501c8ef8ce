//! The custom user models' fixtures (`tests/fixtures/custom-users`, see its README):
//! their manifest, and the checks run on SQLite and PostgreSQL.

use serde::Deserialize;
use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::{AuthError, ManualClock, ObtainError, TokenAuth, TokenRequest, UserId};
use tokenauth_django::{Error, UserModel};

use super::micros;

/// The checks of the custom-users fixtures every server database runs, one test each,
/// on the dumps `bigint-$dumps.sql` and `uuid-$dumps.sql`, through the calling
/// module's `open(dump, &UserModel)` (whose `auth` serves them at the manifest's
/// clock): the manifest's tokens of `$tokens` and other spellings of `$spellings` as
/// Django answered, `iexact` logins as `$folding` folds, users created here; `$attr`
/// go on every test.
#[macro_export]
macro_rules! custom_user_checks {
    ($(#[$attr:meta])* ; $dumps:literal, $tokens:ident, $spellings:ident, $folding:expr) => {
        #[tokio::test(flavor = "multi_thread")]
        $(#[$attr])*
        async fn every_big_integer_user_and_token_as_django_says() {
            let model = &custom_manifest().models.bigint;
            let custom = open(concat!("bigint-", $dumps, ".sql"), &model.user_model()).await;
            custom::every_user_and_token_as_django_says(&custom.auth, model, &model.tokens.$tokens, &model.$spellings)
                .await;
        }

        #[tokio::test(flavor = "multi_thread")]
        $(#[$attr])*
        async fn every_uuid_user_and_token_as_django_says() {
            let model = &custom_manifest().models.uuid;
            let custom = open(concat!("uuid-", $dumps, ".sql"), &model.user_model()).await;
            custom::every_user_and_token_as_django_says(&custom.auth, model, &model.tokens.$tokens, &model.$spellings)
                .await;
        }

        #[tokio::test(flavor = "multi_thread")]
        $(#[$attr])*
        async fn logins_match_case_insensitively_when_configured() {
            let manifest = custom_manifest();
            for (dump, model) in [
                (concat!("bigint-", $dumps, ".sql"), &manifest.models.bigint),
                (concat!("uuid-", $dumps, ".sql"), &manifest.models.uuid),
            ] {
                let iexact = model
                    .user_model()
                    .with_login_match(tokenauth_django::LoginMatch::CaseInsensitive);
                let custom = open(dump, &iexact).await;
                custom::logins_match_case_insensitively(&custom.auth, model, $folding).await;
            }
        }

        #[tokio::test(flavor = "multi_thread")]
        $(#[$attr])*
        async fn users_created_here_log_in_and_are_deleted_with_their_links() {
            let manifest = custom_manifest();
            for (dump, model, login) in [
                (concat!("bigint-", $dumps, ".sql"), &manifest.models.bigint, "newbie"),
                (concat!("uuid-", $dumps, ".sql"), &manifest.models.uuid, "new@example.com"),
            ] {
                let custom = open(dump, &model.user_model()).await;
                let id = custom::users_created_here_work(&custom.auth, model, login).await;
                let (user, _) = custom.auth.delete_user(login).await.unwrap().unwrap();
                assert_eq!(user.id, id);
            }
        }
    };
}

/// `custom-users/manifest.json`.
#[derive(Debug, Deserialize)]
pub struct CustomManifest {
    pub generated_at_unix_micros: i64,
    pub models: Models,
}

#[derive(Debug, Deserialize)]
pub struct Models {
    pub bigint: CustomModel,
    pub uuid: CustomModel,
}

/// One user model's fixture: its names, users and tokens.
#[derive(Debug, Deserialize)]
pub struct CustomModel {
    pub table: String,
    pub login_field: String,
    pub active_field: Option<String>,
    pub users: Vec<CustomUser>,
    pub other_spellings: Vec<OtherSpelling>,
    /// What Django's `authenticate()` made of them on MariaDB, whose default collation
    /// folds case and ignores trailing spaces.
    pub other_spellings_mysql: Vec<OtherSpelling>,
    pub tokens: CustomTokens,
}

#[derive(Debug, Deserialize)]
pub struct CustomUser {
    pub login: String,
    pub id: String,
    pub password: String,
    pub authenticate_ok: bool,
}

/// Another spelling of a login, and whether Django's `authenticate()` took it.
#[derive(Debug, Deserialize)]
pub struct OtherSpelling {
    pub login: String,
    pub password: String,
    pub authenticate_ok: bool,
}

#[derive(Debug, Deserialize)]
pub struct CustomTokens {
    pub sqlite: Vec<CustomToken>,
    pub postgres: Vec<CustomToken>,
    pub mysql: Vec<CustomToken>,
}

#[derive(Debug, Deserialize)]
pub struct CustomToken {
    pub key: String,
    pub login: String,
    pub user_id: String,
    pub created_unix_micros: i64,
    pub verdict_at_generated_at: String,
}

pub fn custom_manifest() -> CustomManifest {
    let text = std::fs::read_to_string(fixture("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The path of a file of the custom-users fixtures.
pub fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/custom-users/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

impl CustomManifest {
    pub fn clock(&self) -> ManualClock {
        ManualClock::new(micros(self.generated_at_unix_micros))
    }
}

impl CustomModel {
    /// The model as `--django-user-table`, `--django-login-field` and
    /// `--django-active-field` name it.
    pub fn user_model(&self) -> UserModel {
        let model = UserModel::new(&self.table)
            .unwrap()
            .with_login_field(&self.login_field)
            .unwrap();
        match &self.active_field {
            Some(column) => model.with_active_field(column).unwrap(),
            None => model.without_active_field(),
        }
    }
}

/// Every token authenticates (or is refused) as Django said at `generated_at`, its id
/// names its user; then every user logs in (or not) as Django's `authenticate()` did,
/// other spellings of the login included, and the key it gets names it.
pub async fn every_user_and_token_as_django_says<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    model: &CustomModel,
    tokens: &[CustomToken],
    other_spellings: &[OtherSpelling],
) {
    assert!(tokens.iter().any(|t| t.verdict_at_generated_at == "ok"));
    assert!(
        tokens
            .iter()
            .any(|t| t.verdict_at_generated_at == "Token has expired")
    );
    for token in tokens {
        let got = match auth.authenticate(&token.key, None).await {
            Ok(verified) => {
                assert_eq!(verified.user.id.as_str(), token.user_id);
                assert_eq!(verified.user.username, token.login);
                assert_eq!(verified.token.created, micros(token.created_unix_micros));
                // Its id names its user: found by id, revocable by its owner only.
                let found = auth.store().find_by_id(&verified.token.id).await.unwrap();
                assert_eq!(found.map(|r| r.user_id), Some(verified.user.id.clone()));
                let stranger = UserId::new("00000000-0000-4000-8000-000000000000");
                assert!(!auth.revoke_own(&stranger, &verified.token.id).await.unwrap());
                "ok".to_owned()
            }
            Err(error) => error.to_string(),
        };
        assert_eq!(got, token.verdict_at_generated_at, "{}", token.login);
    }
    for user in &model.users {
        let wrong = auth
            .obtain(
                &user.login,
                &format!("{}x", user.password),
                TokenRequest::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(wrong, ObtainError::InvalidCredentials), "{wrong:?}");
        let login = auth
            .obtain(&user.login, &user.password, TokenRequest::default())
            .await;
        assert_eq!(login.is_ok(), user.authenticate_ok, "{}: {login:?}", user.login);
        if let Ok(issued) = login {
            let verified = auth
                .authenticate(issued.token.expose_secret(), None)
                .await
                .unwrap();
            assert_eq!(verified.user.id.as_str(), user.id);
            assert_eq!(verified.user.username, user.login);
        }
    }
    for other in other_spellings {
        let login = auth
            .obtain(&other.login, &other.password, TokenRequest::default())
            .await;
        assert_eq!(login.is_ok(), other.authenticate_ok, "{}: {login:?}", other.login);
    }
}

/// A user created here gets a key of the table's kind (a new UUID v4 for a UUID key),
/// logs in, and its token is revoked by id; deactivating is refused where the model
/// has no active column; deleting takes the token along.
pub async fn users_created_here_work<S: TokenStore, D: UserAdmin<Error = Error>>(
    auth: &TokenAuth<S, D>,
    model: &CustomModel,
    login: &str,
) -> UserId {
    let created = auth.upsert_user(login, "new-password", true).await.unwrap();
    let id = created.user.id.clone();
    if model.table == "members_member" {
        let text = id.as_str();
        assert_eq!((text.len(), &text[14..15]), (36, "4"), "{text}");
    } else {
        let number: i64 = id.as_str().parse().unwrap();
        assert!(model.users.iter().all(|u| u.id != id.as_str()), "{number}");
    }
    let issued = auth
        .obtain(login, "new-password", TokenRequest::default())
        .await
        .unwrap();
    let verified = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(verified.user.id, id);
    assert!(auth.revoke(&verified.token.id).await.unwrap());
    let gone = auth
        .authenticate(issued.token.expose_secret(), None)
        .await
        .unwrap_err();
    assert!(matches!(gone, AuthError::InvalidToken), "{gone:?}");
    let deactivated = auth.users().set_active(&id, false).await;
    match model.active_field {
        Some(_) => assert!(!deactivated.unwrap().unwrap().is_active),
        None => assert_eq!(
            deactivated.unwrap_err().to_string(),
            "the user model has no active flag: every user is active, and none can be deactivated"
        ),
    }
    id
}

/// What a database's case-insensitive comparison folds.
pub struct Folding {
    /// Whether `UPPER` folds every letter (PostgreSQL, MySQL), or ASCII only (SQLite,
    /// as Django's `iexact` there).
    pub unicode: bool,
    /// Whether the column's collation folds case by itself (MariaDB's default): two
    /// logins differing by case cannot be stored.
    pub collation: bool,
}

/// With [`LoginMatch::CaseInsensitive`](tokenauth_django::LoginMatch): every user
/// Django let log in also logs in by its login in capitals (non-ASCII letters where
/// the database folds them), a spelling differing by more than case (a trailing
/// space) is still refused where the collation does not pad, and a login matching
/// several users logs in the one stored exactly as given, none if there is none.
pub async fn logins_match_case_insensitively<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    model: &CustomModel,
    folding: Folding,
) {
    let logs_in =
        async |login: &str, password: &str| match auth.obtain(login, password, TokenRequest::default()).await
        {
            Ok(issued) => {
                let verified = auth
                    .authenticate(issued.token.expose_secret(), None)
                    .await
                    .unwrap();
                Some(verified.user.id.as_str().to_owned())
            }
            Err(ObtainError::InvalidCredentials) => None,
            Err(error) => panic!("{login}: {error:?}"),
        };
    for user in model.users.iter().filter(|u| u.authenticate_ok) {
        let shouted = user.login.to_ascii_uppercase();
        assert_ne!(shouted, user.login);
        assert_eq!(
            logs_in(&shouted, &user.password).await.as_deref(),
            Some(user.id.as_str()),
            "{shouted}"
        );
        assert_eq!(logs_in(&shouted, "wrong-password").await, None);
        let unicode = user.login.to_uppercase();
        if unicode != shouted {
            let expected = folding.unicode.then_some(user.id.as_str());
            assert_eq!(
                logs_in(&unicode, &user.password).await.as_deref(),
                expected,
                "{unicode}"
            );
        }
        if !folding.collation {
            assert_eq!(logs_in(&format!("{} ", user.login), &user.password).await, None);
        }
    }
    let alice = model.users.iter().find(|u| u.authenticate_ok).unwrap();
    let shouted = alice.login.to_ascii_uppercase();
    let hash = auth
        .users()
        .find_login(&alice.login)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let created = auth.users().create_user(&shouted, &hash, true).await.unwrap();
    let Some(twin) = created else {
        assert!(folding.collation, "{shouted} was refused as taken");
        return;
    };
    assert!(!folding.collation, "{shouted} was created beside {}", alice.login);
    // Same password, two users: each logs in by its exact login, neither by a third.
    assert_eq!(
        logs_in(&alice.login, &alice.password).await.as_deref(),
        Some(alice.id.as_str())
    );
    assert_eq!(
        logs_in(&shouted, &alice.password).await.as_deref(),
        Some(twin.id.as_str())
    );
    let third = format!("{}{}", &shouted[..1], &alice.login[1..]);
    assert!(third != alice.login && third != shouted, "{third}");
    assert_eq!(logs_in(&third, &alice.password).await, None, "{third}");
}
