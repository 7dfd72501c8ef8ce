//! The key layout. Every key starts with the configured prefix; the part in braces is
//! the hash tag, which decides the cluster slot:
//!
//! | key                       | type   | holds                                         |
//! |---------------------------|--------|-----------------------------------------------|
//! | `P:{u:USER}`              | hash   | the user's token set: `v` (version), `r:ID` (record), `u:ID` (last use) |
//! | `P:{d:DIGEST}`            | string | `ID:USER`: where the record with this digest is |
//! | `P:{i:ID}`                | string | `USER`: where the record with this id is      |
//! | `P:retention`             | string | the retention (ms, or `none`) the keys were written with |
//!
//! and the revocation channel `P:revocations`.

use tokenauth_core::store::TokenDigest;
use tokenauth_core::{TokenId, UserId};

use crate::Error;

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`, which must not contain braces (they would move the hash tag).
    pub(crate) fn new(prefix: &str) -> Result<Self, Error> {
        if prefix.is_empty() || prefix.contains(['{', '}']) || prefix.chars().any(char::is_whitespace) {
            return Err(Error::Prefix);
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash holding `user`'s token set.
    pub(crate) fn user(&self, user: &UserId) -> String {
        format!("{}:{{u:{}}}", self.prefix, escape(user.as_str()))
    }

    /// The pointer from a digest to its record.
    pub(crate) fn digest(&self, digest: &TokenDigest) -> String {
        let mut key = format!("{}:{{d:", self.prefix);
        for byte in digest.as_bytes() {
            key.push_str(&format!("{byte:02x}"));
        }
        key.push('}');
        key
    }

    /// The pointer from a token id to its user.
    pub(crate) fn id(&self, id: &TokenId) -> String {
        format!("{}:{{i:{}}}", self.prefix, id.as_str())
    }

    /// The retention the keys were written with.
    pub(crate) fn retention(&self) -> String {
        format!("{}:retention", self.prefix)
    }

    /// The revocation channel.
    pub(crate) fn channel(&self) -> String {
        format!("{}:revocations", self.prefix)
    }

    /// The channel a bus's heartbeats travel on, `nonce` naming the bus.
    pub(crate) fn heartbeat_channel(&self, nonce: &str) -> String {
        format!("{}:heartbeat:{nonce}", self.prefix)
    }

    /// A `SCAN MATCH` pattern for every user hash.
    pub(crate) fn users_pattern(&self) -> String {
        format!("{}:{{u:*", glob_escape(&self.prefix))
    }

    /// A `SCAN MATCH` pattern for every hash-tagged key under the prefix (users,
    /// digests, ids): `PREFIX:{*`, not `PREFIX:*`, which would also match the keys of
    /// a deployment whose prefix merely starts with `PREFIX:`. The one untagged key,
    /// [`retention`](Self::retention), is handled by name.
    pub(crate) fn all_pattern(&self) -> String {
        format!("{}:{{*", glob_escape(&self.prefix))
    }
}

/// A user id as it appears in a key: kept as is when it is made of letters, digits and
/// `-_.@`, percent-encoded byte by byte otherwise, so that no id can close the hash
/// tag or look like another key, and two ids never share a key.
fn escape(id: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@');
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if plain(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `text` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_cannot_escape_the_hash_tag() {
        let keys = Keys::new("app:tokens").unwrap();
        assert_eq!(keys.user(&UserId::new("42")), "app:tokens:{u:42}");
        assert_eq!(keys.user(&UserId::new("a}b{c")), "app:tokens:{u:a%7Db%7Bc}");
        assert_eq!(keys.user(&UserId::new("%41")), "app:tokens:{u:%2541}");
        assert_ne!(keys.user(&UserId::new("A")), keys.user(&UserId::new("%41")));
    }

    #[test]
    fn prefixes_with_braces_or_spaces_are_refused() {
        for bad in ["", "a{b", "a}b", "a b"] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_escape_the_prefix() {
        let keys = Keys::new("t*[x]").unwrap();
        assert_eq!(keys.users_pattern(), r"t\*\[x\]:{u:*");
        assert_eq!(keys.all_pattern(), r"t\*\[x\]:{*");
    }
}
