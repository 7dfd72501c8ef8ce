//! A PostgreSQL schema of its own for a test (`#[path]`-included by the tests that
//! need one).

#![allow(dead_code, unreachable_pub)]

use std::hash::{BuildHasher, RandomState};

use sqlx::{Connection, PgConnection};

/// A schema of its own on the server at `url`, dropped (best effort) on drop.
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// A new schema named `prefix` and a random suffix.
    pub async fn create(url: &str, prefix: &str) -> Self {
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

    /// The server's URL, working in this schema (`options=-c search_path=...`).
    pub fn database(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for Schema {
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

/// `TOKENAUTH_TEST_POSTGRES_URL`; panics with what to do when it is not set.
pub fn postgres_url() -> String {
    std::env::var("TOKENAUTH_TEST_POSTGRES_URL").expect(
        "TOKENAUTH_TEST_POSTGRES_URL is not set: point it at a PostgreSQL server \
         (such as postgres://postgres@127.0.0.1:5432/test) to run this test",
    )
}
