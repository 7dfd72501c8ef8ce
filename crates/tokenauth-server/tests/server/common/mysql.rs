//! A MySQL database of its own for one test, for the tests that run the binary on the
//! server named by `TOKENAUTH_TEST_MYSQL_URL`.

use std::hash::{BuildHasher, RandomState};

use sqlx::{Connection, MySqlConnection};

/// The server's URL, from the environment; panics with a clear message without it.
pub fn server_url() -> String {
    std::env::var("TOKENAUTH_TEST_MYSQL_URL").expect(
        "TOKENAUTH_TEST_MYSQL_URL is not set: point it at a MySQL or MariaDB server \
         (such as mysql://root@127.0.0.1:3306/test) to run this test",
    )
}

/// A database of its own on the server, dropped (best effort) on drop.
pub struct Database {
    url: String,
    name: String,
}

impl Database {
    /// Creates `tokenauth_e2e_<random>` on the server of `TOKENAUTH_TEST_MYSQL_URL`.
    pub async fn create() -> Self {
        let url = server_url();
        let name = format!(
            "tokenauth_e2e_{:016x}",
            RandomState::new().hash_one(std::process::id())
        );
        let mut conn = MySqlConnection::connect(&url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach MySQL at TOKENAUTH_TEST_MYSQL_URL: {error}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        Self { url, name }
    }

    /// [`Database::create`], holding the dump at `dump` (a `mariadb-dump` of a
    /// database Django made), its statements sent as they are.
    pub async fn load(dump: &str) -> Self {
        let database = Self::create().await;
        let text = std::fs::read_to_string(dump).unwrap();
        let mut conn = MySqlConnection::connect(&database.url()).await.unwrap();
        sqlx::raw_sql(&text)
            .execute(&mut conn)
            .await
            .expect("load the dump");
        conn.close().await.unwrap();
        database
    }

    /// `--database` for the binary: the server's URL, naming this database.
    pub fn url(&self) -> String {
        let (base, query) = self
            .url
            .split_once('?')
            .map_or((self.url.as_str(), None), |(b, q)| (b, Some(q)));
        let (scheme, rest) = base.split_once("://").expect("a URL with a scheme");
        let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        format!("{scheme}://{authority}/{}{query}", self.name)
    }
}

impl Drop for Database {
    /// Best effort, also when the test fails: on a thread and runtime of its own, since
    /// the test's runtime cannot be blocked on.
    fn drop(&mut self) {
        let url = self.url.clone();
        let drop = format!("DROP DATABASE IF EXISTS {}", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = MySqlConnection::connect(&url).await.ok()?;
                sqlx::raw_sql(&drop).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}
