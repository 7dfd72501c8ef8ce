//! What the authenticate micro-benchmarks of every backend share: the same tokens, made
//! the same way, so that their figures compare.

use time::Duration;

use tokenauth_core::store::{TokenStore, UserAdmin};
use tokenauth_core::{AuthCache, Cached, Lifespan, ManualClock, TokenAuth, TokenRequest};

/// The `Authorization` header values an authenticate benchmark presents, one per kind
/// of token, from [`authenticate_fixture`].
#[derive(Debug, Clone)]
pub struct AuthenticateFixture {
    /// A live token.
    pub valid: String,
    /// A token that expired an hour ago.
    pub expired: String,
    /// A well-formed token (valid checksum) the store never saw.
    pub unknown: String,
    /// The live token with its last character changed: a bad checksum.
    pub garbage: String,
}

impl AuthenticateFixture {
    /// The header for `kind`: `valid`, `expired`, `unknown` or `garbage`.
    pub fn header(&self, kind: &str) -> String {
        let token = match kind {
            "valid" => &self.valid,
            "expired" => &self.expired,
            "unknown" => &self.unknown,
            "garbage" => &self.garbage,
            other => panic!("no such kind of token: {other}"),
        };
        format!("Token {token}")
    }
}

/// The service an authenticate benchmark measures, on `store` and `users` (both empty),
/// behind `cache` if given (else behind a disabled one, which passes every lookup on,
/// as the server runs without `--cache`), filled by [`authenticate_fixture`] with `others` tokens
/// besides its own; its clock starts at a fixed time.
pub async fn authenticate_bench_service<S: TokenStore, D: UserAdmin>(
    store: S,
    users: D,
    cache: Option<AuthCache>,
    others: usize,
) -> (TokenAuth<Cached<S>, Cached<D>>, AuthenticateFixture) {
    let clock =
        ManualClock::new(time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time"));
    let auth = TokenAuth::new(store, users)
        .with_clock(clock.clone())
        // Setting up only: the cheapest password hashing there is.
        .with_password_hasher(super::fast_hasher())
        .with_token_limit(None)
        .with_cache(cache.unwrap_or_else(AuthCache::disabled));
    let fixture = authenticate_fixture(&auth, &clock, others).await;
    (auth, fixture)
}

/// Fills `auth` (an empty store and directory, its clock `clock`) for an authenticate
/// benchmark: one user, an expired token, `others` live tokens so that lookups go
/// through a real index, and the valid token; moves `clock` two hours on.
pub async fn authenticate_fixture<S: TokenStore, D: UserAdmin>(
    auth: &TokenAuth<S, D>,
    clock: &ManualClock,
    others: usize,
) -> AuthenticateFixture {
    let user = auth.upsert_user("alice", "pw", true).await.expect("user").user;
    let short = TokenRequest {
        lifespan: Some(Lifespan::new(Duration::hours(1)).expect("lifespan")),
        ..TokenRequest::default()
    };
    let expired = auth.issue(&user.id, short).await.expect("issue");
    clock.advance(Duration::hours(2));
    for _ in 0..others {
        auth.issue(&user.id, TokenRequest::default())
            .await
            .expect("issue");
    }
    let valid = auth
        .issue(&user.id, TokenRequest::default())
        .await
        .expect("issue")
        .token
        .expose_secret()
        .to_owned();
    let mut garbage = valid.clone();
    let last = garbage.pop().expect("a token is not empty");
    garbage.push(if last == 'A' { 'B' } else { 'A' });
    AuthenticateFixture {
        valid,
        expired: expired.token.expose_secret().to_owned(),
        unknown: auth.format().generate().expose_secret().to_owned(),
        garbage,
    }
}
