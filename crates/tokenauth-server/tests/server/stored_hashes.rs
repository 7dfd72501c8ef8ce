//! Stored hashes that ask for too much: against the real binary, a user whose argon2
//! hash claims 4 TiB (as an import before the caps could store it) is refused with the
//! ordinary 400 in about an unknown user's time, one warning naming no hash is logged,
//! and the server keeps serving; `import-django` imports such a user with an unusable
//! password and says so. After `import-django`, an unknown user costs what a Django
//! user not yet re-hashed does (Django's PBKDF2), not a tenth of it.

use crate::common;

use std::time::{Duration, Instant};

use common::{Server, add_user, database_with_alice, django_sqlite, import_django, login, obtain};
use sqlx::Connection as _;

/// argon2id with m = 4 TiB - 1 KiB: allocating it aborts a process.
const HUGE: &str =
    "$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg";
const BAD_CREDENTIALS: &str = r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#;
const ROUNDS: usize = 5;

/// Stores `hash` as `username`'s password hash, as an older import would have.
async fn set_hash(database: &str, username: &str, hash: &str) {
    let mut conn = sqlx::SqliteConnection::connect(database).await.unwrap();
    sqlx::query("UPDATE tokenauth_users SET password_hash = ? WHERE username = ?")
        .bind(hash)
        .bind(username)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A wrong password for `username`: refused with the ordinary 400; how long it took.
async fn failed_login(addr: &str, username: &str) -> Duration {
    let started = Instant::now();
    let (status, body) = login(addr, username, "wrong").await;
    let took = started.elapsed();
    assert_eq!((status, body.as_str()), (400, BAD_CREDENTIALS), "{username}");
    took
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
async fn a_user_whose_hash_claims_4_tib_gets_a_400_in_the_ordinary_time() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_with_alice(&dir, "huge");
    add_user(&database, "bob", "pw");
    set_hash(&database, "bob", HUGE).await;
    let (mut server, addr) = Server::start(&database, &["--login-throttle", "off"]);

    for _ in 0..3 {
        failed_login(&addr, "nobody").await;
    }
    let (mut unknown, mut huge) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        unknown.push(failed_login(&addr, "nobody").await);
        huge.push(failed_login(&addr, "bob").await);
    }
    let (unknown, huge) = (median(unknown), median(huge));
    let ratio = huge.as_secs_f64() / unknown.as_secs_f64();
    eprintln!("unknown user {unknown:?}, 4 TiB hash {huge:?} ({ratio:.2}x)");
    assert!((0.5..=3.0).contains(&ratio), "{huge:?} against {unknown:?}");

    // Still serving.
    obtain(&addr, "alice", "pw").await;
    assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
    server.terminate();
    assert!(server.exit_within(Duration::from_secs(10)).success());
    let logs = server.logs();
    let warnings = logs.matches("stored password hash is unusable").count();
    assert_eq!(warnings, ROUNDS, "one warning a login: {logs}");
    assert!(logs.contains("exceeds the limit on memory (KiB)"), "{logs}");
    assert!(
        !logs.contains("pcCMu9km") && !logs.contains("c2FsdHNhbHQ"),
        "{logs}"
    );
}

#[tokio::test]
async fn after_import_django_an_unknown_user_costs_what_a_django_user_does() {
    let dir = tempfile::tempdir().unwrap();
    let django = django_sqlite(&dir);
    let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    import_django(&database, &django);
    // A user of tokenauth's own (argon2id, tens of milliseconds).
    add_user(&database, "native", "pw");
    let (server, addr) = Server::start(&database, &["--login-throttle", "off"]);

    // Times the dummy (the median of its last runs: three forget a slow first one).
    for _ in 0..3 {
        failed_login(&addr, "nobody").await;
    }
    // alice's hash is Django's default, pbkdf2_sha256 at 1,000,000 iterations.
    let users = ["nobody", "alice", "native"];
    let mut times = vec![Vec::new(); users.len()];
    for _ in 0..3 {
        for (user, times) in users.iter().zip(&mut times) {
            times.push(failed_login(&addr, user).await);
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    eprintln!("{users:?}: {medians:?}");
    for (user, time) in users.iter().zip(&medians).skip(1) {
        let ratio = time.as_secs_f64() / medians[0].as_secs_f64();
        assert!(
            (0.5..=3.0).contains(&ratio),
            "{user}: {time:?} against {:?}",
            medians[0]
        );
    }
    server.terminate();
}

#[tokio::test]
async fn import_django_imports_a_hash_over_the_caps_as_unusable_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let django = django_sqlite(&dir);
    let mut conn = sqlx::SqliteConnection::connect(&django).await.unwrap();
    sqlx::query("UPDATE auth_user SET password = ? WHERE username = 'carol'")
        .bind(format!("argon2{HUGE}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let database = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
    let stdout = import_django(&database, &django);
    assert!(
        stdout.contains(
            "1 user(s) had a hash over tokenauth's limits (SECURITY.md): imported with an unusable password"
        ),
        "{stdout}"
    );
    let mut conn = sqlx::SqliteConnection::connect(&database).await.unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM tokenauth_users WHERE username = 'carol'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(stored.starts_with('!'), "{stored}");
}
