//! `tokenauth import`, run in-process against a fresh SQLite file per test: users and
//! tokens from JSON Lines files and generated ones, what they authenticate as, and
//! that running an import again duplicates nothing.

use crate::common;

use common::postgres::Schema;
use tempfile::TempDir;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tokenauth::core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::{AuthError, Clock, PasswordHasher, SystemClock, TokenFormat, TokenRequest};
use tokenauth_server::cli::CliError;
use tokenauth_sqlx::postgres::{PostgresStore, PostgresUserDirectory};
use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory};

/// A database (a SQLite file, or a PostgreSQL schema) and a directory for files.
struct Db {
    dir: TempDir,
    url: String,
    _schema: Option<Schema>,
}

fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    Db {
        dir,
        url,
        _schema: None,
    }
}

impl Db {
    async fn run(&self, args: &[&str], stdin: &str) -> Result<String, CliError> {
        common::run_cli(&self.url, args, stdin).await
    }

    /// The command's summary line (the second line is the time it took).
    async fn ok(&self, args: &[&str], stdin: &str) -> String {
        match self.run(args, stdin).await {
            Ok(out) => {
                let mut lines = out.lines();
                let summary = lines.next().unwrap_or_default().to_owned();
                assert!(lines.next().is_some_and(|l| l.starts_with("took ")), "{out}");
                summary
            }
            Err(e) => panic!("tokenauth {args:?} failed: {e}"),
        }
    }

