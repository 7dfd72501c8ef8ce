//! What a store declares it holds ([`Capabilities`]), and a directory
//! ([`DirectoryCapabilities`]), checked both ways: a case runs only on a store or
//! directory that declares everything it needs, and in its place, for each capability
//! declared lacking, the suite checks that it really is. The `declared_*` cases check
//! each declaration, held or lacking, on every store and directory.

use std::net::IpAddr;

use time::Duration;

use tokenauth_core::store::{
    Capabilities, Committed, DirectoryCapabilities, TokenRecord, TokenStore, UserAdmin,
};
use tokenauth_core::{Scopes, User};

use crate::StoreSubject;
use crate::subject::{insert, version};
use crate::tokens::BASE;
use crate::upkeep::{last_use, use_of};

/// What the cases about a user's several tokens need.
pub(crate) const SEVERAL_TOKENS: Capabilities = Capabilities {
    several_tokens_per_user: true,
    ..Capabilities::NONE
};

/// One field of [`Capabilities`].
#[derive(Debug, Clone, Copy)]
enum Capability {
    SeveralTokensPerUser,
    Names,
    Scopes,
    OwnLifespans,
    Usage,
    CredentialVersions,
    GivenIds,
}

impl Capability {
    const EVERY: [Self; 7] = [
        Self::SeveralTokensPerUser,
        Self::Names,
        Self::Scopes,
        Self::OwnLifespans,
        Self::Usage,
        Self::CredentialVersions,
        Self::GivenIds,
    ];

    /// Whether `capabilities` holds this one.
    fn of(self, capabilities: &Capabilities) -> bool {
        match self {
            Self::SeveralTokensPerUser => capabilities.several_tokens_per_user,
            Self::Names => capabilities.names,
            Self::Scopes => capabilities.scopes,
            Self::OwnLifespans => capabilities.own_lifespans,
            Self::Usage => capabilities.usage,
            Self::CredentialVersions => capabilities.credential_versions,
            Self::GivenIds => capabilities.given_ids,
        }
    }
}

impl<S: TokenStore, D: UserAdmin> StoreSubject<S, D> {
    /// The subject back, if its store declares everything `needed` holds; otherwise
    /// `None`, once the store is shown to really lack what it declares lacking of
    /// `needed` (the case cannot run on it).
    pub(crate) async fn needs(self, needed: Capabilities) -> Option<Self> {
        let holds = self.holds();
        if holds.covers(&needed) {
            return Some(self);
        }
        for capability in Capability::EVERY {
            if capability.of(&needed) && !capability.of(&holds) {
                check(&self, capability, false).await;
            }
        }
        None
    }
}

/// Checks that the store holds `capability` if `held`, and really lacks it otherwise.
async fn check<S: TokenStore, D: UserAdmin>(s: &StoreSubject<S, D>, capability: Capability, held: bool) {
    match capability {
        Capability::SeveralTokensPerUser => several_tokens_per_user(s, held).await,
        Capability::Names => names(s, held).await,
        Capability::Scopes => {
            let scopes = Scopes::parse("read write").expect("valid scopes");
            kept_or_refused(s, held, "scoped", |rec| rec.scopes = scopes.clone()).await;
        }
        Capability::OwnLifespans => {
            let expiring = |rec: &mut TokenRecord| rec.expires = Some(rec.created + Duration::hours(1));
            kept_or_refused(s, held, "expiring", expiring).await;
        }
        Capability::Usage => usage(s, held).await,
        Capability::CredentialVersions => credential_versions(s, held).await,
        Capability::GivenIds => given_ids(s, held).await,
    }
}

/// A second token of a user is added beside the first; a store of one token per user
/// answers [`Committed::Conflict`] and keeps the first (DRF's: its `user_id` is
/// unique), so that core reads again and decides with the token it holds.
async fn several_tokens_per_user<S: TokenStore, D: UserAdmin>(s: &StoreSubject<S, D>, held: bool) {
    let user = s.user("several").await;
    let first = s.add(s.record(&user, 0)).await;
    let before = version(s.store(), &user.id).await;
    let second = s.record(&user, 1);
    let committed = insert(s.store(), &second).await.expect("commit");
    let listed = s.store().list(Some(&user.id)).await.expect("list");
    if held {
        assert_eq!(committed, Committed::Applied { ended: vec![] });
        assert_eq!(listed, vec![first, s.stored(second).await]);
    } else {
        assert_eq!(committed, Committed::Conflict, "a second token beside the first");
        assert_eq!(listed, vec![first], "the first token stays");
        assert_eq!(version(s.store(), &user.id).await, before);
    }
}

