//! The user-directory suite of `tokenauth-conformance` on Django's `auth_user`.

/// Runs each case of the user-directory suite that Django's `auth_user` can meet, one
/// after the other, each on a fresh database without users from `$fresh` (an
/// expression giving a future of the directory and a guard that keeps its database
/// until the case ends): the read-only half, and the admin cases.
///
/// Left out, for Django has no credential-version column (a user's version is a
/// digest of its password hash; see the crate docs, "Password changes"):
/// `create_then_find` (a new user at version 0), `bumped_versions_never_repeat` (a
/// bump cannot change the version without a new password),
/// `rehash_replaces_only_the_expected_hash` and `outdated_hashes_are_replaced_on_login`
/// (a re-hash keeps the version). The suite declares no capabilities of a directory
/// yet that would skip them itself.
macro_rules! directory_suite {
    ($fresh:expr) => {
        $crate::common::conformance::directory_suite!(@each $fresh;
            seeded: seeded_users_are_found, logins_match_usernames_exactly,
                unknown_ids_find_nobody, seeded_logins_verify_through_core;
            admin: usernames_match_exactly, create_refuses_a_taken_username,
                unknown_users_find_nothing, set_password_hash_changes_the_credential_version,
                set_active_toggles, list_users_is_ordered_by_username,
                deleted_users_are_gone_and_their_ids_never_return,
                concurrent_creates_of_one_username_make_one_user, logins_verify_through_core,
                upsert_keeps_tokens_for_the_same_password
        )
    };
    (@each $fresh:expr; seeded: $($seeded:ident),+; admin: $($admin:ident),+) => {{
        $({
            let (directory, _database) = $fresh.await;
            tokenauth_conformance::$seeded(tokenauth_conformance::seed(directory).await).await;
        })+
        $({
            let (directory, _database) = $fresh.await;
            tokenauth_conformance::$admin(directory).await;
        })+
    }};
}

pub(crate) use directory_suite;

/// Deletes every user of a Django database: their tokens, groups and permissions,
/// then the users (for `sqlx::raw_sql`).
pub const DELETE_EVERY_USER: &str = r#"DELETE FROM "authtoken_token";
    DELETE FROM "auth_user_groups";
    DELETE FROM "auth_user_user_permissions";
    DELETE FROM "auth_user";"#;
