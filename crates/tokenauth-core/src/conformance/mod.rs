//! The contracts every [`TokenStore`] and every [`UserAdmin`] directory must meet, as
//! tests each backend runs from its own `tests/`.
//!
//! Use [`token_store_conformance!`](crate::token_store_conformance) with an expression
//! that evaluates (asynchronously) to a fresh, empty store, and
//! [`user_directory_conformance!`](crate::user_directory_conformance) with one that
//! evaluates to a fresh, empty directory:
//!
//! ```
//! // In `tests/conformance.rs` of a backend crate:
//! mod tokens {
//!     tokenauth_core::token_store_conformance!(async { tokenauth_core::MemoryStore::new() });
//! }
//! mod users {
//!     tokenauth_core::user_directory_conformance!(async { tokenauth_core::MemoryUserDirectory::new() });
//! }
//! # fn main() {}
//! ```
//!
//! The token cases check the storage verbs and the compare-and-swap primitive, then the
//! policy applied through them under real concurrency (dozens of concurrent logins of
//! one user under a limit, `replace`, the cap on rows). The user cases check the admin
//! verbs, then the password rules core applies through them.
//!
//! [`TokenStore`]: crate::TokenStore
//! [`UserAdmin`]: crate::UserAdmin

mod bench;
mod bulk;
mod counting;
mod tokens;
mod users;

pub use bench::{AuthenticateFixture, authenticate_bench_service, authenticate_fixture};
pub use bulk::*;
pub use counting::CountingStore;
pub use tokens::*;
pub use users::*;

use argon2::Params;

use crate::password::PasswordHasher;

/// An argon2id hasher with the smallest parameters argon2 allows: the suites hash a
/// lot, and what they test does not depend on the cost. Never use it in production.
pub fn fast_hasher() -> PasswordHasher {
    PasswordHasher::with_params(Params::new(8, 1, 1, None).expect("valid argon2 parameters"))
}

/// Runs the whole token-store suite against a store: one `#[tokio::test]` per case,
/// each with a fresh store from `$make` (an expression evaluating to a future of the
/// store). Attributes before `$make`, ended by `;`, go on every case: a backend that
/// needs a server may write
/// `token_store_conformance!(#[ignore = "needs a server"]; make())`.
///
/// The crate using it needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! token_store_conformance {
    (@cases [$($attr:tt)*] $make:expr) => {
        $crate::conformance_cases!([$($attr)*] $make;
            insert_then_find,
            optional_fields_round_trip,
            unknown_finds_nothing,
            expired_records_are_returned,
            duplicates_are_refused,
            lists_by_user_oldest_first,
            delete_removes_from_every_lookup,
            delete_for_user_keeps_others,
            token_sets_start_at_version_zero,
            commit_is_a_compare_and_swap,
            commit_deletes_only_that_users_records,
            concurrent_commits_all_land,
            record_usage_keeps_the_latest,
            purge_deletes_only_matching_records_in_batches,
            concurrent_logins_respect_the_limit,
            concurrent_logins_under_replace_leave_one_token,
            short_lived_logins_stay_under_the_row_cap,
            a_password_change_ends_older_tokens,
        );
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::token_store_conformance!(@cases [$(#[$attr])+] $make);
    };
    ($make:expr) => {
        $crate::token_store_conformance!(@cases [] $make);
    };
}

/// Runs the whole user-directory suite against a directory implementing
/// [`UserAdmin`](crate::UserAdmin): one `#[tokio::test]` per case, each with a fresh,
/// empty directory from `$make` (an expression evaluating to a future of it).
/// Attributes before `$make`, ended by `;`, go on every case (as for
/// [`token_store_conformance!`](crate::token_store_conformance)).
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
        );
    };
    ($(#[$attr:meta])+ ; $make:expr) => {
        $crate::user_directory_conformance!(@cases [$(#[$attr])+] $make);
    };
    ($make:expr) => {
        $crate::user_directory_conformance!(@cases [] $make);
    };
}

/// Runs the bulk-import suite against a [`TokenImport`](crate::TokenImport) store
/// (`tokens: $make`) or a [`UserImport`](crate::UserImport) directory (`users: $make`),
/// with fresh values from `$make` as for
/// [`token_store_conformance!`](crate::token_store_conformance); attributes before the
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

/// One `#[tokio::test]` per named case of [`conformance`](crate::conformance), each
/// with the attributes in brackets.
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_cases {
    ([$($attr:tt)*] $make:expr; $case:ident $(, $rest:ident)* $(,)?) => {
        $($attr)*
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            $crate::conformance::$case($make.await).await;
        }
        $crate::conformance_cases!([$($attr)*] $make; $($rest),*);
    };
    ([$($attr:tt)*] $make:expr;) => {};
}