/// A token's name comes back, or, from a store without names, the token comes back
/// without one (a name only labels a token, so it is dropped rather than refused).
async fn names<S: TokenStore, D: UserAdmin>(s: &StoreSubject<S, D>, held: bool) {
    let user = s.user("named").await;
    let mut rec = s.record(&user, 0);
    rec.name = Some("a device".to_owned());
    let committed = insert(s.store(), &rec).await.expect("commit");
    assert_eq!(committed, Committed::Applied { ended: vec![] });
    let found = s.store().find_by_digest(&rec.digest).await.expect("find");
    let found = found.expect("stored");
    assert_eq!(found.name, rec.name.filter(|_| held), "a name is kept or dropped");
}

/// A record with the field `set` writes comes back with it, or, from a store that
/// cannot hold it, is refused (an error, nothing written). Scopes or an expiry
/// dropped would leave a token of other rights or a longer life than it was issued
/// with; DRF's table refuses both.
async fn kept_or_refused<S: TokenStore, D: UserAdmin>(
    s: &StoreSubject<S, D>,
    held: bool,
    username: &str,
    set: impl FnOnce(&mut TokenRecord),
) {
    let user = s.user(username).await;
    let mut rec = s.record(&user, 0);
    set(&mut rec);
    let committed = insert(s.store(), &rec).await;
    if held {
        assert_eq!(committed.expect("commit"), Committed::Applied { ended: vec![] });
        let stored = s.stored(rec).await;
        let found = s.store().find_by_id(&stored.id).await.expect("find");
        assert_eq!(found, Some(stored));
    } else {
        assert!(committed.is_err(), "a field the store cannot hold is refused");
        assert_eq!(s.store().list(Some(&user.id)).await.expect("list"), vec![]);
        assert_eq!(version(s.store(), &user.id).await, 0, "nothing written");
    }
}

/// A use is written, or, by a store without usage, not (and the call still succeeds).
async fn usage<S: TokenStore, D: UserAdmin>(s: &StoreSubject<S, D>, held: bool) {
    let user = s.user("used").await;
    let rec = s.add(s.record(&user, 0)).await;
    let (at, ip) = (BASE + Duration::minutes(5), IpAddr::from([192, 0, 2, 1]));
    let store = s.store();
    store
        .record_usage(&[use_of(&rec, at, Some(ip))])
        .await
        .expect("usage");
    let expected = if held { (Some(at), Some(ip)) } else { (None, None) };
    assert_eq!(last_use(store, &rec).await, expected, "a use is written or not");
}

/// A token keeps the credential version it was issued under, even one other than its
/// user's; a store without versions of its own reads its user's instead: it refuses
/// (a conflict, nothing written) a token issued under another version, so that a
/// login racing a password change mints nothing, and a token found carries its user's
/// version as it is now (after a re-hash, which DRF's user table sees as a new one).
async fn credential_versions<S: TokenStore, D: UserAdmin>(s: &StoreSubject<S, D>, held: bool) {
    let user = s.user("versioned").await;
    let mut rec = s.record(&user, 0);
    rec.credential_version = user.credential_version.wrapping_add(1);
    let committed = insert(s.store(), &rec).await.expect("commit");
    if held {
        assert_eq!(committed, Committed::Applied { ended: vec![] });
        let found = s.store().find_by_digest(&rec.digest).await.expect("find");
        assert_eq!(found.map(|r| r.credential_version), Some(rec.credential_version));
        return;
    }
    assert_eq!(committed, Committed::Conflict, "a token of another version");
    assert_eq!(s.store().list(Some(&user.id)).await.expect("list"), vec![]);

    let rec = s.add(s.record(&user, 1)).await;
    let users = s.users();
    let login = users.find_login(&user.username).await.expect("find");
    let old = login.expect("the user exists").password_hash;
    let new = crate::fast_hasher().hash("pw").await.expect("hash");
    assert!(users.rehash_password(&user.id, &old, &new).await.expect("rehash"));
    let now = users.find_user(&user.id).await.expect("find");
    let now = now.expect("the user exists").credential_version;
    let found = s.store().find_by_id(&rec.id).await.expect("find");
    assert_eq!(
        found.map(|r| r.credential_version),
        Some(now),
        "the user's version"
    );
}

