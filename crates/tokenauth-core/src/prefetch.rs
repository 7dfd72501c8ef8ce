//! A user row read together with its token, handed from the store to the directory.

use std::any::Any;

/// Whatever a store read of a token's user in the same query as the token (DRF's
/// `select_related("user")`), for the directory that keeps that user to answer from,
/// instead of reading again: [`TokenStore::find_with_user_to_authenticate`] gives it,
/// [`UserDirectory::find_prefetched_user_to_authenticate`] takes it.
///
/// Its content is the two backends' business: a directory takes only what it knows
/// (its own row type, from its own database) and reads for itself otherwise. Since
/// the row comes from the read that found the token, it is as fresh as a second read
/// would be, and from the same snapshot.
///
/// `Debug` prints no content.
///
/// [`TokenStore::find_with_user_to_authenticate`]: crate::store::TokenStore::find_with_user_to_authenticate
/// [`UserDirectory::find_prefetched_user_to_authenticate`]: crate::store::UserDirectory::find_prefetched_user_to_authenticate
#[derive(Default)]
pub struct PrefetchedUser(Option<Box<dyn Any + Send + Sync>>);

impl PrefetchedUser {
    /// Nothing prefetched: the directory reads.
    pub fn none() -> Self {
        Self(None)
    }

    /// `row`, for the directory that knows its type.
    pub fn new<T: Any + Send + Sync>(row: T) -> Self {
        Self(Some(Box::new(row)))
    }

    /// Whether anything was prefetched.
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// The row, if it is a `T`.
    pub fn take<T: Any>(self) -> Option<T> {
        self.0?.downcast::<T>().ok().map(|row| *row)
    }
}

impl std::fmt::Debug for PrefetchedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PrefetchedUser")
            .field(&if self.is_some() { "some" } else { "none" })
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_taken_back_only_as_its_own_type() {
        assert_eq!(PrefetchedUser::new(42_i64).take::<i64>(), Some(42));
        assert_eq!(PrefetchedUser::new(42_i64).take::<u64>(), None);
        assert_eq!(PrefetchedUser::none().take::<i64>(), None);
        assert_eq!(
            format!("{:?}", PrefetchedUser::new("secret")),
            r#"PrefetchedUser("some")"#
        );
    }
}
