//! No username oracle by timing: a failed login costs about what an unknown user's
//! does, whatever the user's stored hash (every format this hasher reads, a malformed
//! one, one over the caps), under the hasher a server uses once Django users are
//! imported (`upgrading_hasher` with `with_dummy_of(DjangoHashers::new())`: the dummy is
//! Django's PBKDF2 at 1,000,000).
//!
//! Two checks: the dummy work counted (deterministic), and wall-clock medians over
//! interleaved rounds compared with a wide tolerance (0.5x to 3x of an unknown user's
//! median), so that a noisy shared machine does not make it flaky. Formats cheaper
//! than the dummy are padded to about 1x; costlier ones are not shortened (Django's
//! bcrypt_sha256 at cost 12 measured 1.7x to 1.9x here). Without the
//! fix, a malformed hash answers at once and an argon2id user (tens of milliseconds)
//! costs a tenth of an unknown one; a hash claiming 4 TiB aborts the process.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokenauth_core::store::{LoginRecord, UserDirectory};
use tokenauth_core::{MemoryStore, ObtainError, PasswordHasher, TokenAuth, TokenRequest, User, UserId};
use tokenauth_django::hashers::{DjangoHashers, upgrading_hasher};

/// (username, stored hash, runs the dummy): one user per format; the hashes are
/// Django 5.2.19's own (`django_hashers.rs`), of `<name>-password`.
const USERS: [(&str, &str, bool); 11] = [
    (
        "alice",
        "pbkdf2_sha256$1000000$GFwPxN19r3r8XNRFcHemmr$1HneijTUSsOJWWd8TdrN+esbZ5dd1X9UodWBkpiFuO4=",
        false,
    ),
    (
        "bob",
        "pbkdf2_sha256$600000$sB3FO2nLpheFYSRn2xJhyC$y/CU9XIRMOlinOqIF1UeCGdBwJr4khicVge5eHrHAms=",
        false,
    ),
    (
        "carol",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$dGtGSzBpWmE5Q2RPTFRna0JNRDNaSw$LcVQznKXGO0MwXrgqgvlNYaALB1+rEDs30K9G2Fl4Qs",
        false,
    ),
    (
        "dave",
        "bcrypt_sha256$$2b$12$M.axf4ayQ2PS7qdcZBP26.3OAjdmC3SbBTH8XSfWJa8EnSzuTnfne",
        false,
    ),
    (
        "erin",
        "pbkdf2_sha1$1000000$RQmhLuiWXhRwEPBHMhSRbt$pZ45sH5HDgQuamnBaQkRG1lz4eM=",
        false,
    ),
    (
        "frank",
        "scrypt$16384$Cxd6EnW1XPERkoHQ4CPIbK$8$5$egstnDX6SsRy6pvz7jj+XFbGiS4qe1W29DE2sh/gR/+zikS2nFBxiMYXFTV3DoeMC1NZQvpEQlWGBmd37GxJaQ==",
        false,
    ),
    // tokenauth's own argon2id (OWASP), filled in by `directory`.
    ("native", "", false),
    ("unusable", "!9zBPrA0NHtY6zSkWJ78R5vvbMlNOUSVXDfJUQy32", false),
    ("malformed", "pbkdf2_sha256$many$salt$aGFzaA==", true),
    (
        "huge-argon2",
        "$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg",
        true,
    ),
    ("long-pbkdf2", "pbkdf2_sha256$20000000$salt$aGFzaA==", true),
];

const ROUNDS: usize = 4;

/// A read-only directory of fixed users and hashes.
struct Fixed(HashMap<String, LoginRecord<User>>);

impl UserDirectory for Fixed {
    type User = User;
    type Error = std::convert::Infallible;

    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Self::Error> {
        Ok(self.0.values().find(|l| &l.user.id == id).map(|l| l.user.clone()))
    }

    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Self::Error> {
        Ok(self.0.get(username).map(|l| LoginRecord {
            user: l.user.clone(),
            password_hash: l.password_hash.clone(),
        }))
    }
}

async fn directory() -> Fixed {
    let native = PasswordHasher::new().hash("native-password").await.unwrap();
    let users = USERS.iter().zip(1..).map(|(&(name, hash, _), id)| {
        let user = User {
            id: UserId::from(id),
            username: name.to_owned(),
            is_active: true,
            credential_version: 0,
        };
        let password_hash = if hash.is_empty() {
            native.clone()
        } else {
            hash.to_owned()
        };
        (name.to_owned(), LoginRecord { user, password_hash })
    });
    Fixed(users.collect())
}

/// How long a wrong password for `username` takes to be refused.
async fn failed_login(auth: &TokenAuth<MemoryStore, Fixed>, username: &str) -> Duration {
    let started = Instant::now();
    let refused = auth.obtain(username, "wrong", TokenRequest::default()).await;
    assert!(
        matches!(refused, Err(ObtainError::InvalidCredentials)),
        "{username}: {refused:?}"
    );
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_costs_what_an_unknown_users_does_whatever_the_stored_hash() {
    let hasher = upgrading_hasher()
        .with_dummy_of(DjangoHashers::new())
        .with_slots(1);
    let auth = TokenAuth::new(MemoryStore::new(), directory().await).with_password_hasher(hasher.clone());
    // Times the dummy (the median of its last runs: three forget a slow first one).
    for _ in 0..3 {
        failed_login(&auth, "nobody").await;
    }

    let mut times: HashMap<&str, Vec<Duration>> = HashMap::new();
    for round in 0..ROUNDS {
        let dummies = hasher.dummy_verifications();
        times
            .entry("nobody")
            .or_default()
            .push(failed_login(&auth, "nobody").await);
        for (name, _, _) in USERS {
            times
                .entry(name)
                .or_default()
                .push(failed_login(&auth, name).await);
        }
        // Counted work: the unknown user and each unusable hash ran the dummy itself.
        let expected = 1 + USERS.iter().filter(|(_, _, dummy)| *dummy).count() as u64;
        assert_eq!(hasher.dummy_verifications() - dummies, expected, "round {round}");
    }

    let unknown = median(times.remove("nobody").unwrap());
    eprintln!("unknown user: {unknown:?}");
    for (name, _, _) in USERS {
        let time = median(times.remove(name).unwrap());
        let ratio = time.as_secs_f64() / unknown.as_secs_f64();
        eprintln!("{name}: {time:?} ({ratio:.2}x)");
        assert!(
            (0.5..=3.0).contains(&ratio),
            "{name}: a failed login takes {time:?}, an unknown user's {unknown:?} ({ratio:.2}x)"
        );
    }
}
