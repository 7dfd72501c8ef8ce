//! The contracts every [`TokenStore`] and every [`UserAdmin`] directory of
//! [tokenauth](https://docs.rs/tokenauth) must meet, as tests a backend runs from its
//! own `tests/`. Add this crate as a dev-dependency (with `tokio`'s `macros` and
//! `rt-multi-thread`).
//!
//! Use [`token_store_conformance!`] with an expression that evaluates (asynchronously)
//! to a fresh, empty store, and [`user_directory_conformance!`] with one that evaluates
//! to a fresh, empty directory:
//!
//! ```
//! // In `tests/conformance.rs` of a backend crate:
//! mod tokens {
//!     tokenauth_conformance::token_store_conformance!(async { tokenauth_core::MemoryStore::new() });
//! }
//! mod users {
//!     tokenauth_conformance::user_directory_conformance!(async { tokenauth_core::MemoryUserDirectory::new() });
//! }
//! # fn main() {}
//! ```
//!
//! The token cases check the storage verbs and the compare-and-swap primitive, then the
//! policy applied through them under real concurrency (dozens of concurrent logins of
//! one user under a limit, `replace`, the cap on rows). The user cases check the admin
//! verbs, then the password rules core applies through them.
//!
//! A store over another program's tables (Django's) runs the token cases on a
//! [`StoreSubject`]: with its users in that program's users table, and its tokens in
//! the format it takes. A store or directory that declares it holds less
//! ([`Capabilities`], [`DirectoryCapabilities`]) runs every case its declaration
//! leaves, and, in place of the others, checks that it really lacks what it declares
//! lacking.
//!
//! [`TokenStore`]: tokenauth_core::store::TokenStore
//! [`UserAdmin`]: tokenauth_core::store::UserAdmin
//! [`Capabilities`]: tokenauth_core::store::Capabilities
//! [`DirectoryCapabilities`]: tokenauth_core::store::DirectoryCapabilities

mod bench;
mod bulk;
mod bus;
mod capabilities;
mod commits;
mod counting;
mod directory;
mod guarded;
mod policy;
mod settings;
mod subject;
mod tokens;
mod upkeep;
mod users;

pub use bench::{AuthenticateFixture, authenticate_bench_service, authenticate_fixture};
pub use bulk::*;
pub use bus::*;
pub use capabilities::{
    declared_credential_versions, declared_given_ids, declared_names, declared_own_credential_versions,
    declared_own_lifespans, declared_scopes, declared_several_tokens_per_user, declared_usage,
};
pub use commits::*;
pub use counting::CountingStore;
pub use directory::*;
pub use guarded::Guarded;
pub use policy::*;
pub use settings::*;
pub use subject::StoreSubject;
pub use tokens::*;
pub use upkeep::*;
pub use users::*;

use argon2::Params;

use tokenauth_core::PasswordHasher;

/// An argon2id hasher with the smallest parameters argon2 allows: the suites hash a
/// lot, and what they test does not depend on the cost. Never use it in production.
pub fn fast_hasher() -> PasswordHasher {
    PasswordHasher::with_params(Params::new(8, 1, 1, None).expect("valid argon2 parameters"))
}

