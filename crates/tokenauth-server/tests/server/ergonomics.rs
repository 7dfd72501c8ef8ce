//! What a new operator trips over on the command line (issue 19, item 8): a bare number
//! where a duration is expected, a zero timeout, a switch that is neither on nor off,
//! an admin command that would migrate the database behind the servers' backs.

use std::str::FromStr;

use clap::Parser;
use sqlx::sqlite::SqliteConnectOptions;
use tokenauth_server::cli::Cli;

use crate::common::{run, tokenauth};

/// The parse error clap prints for `tokenauth ARGS`, or `None` if they parse.
fn refusal(args: &[&str]) -> Option<String> {
    Cli::try_parse_from(["tokenauth"].iter().chain(args))
        .err()
        .map(|error| error.to_string())
}

#[test]
fn a_duration_without_a_unit_is_refused_with_a_hint() {
    for args in [
        &["serve", "--lifespan", "30"][..],
        &["serve", "--store-timeout", "3"],
        &["serve", "--cache-ttl", "10"],
        &["token", "create", "alice", "--lifespan", "3600"],
        &["token", "purge", "--older-than", "7"],
    ] {
        let error = refusal(args).unwrap_or_else(|| panic!("{args:?} parsed"));
        assert!(error.contains("a duration needs a unit"), "{args:?}: {error}");
        assert!(
            error.contains(&format!("`{}s` for seconds", args[args.len() - 1])),
            "{error}"
        );
    }
    assert!(refusal(&["serve", "--lifespan", "30s"]).is_none());
    assert!(refusal(&["serve", "--lifespan", "30d", "--store-timeout", "500ms"]).is_some());
}

#[test]
fn a_zero_timeout_is_refused_under_its_own_name() {
    let error = refusal(&["serve", "--store-timeout", "0s"]).expect("refused");
    assert!(error.contains("--store-timeout"), "{error}");
    assert!(error.contains("must be longer than zero"), "{error}");
    assert!(!error.contains("lifespan"), "{error}");
}

#[test]
fn the_cache_switch_is_on_or_off_and_nothing_else() {
    assert!(refusal(&["serve", "--cache", "on"]).is_none());
    assert!(refusal(&["serve", "--cache", "off"]).is_none());
    for word in ["yes", "1", "banana", "On"] {
        let error = refusal(&["serve", "--cache", word]).unwrap_or_else(|| panic!("--cache {word} parsed"));
        assert!(
            error.contains(&format!("`{word}` is neither `on` nor `off`")),
            "{error}"
        );
    }
}

#[test]
fn the_binary_exits_2_on_a_bare_number_and_names_the_option() {
    let output = tokenauth("sqlite::memory:", &["serve", "--lifespan", "30"])
        .output()
        .expect("run tokenauth");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'--lifespan <LIFESPAN>'"), "{stderr}");
    assert!(
        stderr.contains("a duration needs a unit: `30s` for seconds"),
        "{stderr}"
    );
}

/// The refusal of an admin command on a database that lacks `pending` migrations.
fn not_migrated(pending: usize) -> String {
    format!(
        "error: the database lacks {pending} of this tokenauth's migrations: run `tokenauth migrate` first \
         (only `migrate` and `serve` change the schema)\n"
    )
}

#[test]
fn admin_commands_refuse_a_new_database_and_leave_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new.db");
    let database = format!("sqlite://{}", file.display());
    let all = tokenauth_sqlx::sqlite::migrations().len();
    for args in [
        &["user", "add", "alice", "--password-stdin"][..],
        &["user", "list"],
        &["token", "create", "alice"],
        &["import", "--generate-users", "1", "--password-stdin"],
    ] {
        let output = run(tokenauth(&database, args), "pw\n");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            not_migrated(all),
            "{args:?}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(!file.exists(), "{args:?} created the database");
    }

    migrate_then_add_alice(&database);
}

/// `tokenauth migrate` on `database`, then `user add alice`, which then works and logs
/// nothing about migrations (at INFO, the tests' RUST_LOG).
fn migrate_then_add_alice(database: &str) {
    let migrated = run(tokenauth(database, &["migrate"]), "");
    assert!(migrated.status.success());
    assert_eq!(
        String::from_utf8_lossy(&migrated.stdout),
        "database is up to date\n"
    );
    let added = run(
        tokenauth(database, &["user", "add", "alice", "--password-stdin"]),
        "pw\n",
    );
    let logs = String::from_utf8_lossy(&added.stderr);
    assert!(added.status.success(), "{logs}");
    assert!(!logs.contains("migrat"), "{logs}");
}

#[tokio::test]
async fn admin_commands_refuse_a_database_behind_the_binary_and_leave_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("behind.db").display());
    // As the release before the newest migration left it, recorded as tokenauth does.
    let options = SqliteConnectOptions::from_str(&database)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "CREATE TABLE tokenauth_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
         checksum BLOB NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let migrations = tokenauth_sqlx::sqlite::migrations();
    for migration in &migrations[..migrations.len() - 1] {
        sqlx::raw_sql(&migration.sql).execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO tokenauth_migrations (version, description, checksum) VALUES (?, ?, ?)")
            .bind(migration.version)
            .bind(&*migration.description)
            .bind(&*migration.checksum)
            .execute(&pool)
            .await
            .unwrap();
    }
    let recorded = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tokenauth_migrations")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = recorded().await;

    let output = run(tokenauth(&database, &["user", "list"]), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), not_migrated(1));
    assert_eq!(recorded().await, before);

    assert!(run(tokenauth(&database, &["migrate"]), "").status.success());
    assert_eq!(recorded().await, before + 1);
    let listed = run(tokenauth(&database, &["user", "list"]), "");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL"]
