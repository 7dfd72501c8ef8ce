//! What the suites of `tokenauth-conformance` need on a Django database.

use tokenauth_conformance::StoreSubject;
use tokenauth_core::TokenFormat;
use tokenauth_core::store::{TokenStore, UserAdmin};

/// Deletes every user of a Django database: their tokens, groups and permissions,
/// then the users (for `sqlx::raw_sql`).
pub const DELETE_EVERY_USER: &str = r#"DELETE FROM "authtoken_token";
    DELETE FROM "auth_user_groups";
    DELETE FROM "auth_user_user_permissions";
    DELETE FROM "auth_user";"#;

/// The token-store suite's subject: DRF's table (`store`), whose tokens' users are
/// rows of `auth_user` (`users`, on the same database, without users) and whose
/// tokens are DRF's keys.
pub fn store_subject<S: TokenStore, D: UserAdmin>(store: S, users: D) -> StoreSubject<S, D> {
    StoreSubject::new(store)
        .with_users(users)
        .with_format(TokenFormat::drf())
}
