//! The user table's primary key, as the schema types it: how a user id is stored,
//! read, bound, generated, and named in a token id.
//!
//! Core's [`UserId`] is text. Here it is the key's own spelling: an integer in
//! decimal (`42`), a UUID in Django's usual form, lowercase `8-4-4-4-12` (as
//! `str(user.pk)` prints it, on every database: SQLite's `char(32)` of 32 hex digits
//! is read into that form and written back without the dashes).

use sha2::{Digest as _, Sha256};
use tokenauth_core::{TokenId, UserId};

use crate::dialect::Arg;

/// How the primary key is stored, from its column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `integer`, `bigint` (Django's `AutoField`, `BigAutoField`).
    Integer,
    /// PostgreSQL's and MariaDB's `uuid` (Django's `UUIDField` there; on MariaDB
    /// since 10.7 and Django 5.0).
    Uuid,
    /// `char(32)`: 32 lowercase hex digits (Django's `UUIDField` on SQLite and MySQL).
    HexUuid,
}

/// A user's key as a statement binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredKey {
    Int(i64),
    Text(String),
}

impl StoredKey {
    pub(crate) fn arg(&self) -> Arg<'_> {
        match self {
            Self::Int(value) => Arg::Int(*value),
            Self::Text(value) => Arg::Text(value),
        }
    }
}

/// The characters of a token id (`TokenId`: 22 ASCII letters and digits).
const ID_LEN: usize = 22;
/// The hex digits of a UUID a token id holds: its first 64 bits, enough to find the
/// user by a range on the `user_id` index.
const UUID_PREFIX: usize = 16;

impl KeyKind {
    /// The kind of a column whose type the catalogue spells `type_name`; `None` for a
    /// type tokenauth does not read as a Django key.
    pub(crate) fn of_type(type_name: &str) -> Option<Self> {
        match type_name.to_ascii_lowercase().as_str() {
            "integer" | "bigint" | "smallint" | "int" | "int4" | "int8" => Some(Self::Integer),
            "uuid" => Some(Self::Uuid),
            "char(32)" => Some(Self::HexUuid),
            _ => None,
        }
    }

    /// SQL reading the key column `column` as core's text form.
    pub(crate) fn read(self, column: &str) -> String {
        match self {
            Self::Integer | Self::Uuid => format!("CAST({column} AS TEXT)"),
            Self::HexUuid => format!(
                "lower(substr({column}, 1, 8) || '-' || substr({column}, 9, 4) || '-' || \
                 substr({column}, 13, 4) || '-' || substr({column}, 17, 4) || '-' || substr({column}, 21, 12))"
            ),
        }
    }

    /// SQL of parameter `$n` compared with or written to a key column.
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            Self::Uuid => format!("CAST(${n} AS uuid)"),
            Self::Integer | Self::HexUuid => format!("${n}"),
        }
    }

    /// The stored key of user `id`; `None` for an id that is not this kind's own
    /// spelling (`010` is not user 10, an uppercase UUID not its lowercase one), so
    /// that a user has one id.
    pub(crate) fn stored(self, id: &UserId) -> Option<StoredKey> {
        let text = id.as_str();
        match self {
            Self::Integer => {
                let number: i64 = text.parse().ok()?;
                (number.to_string() == text).then_some(StoredKey::Int(number))
            }
            Self::Uuid => canonical_uuid(text).then(|| StoredKey::Text(text.to_owned())),
            Self::HexUuid => canonical_uuid(text).then(|| StoredKey::Text(text.replace('-', ""))),
        }
    }

    /// A new key for a user, where the database does not make one: a random UUID (v4,
    /// as Django's `uuid.uuid4` default), in its stored form.
    pub(crate) fn generate(self) -> Option<StoredKey> {
        let uuid = uuid::Uuid::new_v4();
        match self {
            Self::Integer => None,
            Self::Uuid => Some(StoredKey::Text(uuid.hyphenated().to_string())),
            Self::HexUuid => Some(StoredKey::Text(uuid.simple().to_string())),
        }
    }

    /// The public id of the token `key` of user `user`. DRF has no id column; this
    /// one is derived, reveals nothing usable about the key, changes with every new
    /// key, and names the user so that finding it is one lookup on the `user_id`
    /// index: an integer user's decimal id, `Z`, then lowercase hex of SHA-256(key);
    /// a UUID user's first 16 hex digits, then that hex; 22 characters in all.
    pub(crate) fn token_id(self, user: &UserId, key: &str) -> TokenId {
        let named = match self {
            Self::Integer => format!("{user}Z"),
            Self::Uuid | Self::HexUuid => user.as_str().replace('-', ""),
        };
        let take = if self == Self::Integer {
            ID_LEN
        } else {
            UUID_PREFIX
        };
        // (Rows are checked when read: the filter only keeps an id an id.)
        let mut id: String = named
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(take)
            .collect();
        for byte in Sha256::digest(key.as_bytes()) {
            if id.len() >= ID_LEN {
                break;
            }
            id.push_str(&format!("{byte:02x}"));
        }
        id.truncate(ID_LEN);
        id.parse()
            .expect("digits, Z and hex are ASCII letters and digits")
    }

    /// The stored keys between which lies the user a token id names (one key for an
    /// integer; the UUIDs sharing its first 64 bits whose variant digit, the 17th, lies
    /// in `variants`); `None` for an id not made here.
    pub(crate) fn user_range(self, id: &TokenId, variants: (char, char)) -> Option<(StoredKey, StoredKey)> {
        let text = id.as_str();
        match self {
            Self::Integer => {
                let (user, _) = text.split_once('Z')?;
                let key = self.stored(&UserId::new(user))?;
                Some((key.clone(), key))
            }
            Self::Uuid | Self::HexUuid => {
                let prefix = text.get(..UUID_PREFIX)?;
                if !prefix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return None;
                }
                let bound = |variant: char, fill: char| {
                    let rest = fill.to_string().repeat(32 - UUID_PREFIX - 1);
                    let hex = format!("{prefix}{variant}{rest}");
                    let hyphenated = format!(
                        "{}-{}-{}-{}-{}",
                        &hex[..8],
                        &hex[8..12],
                        &hex[12..16],
                        &hex[16..20],
                        &hex[20..]
                    );
                    self.stored(&UserId::new(hyphenated))
                };
                Some((bound(variants.0, '0')?, bound(variants.1, 'f')?))
            }
        }
    }
}