/// Runs the whole token-store suite against a store: one `#[tokio::test]` per case,
/// each on a fresh [`StoreSubject`].
///
/// `token_store_conformance!(make)` takes an expression evaluating (asynchronously)
/// to a fresh, empty store, of tokenauth's own kind: its tokens' users live in memory
/// and its tokens are in tokenauth's format ([`StoreSubject::new`]).
/// `token_store_conformance!(subject: make)` takes one evaluating to a
/// [`StoreSubject`], for a store that needs its users in a directory of its own or
/// its tokens in another format. Attributes before either, ended by `;`, go on every
/// case: a backend that needs a server may write
/// `token_store_conformance!(#[ignore = "needs a server"]; make())`.
///
/// A case runs on a store that declares
/// ([`TokenStore::capabilities`](tokenauth_core::store::TokenStore::capabilities))
/// everything it needs; on another, it checks instead that the store really lacks
/// what it declares lacking of that. The `declared_*` cases check each declaration,
/// held or lacking, on every store.
///
/// The crate using it needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! token_store_conformance {
    (@cases [$($attr:tt)*] $subject:expr) => {
        $crate::conformance_cases!([$($attr)*] $subject;
            insert_then_find,
            optional_fields_round_trip,
            unknown_finds_nothing,
            expired_records_are_returned,
            duplicate_ids_are_refused,
            duplicate_digests_are_refused,
            lists_by_user_oldest_first,
            lists_across_users_oldest_first,
            delete_removes_from_every_lookup,
            delete_for_user_keeps_others,
            token_sets_start_at_version_zero,
            commit_is_a_compare_and_swap,
            commit_deletes_only_that_users_records,
            concurrent_commits_all_land,
            record_usage_keeps_the_latest,
            purge_deletes_only_matching_records_in_batches,
            purge_by_creation_deletes_in_batches,
            concurrent_logins_respect_the_limit,
            concurrent_logins_under_replace_leave_one_token,
            short_lived_logins_stay_under_the_row_cap,
            a_password_change_ends_older_tokens,
            declared_several_tokens_per_user,
            declared_names,
            declared_scopes,
            declared_own_lifespans,
            declared_usage,
            declared_credential_versions,
            declared_given_ids,
        );
    };
    ($(#[$attr:meta])+ ; subject: $subject:expr) => {
        $crate::token_store_conformance!(@cases [$(#[$attr])+] $subject);
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::token_store_conformance!(@cases [$(#[$attr])+] async { $crate::StoreSubject::new($make.await) });
    };
    (subject: $subject:expr) => {
        $crate::token_store_conformance!(@cases [] $subject);
    };
    ($make:expr) => {
        $crate::token_store_conformance!(@cases [] async { $crate::StoreSubject::new($make.await) });
    };
}

/// Runs the whole user-directory suite against a directory implementing
/// [`UserAdmin`](tokenauth_core::store::UserAdmin): one `#[tokio::test]` per case,
/// each with a fresh, empty directory from `$make` (an expression evaluating to a
/// future of it). Attributes before `$make`, ended by `;`, go on every case (as for
/// [`token_store_conformance!`]).
///
/// A case runs on a directory that declares
/// ([`UserAdmin::directory_capabilities`](tokenauth_core::store::UserAdmin::directory_capabilities))
/// everything it needs; on another, it checks instead that the directory really lacks
/// what it declares lacking of that. `declared_own_credential_versions` checks the
/// declaration, held or lacking, on every directory.
///
/// The crate using it needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! user_directory_conformance {
    (@cases [$($attr:tt)*] $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make;
            create_then_find,
            usernames_match_exactly,
            create_refuses_a_taken_username,
            unknown_users_find_nothing,
            set_password_hash_changes_the_credential_version,
            bumped_versions_never_repeat,
            set_active_toggles,
            list_users_is_ordered_by_username,
            deleted_users_are_gone_and_their_ids_never_return,
            rehash_replaces_only_the_expected_hash,
            concurrent_creates_of_one_username_make_one_user,
            logins_verify_through_core,
            outdated_hashes_are_replaced_on_login,
            upsert_keeps_tokens_for_the_same_password,
            declared_own_credential_versions,
        );
        $crate::read_only_directory_conformance!(@cases [$($attr)*] async { $crate::seed($make.await).await });
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::user_directory_conformance!(@cases [$(#[$attr])+] $make);
    };
    ($make:expr) => {
        $crate::user_directory_conformance!(@cases [] $make);
    };
}

/// Runs the read-only half of the user-directory suite against any
/// [`UserDirectory`](tokenauth_core::store::UserDirectory), one tokenauth may only read (the
/// application's own users table): one `#[tokio::test]` per case, each with a fresh
/// [`Seeded`] from `$make` (an expression evaluating to a future of it), holding
/// exactly [`SEEDED_USERS`]. [`user_directory_conformance!`] runs it too, seeding
/// through [`UserAdmin`](tokenauth_core::store::UserAdmin). Attributes before `$make`, ended
/// by `;`, go on every case.
///
/// ```
/// use tokenauth_conformance::{SEEDED_USERS, Seeded, fast_hasher};
/// use tokenauth_core::MemoryUserDirectory;
/// use tokenauth_core::store::UserAdmin;
///
/// /// The directory, holding the seeded users, put there by the application's own
/// /// means (here an in-memory directory; `tests/read_only.rs` of this crate runs a
/// /// read-only one).
/// async fn seeded() -> Seeded<MemoryUserDirectory> {
///     let (directory, hasher) = (MemoryUserDirectory::new(), fast_hasher());
///     for user in SEEDED_USERS {
///         let hash = hasher.hash(user.password).await.expect("hash");
///         directory.create_user(user.username, &hash, user.active).await.expect("create");
///     }
///     Seeded { directory, hasher }
/// }
///
/// tokenauth_conformance::read_only_directory_conformance!(seeded());
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! read_only_directory_conformance {
    (@cases [$($attr:tt)*] $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make;
            seeded_users_are_found,
            logins_match_usernames_exactly,
            unknown_ids_find_nobody,
            seeded_logins_verify_through_core,
        );
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::read_only_directory_conformance!(@cases [$(#[$attr])+] $make);
    };
    ($make:expr) => {
        $crate::read_only_directory_conformance!(@cases [] $make);
    };
}

/// Runs the bulk-import suite against a [`TokenImport`](tokenauth_core::store::TokenImport) store
/// (`tokens: $make`) or a [`UserImport`](tokenauth_core::store::UserImport) directory (`users: $make`),
/// with fresh values from `$make` as for
/// [`token_store_conformance!`]; attributes before the
/// kind, ended by `;`, go on every case.
#[macro_export]
macro_rules! bulk_import_conformance {
    (@cases [$($attr:tt)*] tokens: $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make; imports_skip_stored_tokens_and_move_versions);
    };
    (@cases [$($attr:tt)*] users: $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make; imports_create_each_username_once);
    };
    ($(#[$attr:meta])+ ; $kind:ident : $make:expr) => {
        $crate::bulk_import_conformance!(@cases [$(#[$attr])+] $kind: $make);
    };
    ($kind:ident : $make:expr) => {
        $crate::bulk_import_conformance!(@cases [] $kind: $make);
    };
}

/// Runs the revocation-bus suite against a [`RevocationBus`](tokenauth_core::store::RevocationBus):
/// one `#[tokio::test]` per case, each with a fresh [`BusPair`] from `$make` (an
/// expression evaluating to a future of it): two handles on one bus, as two processes
/// hold them. Attributes before `$make`, ended by `;`, go on every case (as for
/// [`token_store_conformance!`]).
///
/// ```
/// // In `tests/bus.rs` of a backend crate:
/// tokenauth_conformance::revocation_bus_conformance!(async {
///     let bus = tokenauth_core::LocalBus::default();
///     tokenauth_conformance::BusPair { publisher: bus.clone(), subscriber: bus }
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! revocation_bus_conformance {
    (@cases [$($attr:tt)*] $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make;
            both_handles_connect,
            every_kind_arrives,
            revocations_arrive_in_order,
            every_subscriber_hears,
            a_large_revocation_ends_every_token,
        );
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::revocation_bus_conformance!(@cases [$(#[$attr])+] $make);
    };
    ($make:expr) => {
        $crate::revocation_bus_conformance!(@cases [] $make);
    };
}

/// One `#[tokio::test]` per named case of this crate, each
/// with the attributes in brackets.
/// The [`Settings`](tokenauth_core::store::Settings) suite, on settings made fresh by
/// `$make` for each case (same forms as [`token_store_conformance!`]).
#[macro_export]
macro_rules! settings_conformance {
    (@cases [$($attr:tt)*] $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make; settings_are_replaced_and_read_by_exact_prefix);
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::settings_conformance!(@cases [$(#[$attr])+] $make);
    };
    ($make:expr) => {
        $crate::settings_conformance!(@cases [] $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! conformance_cases {
    ([$($attr:tt)*] $make:expr; $case:ident $(, $rest:ident)* $(,)?) => {
        $($attr)*
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            $crate::$case($make.await).await;
        }
        $crate::conformance_cases!([$($attr)*] $make; $($rest),*);
    };
    ([$($attr:tt)*] $make:expr;) => {};
}