    async fn err(&self, args: &[&str]) -> String {
        match self.run(args, "").await {
            Ok(out) => panic!("tokenauth {args:?} succeeded: {out}"),
            Err(e) => e.to_string(),
        }
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    async fn auth(&self) -> TokenAuth<SqliteStore, SqliteUserDirectory> {
        let pool = tokenauth_sqlx::sqlite::connect(&self.url).await.unwrap();
        TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
    }
}

async fn hash(password: &str) -> String {
    PasswordHasher::new().hash(password).await.unwrap()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn users_and_tokens_from_files_authenticate_and_import_once() {
    let db = db();
    let (alice_hash, bob_hash) = (hash("alice pw").await, hash("bob pw").await);
    let users = db.file(
        "users.jsonl",
        &format!(
            "{}\n\n{}\n",
            serde_json::json!({"username": "alice", "password_hash": alice_hash}),
            serde_json::json!({"username": "bob", "password_hash": bob_hash, "active": false}),
        ),
    );
    let format = TokenFormat::default();
    let (laptop, old, capped) = (format.generate(), format.generate(), format.generate());
    let now = SystemClock.now();
    let tokens = db.file(
        "tokens.jsonl",
        &[
            serde_json::json!({"username": "alice", "token": laptop.expose_secret(), "name": "laptop", "scope": "write read"}),
            serde_json::json!({"username": "alice", "token": old.expose_secret(), "created": rfc3339(now - Duration::days(31))}),
            serde_json::json!({"username": "bob", "token": capped.expose_secret(), "expires": rfc3339(now + Duration::hours(1))}),
        ]
        .map(|line| line.to_string())
        .join("\n"),
    );
    let args = ["import", "--users", &users, "--tokens", &tokens];
    assert_eq!(
        db.ok(&args, "").await,
        "2 user(s) created, 0 already there; 3 token(s) stored, 0 already there"
    );

    let auth = db.auth().await;
    // The imported hash is the password's: alice logs in with it.
    auth.obtain("alice", "alice pw", TokenRequest::default())
        .await
        .unwrap();
    let verified = auth.authenticate(laptop.expose_secret(), None).await.unwrap();
    assert_eq!(verified.user.username, "alice");
    assert_eq!(verified.token.name.as_deref(), Some("laptop"));
    // Stored as given; what a token may do is what the server also grants.
    let record = auth
        .store()
        .find_by_digest(&laptop.digest())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.scopes.to_string(), "read write");
    // Created 31 days ago, under the default 30-day lifespan.
    let err = auth.authenticate(old.expose_secret(), None).await.unwrap_err();
    assert!(matches!(err, AuthError::Expired), "{err}");
    // Bob was imported inactive.
    let err = auth.authenticate(capped.expose_secret(), None).await.unwrap_err();
    assert!(matches!(err, AuthError::UserInactive), "{err}");
    let record = auth
        .store()
        .find_by_digest(&capped.digest())
        .await
        .unwrap()
        .unwrap();
    assert!(record.expires.is_some());

    // Again: nothing new, nothing changed.
    assert_eq!(
        db.ok(&args, "").await,
        "0 user(s) created, 2 already there; 0 token(s) stored, 3 already there"
    );
    assert_eq!(
        auth.store().list(None).await.unwrap().len(),
        4,
        "3 imported, 1 login"
    );
    assert_eq!(auth.list_users().await.unwrap().len(), 2);
}

#[tokio::test]
async fn generated_users_and_tokens_all_work() {
    let db = db();
    let tokens = generate_twice(&db).await;
    check_generated(&db.auth().await, &tokens).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL and run with --ignored"]
async fn generated_users_and_tokens_all_work_on_postgres() {
    let schema = Schema::create_with_prefix("tokenauth_import_").await;
    let db = Db {
        dir: tempfile::tempdir().unwrap(),
        url: schema.database(),
        _schema: Some(schema),
    };
    let tokens = generate_twice(&db).await;
    let pool = tokenauth_sqlx::postgres::connect(&db.url).await.unwrap();
    let auth = TokenAuth::new(PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool));
    check_generated(&auth, &tokens).await;
}

/// Generates 25 users and 120 tokens in `db`, twice; the tokens of the second run.
async fn generate_twice(db: &Db) -> Vec<String> {
    let path = |name: &str| db.dir.path().join(name).display().to_string();
    let (first, out) = (path("tokens1.txt"), path("tokens2.txt"));
    let args = |out| {
        [
            "import",
            "--generate-users",
            "25",
            "--generate-tokens",
            "120",
            "--tokens-out",
            out,
            "--password-stdin",
            "--batch",
            "7",
        ]
    };
    assert_eq!(
        db.ok(&args(&first), "bench pw\n").await,
        "25 user(s) created, 0 already there; 120 token(s) stored, 0 already there"
    );
    // Again: the users exist; the tokens are new ones.
    assert_eq!(
        db.ok(&args(&out), "bench pw\n").await,
        "0 user(s) created, 25 already there; 120 token(s) stored, 0 already there"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the tokens file is private");
    }
    let tokens: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(tokens.len(), 120);
    tokens
}

/// `--tokens-out` writes a new file of mode 0600 only: an existing file or a symbolic
/// link (to a file or to nowhere) is refused before anything is imported, and what
/// it names is left as it was.
#[cfg(unix)]
#[tokio::test]
async fn the_tokens_file_is_new_and_private() {
    use std::os::unix::fs::PermissionsExt;

    let db = db();
    let path = |name: &str| db.dir.path().join(name);
    let existing = db.file("existing.txt", "keep\n");
    let target = db.file("target.txt", "keep\n");
    std::os::unix::fs::symlink(&target, path("link.txt")).unwrap();
    std::os::unix::fs::symlink(path("nowhere.txt"), path("dangling.txt")).unwrap();
    let args = |out: &str| {
        let out = path(out).display().to_string();
        [
            "import",
            "--generate-users",
            "2",
            "--generate-tokens",
            "3",
            "--tokens-out",
            &out,
            "--password-stdin",
        ]
        .map(str::to_owned)
    };
    for out in ["existing.txt", "link.txt", "dangling.txt"] {
        let args = args(out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let error = db.run(&args, "pw\n").await.unwrap_err().to_string();
        assert!(
            error.contains(&format!("{} exists", path(out).display())),
            "{error}"
        );
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    assert!(!path("nowhere.txt").exists());
    assert!(
        db.auth().await.list_users().await.unwrap().is_empty(),
        "nothing imported"
    );

    let args = args("new.txt");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    db.ok(&args, "pw\n").await;
    let mode = std::fs::metadata(path("new.txt")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(path("new.txt")).unwrap().lines().count(),
        3
    );
}

/// The 25 generated users and 240 tokens of [`generate_twice`] are there, and
/// `tokens` authenticate, spread evenly over the users, who log in with the password.
async fn check_generated<S: TokenStore, D: UserAdmin>(auth: &TokenAuth<S, D>, tokens: &[String]) {
    let mut per_user = std::collections::BTreeMap::new();
    for token in tokens {
        let verified = auth.authenticate(token, None).await.unwrap();
        *per_user.entry(verified.user.username).or_insert(0) += 1;
    }
    assert_eq!(per_user.len(), 25, "spread over every user");
    assert!(per_user.values().all(|&n| n == 4 || n == 5), "{per_user:?}");
    let users = auth.list_users().await.unwrap();
    assert_eq!(users.len(), 25);
    assert!(users.iter().any(|u| u.username == "user25"));
    assert_eq!(auth.store().list(None).await.unwrap().len(), 240);
    // Every generated user shares the one password.
    auth.obtain("user17", "bench pw", TokenRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_lines_are_refused_with_the_line_number() {
    let db = db();
    let good_hash = hash("pw").await;
    let users = db.file(
        "users.jsonl",
        &format!(
            "{}\n{}\n",
            serde_json::json!({"username": "alice", "password_hash": good_hash}),
            serde_json::json!({"username": "bob", "password_hash": "pbkdf2_sha256$870000$salt$hash"}),
        ),
    );
    let refused = db.err(&["import", "--users", &users]).await;
    assert_eq!(
        refused,
        format!("{users}, line 2: password_hash is not an argon2 PHC string")
    );

    // A hash over the caps could only fail (or, at 4 TiB, abort the server).
    let huge = "$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg";
    let users = db.file(
        "huge.jsonl",
        &serde_json::json!({"username": "dave", "password_hash": huge}).to_string(),
    );
    let refused = db.err(&["import", "--users", &users]).await;
    assert_eq!(
        refused,
        format!("{users}, line 1: stored argon2 hash exceeds the limit on memory (KiB): 4294967295 > 262144")
    );

    let users = db.file(
        "typo.jsonl",
        &serde_json::json!({"username": "carol", "password": "pw"}).to_string(),
    );
    let refused = db.err(&["import", "--users", &users]).await;
    assert!(
        refused.starts_with(&format!("{users}, line 1: unknown field `password`")),
        "{refused}"
    );

    let tokens = db.file(
        "tokens.jsonl",
        &[
            serde_json::json!({"username": "nobody", "token": TokenFormat::default().generate().expose_secret()}),
        ]
        .map(|l| l.to_string())
        .join("\n"),
    );
    assert_eq!(
        db.err(&["import", "--tokens", &tokens]).await,
        format!("{tokens}, line 1: no user named \"nobody\"")
    );
    let tokens = db.file(
        "drf.jsonl",
        &serde_json::json!({"username": "alice", "token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"})
            .to_string(),
    );
    assert_eq!(
        db.err(&["import", "--tokens", &tokens]).await,
        format!("{tokens}, line 1: token is not a token of this format (prefix, length or checksum)")
    );
    assert_eq!(
        db.err(&["import"]).await,
        "nothing to import: give --users, --tokens or --generate-users"
    );
    let missing = db.dir.path().join("missing.jsonl").display().to_string();
    assert_eq!(
        db.err(&["import", "--users", &missing]).await,
        format!("cannot open {missing}")
    );
}