/// Whether `text` is a UUID in lowercase `8-4-4-4-12` form.
fn canonical_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6f1c1a2e-8b0d-4c3a-9f5e-2d7b8c9a0e1f";
    const ANY: (char, char) = ('0', 'f');
    const KEY: &str = "c218a4606fa3bb321c24908f39f21bd17624f918";

    #[test]
    fn integer_ids_keep_their_form() {
        let kind = KeyKind::Integer;
        let id = kind.token_id(&UserId::new("2147483647"), KEY);
        assert!(id.as_str().starts_with("2147483647Z"));
        assert_eq!(
            kind.user_range(&id, ANY),
            Some((StoredKey::Int(2_147_483_647), StoredKey::Int(2_147_483_647)))
        );
        assert_eq!(kind.stored(&UserId::new("-3")), Some(StoredKey::Int(-3)));
        for other in ["010", "+10", " 10", "10 ", "ten", "", UUID] {
            assert_eq!(kind.stored(&UserId::new(other)), None, "{other:?}");
        }
    }

    #[test]
    fn uuid_ids_name_a_range_holding_their_user() {
        for (kind, low, high) in [
            (
                KeyKind::Uuid,
                "6f1c1a2e-8b0d-4c3a-0000-000000000000",
                "6f1c1a2e-8b0d-4c3a-ffff-ffffffffffff",
            ),
            (
                KeyKind::HexUuid,
                "6f1c1a2e8b0d4c3a0000000000000000",
                "6f1c1a2e8b0d4c3affffffffffffffff",
            ),
        ] {
            let id = kind.token_id(&UserId::new(UUID), KEY);
            assert_eq!(id.as_str().len(), 22);
            assert!(id.as_str().starts_with("6f1c1a2e8b0d4c3a"));
            assert_ne!(
                id,
                kind.token_id(&UserId::new(UUID), "7da792dcf1f761496e6287da519a91bf26192232")
            );
            let range = kind.user_range(&id, ANY).unwrap();
            assert_eq!(range, (StoredKey::Text(low.into()), StoredKey::Text(high.into())));
            assert_eq!(
                kind.user_range(&"ZZZZZZZZZZZZZZZZZZZZZZ".parse().unwrap(), ANY),
                None
            );
        }
        assert_eq!(
            KeyKind::HexUuid.stored(&UserId::new(UUID)),
            Some(StoredKey::Text("6f1c1a2e8b0d4c3a9f5e2d7b8c9a0e1f".into()))
        );
        for other in [
            "6F1C1A2E-8B0D-4C3A-9F5E-2D7B8C9A0E1F",
            "6f1c1a2e8b0d4c3a9f5e2d7b8c9a0e1f",
            "42",
        ] {
            assert_eq!(KeyKind::Uuid.stored(&UserId::new(other)), None, "{other}");
        }
    }

    #[test]
    fn rfc_variant_bounds_keep_the_variant_digit() {
        let id = KeyKind::Uuid.token_id(&UserId::new(UUID), KEY);
        let range = KeyKind::Uuid.user_range(&id, ('8', 'b')).unwrap();
        let low = StoredKey::Text("6f1c1a2e-8b0d-4c3a-8000-000000000000".into());
        let high = StoredKey::Text("6f1c1a2e-8b0d-4c3a-bfff-ffffffffffff".into());
        assert_eq!(range, (low, high));
    }

    #[test]
    fn generated_keys_are_stored_forms_of_v4_uuids() {
        let Some(StoredKey::Text(hex)) = KeyKind::HexUuid.generate() else {
            panic!()
        };
        assert_eq!(hex.len(), 32);
        assert_eq!(&hex[12..13], "4");
        let Some(StoredKey::Text(native)) = KeyKind::Uuid.generate() else {
            panic!()
        };
        assert!(canonical_uuid(&native));
        assert_eq!(KeyKind::Integer.generate(), None);
    }
}
