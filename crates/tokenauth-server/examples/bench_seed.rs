//! Fills a database with users and tokens for `scripts/bench-http`, until
//! `tokenauth import` does it in bulk: users `seed0`, `seed1`... (all with one
//! password, hashed once, so that a hundred thousand users take seconds, not hours),
//! then tokens issued round-robin to them through [`TokenAuth::issue`], the path a
//! login takes after the password check. The plaintext tokens go to `--out`, one per
//! line.
//!
//! ```sh
//! cargo run --release -p tokenauth-server --example bench_seed -- \
//!     --database sqlite://bench.db --users 100 --tokens 1000 --out tokens.txt
//! ```

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use tokenauth_core::{PasswordHasher, TokenAuth, TokenRequest, TokenStore, UserAdmin, UserId};
use tokenauth_sqlx::{PgStore, PgUserDirectory, SqliteStore, SqliteUserDirectory};

/// What to create.
struct Args {
    database: String,
    users: usize,
    tokens: usize,
    out: String,
    password: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        database: "sqlite://tokenauth.db".to_owned(),
        users: 1,
        tokens: 1,
        out: "tokens.txt".to_owned(),
        password: "benchpw".to_owned(),
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let count = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--database" => args.database = value.clone(),
            "--users" => args.users = count()?.max(1),
            "--tokens" => args.tokens = count()?,
            "--out" => args.out = value.clone(),
            "--password" => args.password = value.clone(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    if args.database.starts_with("postgres") {
        let pool = tokenauth_sqlx::connect_postgres(&args.database).await?;
        seed(
            TokenAuth::new(PgStore::new(pool.clone()), PgUserDirectory::new(pool)),
            &args,
        )
        .await
    } else {
        let pool = tokenauth_sqlx::connect(&args.database).await?;
        seed(
            TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool)),
            &args,
        )
        .await
    }
}

async fn seed<S, D>(auth: TokenAuth<S, D>, args: &Args) -> Result<(), Box<dyn std::error::Error>>
where
    S: TokenStore,
    D: UserAdmin,
{
    // No per-user limit: the tokens are spread evenly anyway, and a limit would make
    // the count depend on the default.
    let auth = Arc::new(auth.with_token_limit(None));
    let started = Instant::now();
    let hash = PasswordHasher::default().hash(&args.password).await?;
    let mut ids: Vec<UserId> = Vec::with_capacity(args.users);
    for n in 0..args.users {
        let name = format!("seed{n}");
        let user = match auth.users().create_user(&name, &hash, true).await? {
            Some(user) => user,
            None => auth.find_by_username(&name).await?.ok_or("user vanished")?,
        };
        ids.push(user.id);
    }
    eprintln!("{} users in {:.1?}", ids.len(), started.elapsed());

    let started = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&args.out)?);
    let ids = Arc::new(ids);
    // A few issues in flight: enough to keep the database busy, each on its own user.
    let mut issued = futures_util::stream::iter(0..args.tokens)
        .map(|n| {
            let auth = Arc::clone(&auth);
            let ids = Arc::clone(&ids);
            async move { auth.issue(&ids[n % ids.len()], TokenRequest::default()).await }
        })
        .buffer_unordered(8);
    let mut count = 0usize;
    while let Some(token) = issued.next().await {
        writeln!(out, "{}", token?.token.expose_secret())?;
        count += 1;
        if count.is_multiple_of(100_000) {
            eprintln!("{count} tokens...");
        }
    }
    out.flush()?;
    eprintln!("{count} tokens in {:.1?}", started.elapsed());
    Ok(())
}
