//! The read-only half of the user-directory suite: what any [`UserDirectory`] must do,
//! including one tokenauth may only read (the application's own `users` table), on
//! users the test put there beforehand ([`SEEDED_USERS`]).

use tokenauth_core::store::{UserAdmin, UserDirectory};
use tokenauth_core::{AuthUser, MemoryStore, PasswordHasher, TokenAuth, TokenRequest, UserId};

/// A user a read-only directory's test puts in the directory before each case.
#[derive(Debug, Clone, Copy)]
pub struct SeededUser {
    /// The exact username (the login).
    pub username: &'static str,
    /// The password whose hash the directory holds.
    pub password: &'static str,
    /// Whether the user is active.
    pub active: bool,
}

/// The users a read-only directory holds for the suite: exactly these, with hashes of
/// these passwords that the [`Seeded::hasher`] verifies.
pub const SEEDED_USERS: &[SeededUser] = &[
    SeededUser {
        username: "alice",
        password: "alice-password",
        active: true,
    },
    SeededUser {
        username: "zoë",
        password: "zoë-password",
        active: true,
    },
    SeededUser {
        username: "mallory",
        password: "mallory-password",
        active: false,
    },
];

/// A directory holding exactly [`SEEDED_USERS`], and the hasher that verifies their
/// stored hashes (the application's own, for a directory of its own).
#[derive(Debug)]
pub struct Seeded<D> {
    /// The directory under test.
    pub directory: D,
    /// A hasher that verifies the hashes the directory holds.
    pub hasher: PasswordHasher,
}

/// Seeds a directory tokenauth may administer, through [`UserAdmin`], with hashes of
/// the fast test hasher: how the full suite runs the read-only half too.
pub async fn seed<D: UserAdmin>(directory: D) -> Seeded<D> {
    let hasher = super::fast_hasher();
    for user in SEEDED_USERS {
        let hash = hasher.hash(user.password).await.expect("hash");
        directory
            .create_user(user.username, &hash, user.active)
            .await
            .expect("create")
            .expect("a fresh directory");
    }
    Seeded { directory, hasher }
}

/// Every seeded user is found for login by its exact username, with its active flag,
/// and by the id found there.
pub async fn seeded_users_are_found<D: UserDirectory>(seeded: Seeded<D>) {
    let users = &seeded.directory;
    for seed in SEEDED_USERS {
        let login = users
            .find_login(seed.username)
            .await
            .expect("find")
            .unwrap_or_else(|| panic!("{} is found for login", seed.username));
        assert_eq!(login.user.username(), seed.username);
        assert_eq!(login.user.is_active(), seed.active, "{}", seed.username);
        let by_id = users
            .find_user(&login.user.id())
            .await
            .expect("find")
            .unwrap_or_else(|| panic!("{} is found by id", seed.username));
        assert_eq!(
            (by_id.id(), by_id.username(), by_id.is_active()),
            (login.user.id(), seed.username, seed.active)
        );
    }
}

/// Logins match the username exactly: case-sensitive, not trimmed, no Unicode folding.
pub async fn logins_match_usernames_exactly<D: UserDirectory>(seeded: Seeded<D>) {
    for missing in ["ALICE", "Alice", " alice", "alice ", "zoe", "ZOË", ""] {
        let found = seeded.directory.find_login(missing).await.expect("find");
        assert!(found.is_none(), "{missing:?} finds nobody");
    }
}

/// Ids nobody has, malformed or near a real one, find nothing; and the directory
/// answers a readiness probe.
pub async fn unknown_ids_find_nobody<D: UserDirectory>(seeded: Seeded<D>) {
    let users = &seeded.directory;
    let alice = users
        .find_login("alice")
        .await
        .expect("find")
        .expect("found")
        .user
        .id();
    for id in [
        String::new(),
        "abc".into(),
        "-1".into(),
        format!("0{alice}"),
        format!("{alice} "),
        format!("{alice}0"),
    ] {
        let found = users.find_user(&UserId::new(id.as_str())).await.expect("find");
        assert!(found.is_none(), "{id:?} finds nobody");
    }
    users.ping().await.expect("the directory answers");
}

/// Logins through core: a seeded active user's password issues a token that
/// authenticates as that user; a wrong password, an unknown user, a username of
/// another case and an inactive user are refused alike.
pub async fn seeded_logins_verify_through_core<D: UserDirectory>(seeded: Seeded<D>) {
    let auth = TokenAuth::new(MemoryStore::new(), seeded.directory).with_password_hasher(seeded.hasher);
    for seed in SEEDED_USERS.iter().filter(|seed| seed.active) {
        let issued = auth
            .obtain(seed.username, seed.password, TokenRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{} logs in: {e}", seed.username));
        let verified = auth
            .authenticate(issued.token.expose_secret(), None)
            .await
            .expect("authenticate");
        assert_eq!(verified.user.username(), seed.username);
    }
    for (username, password) in [
        ("alice", "wrong"),
        ("nobody", "alice-password"),
        ("Alice", "alice-password"),
        ("mallory", "mallory-password"),
    ] {
        let error = auth
            .obtain(username, password, TokenRequest::default())
            .await
            .expect_err("refused");
        assert_eq!(error.to_string(), "Unable to log in with provided credentials.");
    }
}
