//! A PostgreSQL schema of its own for one test, for the tests that run the binary on
//! the server named by `TOKENAUTH_TEST_POSTGRES_URL`.

use std::hash::{BuildHasher, RandomState};

use sqlx::{Connection, PgConnection};

/// The server's URL, from the environment; panics with a clear message without it.
pub fn server_url() -> String {
    std::env::var("TOKENAUTH_TEST_POSTGRES_URL").expect(
        "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
         (such as postgres://postgres@127.0.0.1:5432/test) to run this test",
    )
}

/// A schema of its own on the server at `url`, dropped (best effort) on drop.
pub struct Schema {
    url: String,
    /// The schema's name.
    pub name: String,
}

impl Schema {
    /// Creates `tokenauth_e2e_<random>` on the server of `TOKENAUTH_TEST_POSTGRES_URL`.
    pub async fn create() -> Self {
        Self::create_with_prefix("tokenauth_e2e_").await
    }

    /// Creates `<prefix><random>` on the server of `TOKENAUTH_TEST_POSTGRES_URL`, so
    /// that a schema left behind names the test that made it.
    pub async fn create_with_prefix(prefix: &str) -> Self {
        let url = &server_url();
        let name = format!("{prefix}{:016x}", RandomState::new().hash_one(std::process::id()));
        let mut conn = PgConnection::connect(url).await.unwrap_or_else(|error| {
            panic!("cannot reach PostgreSQL at TOKENAUTH_TEST_POSTGRES_URL: {error}")
        });
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        Self {
            url: url.to_owned(),
            name,
        }
    }

    /// [`database`](Self::database), reaching the server through `addr` (`host:port`,
    /// such as a proxy's) instead of the URL's own address.
    pub fn database_via(&self, addr: &str) -> String {
        let database = self.database();
        let (_, authority) = split_authority(&database);
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        database.replacen(host, addr, 1)
    }

    /// The `host:port` the URL names.
    pub fn server_addr(&self) -> String {
        let (_, authority) = split_authority(&self.url);
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        }
    }

    /// `--database` for the binary: the server's URL, working in this schema.
    pub fn database(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for Schema {
    /// Best effort, also when the test fails: on a thread and runtime of its own, since
    /// the test's runtime cannot be blocked on. A schema left behind by a crash has its
    /// test's prefix (`tokenauth_e2e_` unless [`create_with_prefix`] gave another).
    ///
    /// [`create_with_prefix`]: Self::create_with_prefix
    fn drop(&mut self) {
        let url = self.url.clone();
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                sqlx::query(&drop).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

/// A URL's scheme and authority (`user@host:port`).
fn split_authority(url: &str) -> (&str, &str) {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    (scheme, &rest[..end])
}

impl Schema {
    /// [`database`](Self::database) whose connections carry `application_name`, so that
    /// a test can find its own connections among everyone's on the shared server.
    pub fn database_as(&self, application_name: &str) -> String {
        format!("{}&application_name={application_name}", self.database())
    }

    /// A connection to the server, working in this schema.
    pub async fn connect(&self) -> PgConnection {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        sqlx::query(&format!("SET search_path TO {}", self.name))
            .execute(&mut conn)
            .await
            .expect("set the search path");
        conn
    }
}

/// A database of the test's own holding a PostgreSQL dump Django's fixtures made (it
/// names the `public` schema, so it needs a database, not a schema), dropped on drop.
pub struct DumpDatabase {
    name: String,
    /// Its URL.
    pub url: String,
}

impl DumpDatabase {
    fn psql(url: &str, args: &[&str]) {
        let output = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
            .args(args)
            .output()
            .expect("psql (15.14 or later) must be installed to load the dump");
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates the database and loads `dump` into it with psql.
    pub fn load(dump: &str) -> Self {
        let server = server_url();
        let name = format!(
            "tokenauth_djimport_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        Self::psql(&server, &["-c", &format!(r#"CREATE DATABASE "{name}""#)]);
        let (base, query) = server
            .split_once('?')
            .map_or((server.as_str(), None), |(b, q)| (b, Some(q)));
        let (host, _) = base.rsplit_once('/').expect("a postgres URL names a database");
        let url = match query {
            Some(query) => format!("{host}/{name}?{query}"),
            None => format!("{host}/{name}"),
        };
        let database = Self { name, url };
        Self::psql(&database.url, &["-f", dump]);
        database
    }
}

impl Drop for DumpDatabase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-X", "-q", "-d", &server_url(), "-c"])
            .arg(format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name))
            .status();
    }
}