async fn admin_commands_refuse_a_new_postgresql_schema_and_leave_it_alone() {
    let schema = crate::common::postgres::Schema::create().await;
    let database = schema.database();
    let tables = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM information_schema.tables WHERE table_schema = $1")
            .bind(&schema.name)
            .fetch_one(&mut schema.connect().await)
            .await
            .unwrap()
    };
    let output = run(
        tokenauth(&database, &["user", "add", "alice", "--password-stdin"]),
        "pw\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let all = tokenauth_sqlx::postgres::migrations().len();
    assert_eq!(String::from_utf8_lossy(&output.stderr), not_migrated(all));
    assert_eq!(tables().await, 0);

    migrate_then_add_alice(&database);
}

/// The last line the binary printed on standard error.
fn last_line(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn an_error_names_its_cause_once() {
    // A directory where the database file should be: sqlx's error repeats SQLite's.
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().display());
    let output = run(tokenauth(&database, &["migrate"]), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&output),
        "error: database error: error returned from database: (code: 14) unable to open database file"
    );
}

#[test]
#[ignore = "needs PostgreSQL: set TOKENAUTH_TEST_POSTGRES_URL"]
fn a_postgresql_refusal_names_its_cause_once() {
    let url = crate::common::postgres::server_url();
    // The same server as a role that does not exist.
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let database = format!("{scheme}://tokenauth_no_such_role@{host}");
    let output = run(tokenauth(&database, &["user", "list"]), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&output),
        "error: database error: error returned from database: role \"tokenauth_no_such_role\" does not exist"
    );
}

/// `tokenauth serve EXTRA` on `database`, given 1 s to reach its stores.
fn serve_briefly(database: &str, extra: &[&str]) -> std::process::Output {
    let args = ["serve", "--bind", "127.0.0.1:0", "--store-timeout", "1s"];
    run(tokenauth(database, &[&args[..], extra].concat()), "")
}

/// A loopback port nothing listens on any more (connections to it are refused).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_unreachable_database_is_named_with_why() {
    let port = closed_port();
    let output = serve_briefly(&format!("postgres://postgres@127.0.0.1:{port}/test"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&output),
        format!("error: database error: cannot reach the database at 127.0.0.1:{port}: connection refused")
    );

    // A listener that accepts (the kernel completes the handshake) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let output = serve_briefly(&format!("postgres://postgres:secret@127.0.0.1:{port}/test"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&output),
        format!(
            "error: database error: cannot reach the database at 127.0.0.1:{port}: timed out (no answer within 1s)"
        )
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("secret"));
}

#[test]
fn an_unreachable_redis_is_named_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("tokens-elsewhere.db").display());
    let port = closed_port();
    let redis = format!("redis://127.0.0.1:{port}");
    let output = serve_briefly(&database, &["--token-store", &redis]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&output),
        format!(
            "error: token store error: cannot reach Redis at 127.0.0.1:{port}: Connection refused (os error 111)"
        )
    );

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let redis = format!("redis://:secret@127.0.0.1:{port}");
    let output = serve_briefly(&database, &["--token-store", &redis]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        last_line(&output),
        format!("error: token store error: cannot reach Redis at 127.0.0.1:{port}: timed out")
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("secret"));
}

#[test]
fn bind_takes_a_host_name_resolved_at_start() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let args = ["serve", "--bind", "localhost:0", "--metrics-bind", "localhost:0"];
    let mut child = tokenauth("sqlite::memory:", &args)
        .env("TOKENAUTH_DRAIN", "0s")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };
    let (listening, metrics) = (line(), line());
    let _ = child.kill();
    let _ = child.wait();
    // localhost's IPv4 address, as Go's net.Listen picks.
    let port = listening
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{listening}"));
    assert!(port.parse::<u16>().is_ok_and(|port| port != 0), "{listening}");
    assert!(metrics.starts_with("metrics on http://127.0.0.1:"), "{metrics}");

    // Without a port: refused before anything starts, naming the form.
    let output = tokenauth("sqlite::memory:", &["serve", "--bind", "localhost"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'localhost' for '--bind <BIND>': expected HOST:PORT"),
        "{stderr}"
    );
}

#[test]
fn healthcheck_asks_a_host_name() {
    let (mut server, addr) = crate::common::Server::start("sqlite::memory:", &[]);
    let port = addr.rsplit_once(':').unwrap().1;
    let output = run(
        crate::common::bare(&["healthcheck", "--bind", &format!("localhost:{port}")]),
        "",
    );
    server.terminate();
    server.exit_within(std::time::Duration::from_secs(10));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("http://127.0.0.1:{port}/healthz: 200 OK\n")
    );
}