/// A record keeps the id given, or, in a store that chooses its own (DRF's derives
/// one from the key), is found by another id only.
async fn given_ids<S: TokenStore, D: UserAdmin>(s: &StoreSubject<S, D>, held: bool) {
    let user = s.user("identified").await;
    let rec = s.record(&user, 0);
    let committed = insert(s.store(), &rec).await.expect("commit");
    assert_eq!(committed, Committed::Applied { ended: vec![] });
    let found = s.store().find_by_digest(&rec.digest).await.expect("find");
    let found = found.expect("stored");
    let by_given = s.store().find_by_id(&rec.id).await.expect("find");
    if held {
        assert_eq!(found.id, rec.id);
        assert_eq!(by_given, Some(found));
    } else {
        assert_ne!(found.id, rec.id, "the store chose the id");
        assert_eq!(by_given, None);
        let by_own = s.store().find_by_id(&found.id).await.expect("find");
        assert_eq!(by_own, Some(found));
    }
}

/// Generates a `declared_*` case per capability: the store holds it or lacks it, as
/// it declares.
macro_rules! declared {
    ($($name:ident: $capability:ident, $what:literal;)+) => {$(
        #[doc = concat!("The store holds ", $what, " or really lacks it, as it declares.")]
        pub async fn $name<S: TokenStore, D: UserAdmin>(s: StoreSubject<S, D>) {
            let held = Capability::$capability.of(&s.holds());
            check(&s, Capability::$capability, held).await;
        }
    )+};
}

declared! {
    declared_several_tokens_per_user: SeveralTokensPerUser, "several tokens per user";
    declared_names: Names, "names";
    declared_scopes: Scopes, "scopes";
    declared_own_lifespans: OwnLifespans, "lifespans of tokens' own";
    declared_usage: Usage, "the last use of tokens";
    declared_credential_versions: CredentialVersions, "the credential version each token was issued under";
    declared_given_ids: GivenIds, "the ids given";
}

/// `users` back, if it declares credential versions of its own; otherwise `None`, once
/// they are shown to follow the hash (the case cannot run on it).
pub(crate) async fn needs_own_versions<D: UserAdmin>(users: D) -> Option<D> {
    let needed = DirectoryCapabilities {
        credential_versions: true,
    };
    if users.directory_capabilities().covers(&needed) {
        return Some(users);
    }
    directory_versions(&users, false).await;
    None
}

/// The directory keeps credential versions of its own, or really derives them from the
/// hash, as it declares.
pub async fn declared_own_credential_versions<D: UserAdmin>(users: D) {
    let held = users.directory_capabilities().credential_versions;
    directory_versions(&users, held).await;
}

/// A version of the directory's own starts at 0, changes with a bump and with a new
/// hash (never to one it had), and stays through a re-hash; a version derived from the
/// hash (Django's) does none of these: it stays through a bump, changes with a re-hash,
/// and comes back with the hash it was derived from.
async fn directory_versions<D: UserAdmin>(users: &D, held: bool) {
    let hasher = crate::fast_hasher();
    let first = hasher.hash("pw").await.expect("hash");
    let alice = users.create_user("versions", &first, true).await.expect("create");
    let alice = alice.expect("a new username");
    if held {
        assert_eq!(alice.credential_version, 0, "a new user starts at 0");
    }
    let version = |user: Option<User>| user.expect("the user exists").credential_version;
    let bumped = version(users.bump_credential_version(&alice.id).await.expect("bump"));
    assert_eq!(
        bumped != alice.credential_version,
        held,
        "a bump changes only a version of its own"
    );
    let second = hasher.hash("pw").await.expect("hash");
    assert!(
        !users
            .rehash_password(&alice.id, "not the hash", &second)
            .await
            .expect("rehash")
    );
    assert_eq!(
        version(users.find_user(&alice.id).await.expect("find")),
        bumped,
        "no re-hash, no change"
    );
    assert!(
        users
            .rehash_password(&alice.id, &first, &second)
            .await
            .expect("rehash")
    );
    let rehashed = version(users.find_user(&alice.id).await.expect("find"));
    assert_eq!(
        rehashed == bumped,
        held,
        "a re-hash changes only a version of the hash's"
    );
    let back = version(users.set_password_hash(&alice.id, &first).await.expect("set"));
    let seen = [alice.credential_version, bumped, rehashed];
    if held {
        assert!(!seen.contains(&back), "a new hash, a version never had");
    } else {
        assert_eq!(
            back, alice.credential_version,
            "the first hash, the first version"
        );
    }
}
