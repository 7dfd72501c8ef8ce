//! Scopes: what a token may be used for.

use std::fmt;

/// A set of scope names, kept sorted and without duplicates.
///
/// A scope name is printable ASCII without spaces, quotes or backslashes (OAuth 2's
/// `scope-token`), such as `read`, `write` or `billing:admin`.
///
/// ```
/// use tokenauth_core::Scopes;
///
/// let scopes = Scopes::parse("write read write").unwrap();
/// assert_eq!(scopes.to_string(), "read write");
/// assert!(scopes.contains("read"));
/// assert!(Scopes::parse("bad\"scope").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

/// A scope name with characters a scope cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {0:?}: scopes are printable ASCII without spaces, quotes or backslashes")]
pub struct InvalidScope(pub String);

impl Scopes {
    /// No scopes.
    pub fn none() -> Self {
        Self::default()
    }

    /// Scopes from names; each must be a valid scope name.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Result<Self, InvalidScope> {
        let mut names: Vec<String> = names.into_iter().map(Into::into).collect();
        if let Some(bad) = names.iter().find(|n| !is_scope_name(n)) {
            return Err(InvalidScope(bad.clone()));
        }
        names.sort();
        names.dedup();
        Ok(Self(names))
    }

    /// Scopes from a space-separated list, as in OAuth 2 (`"read write"`); also
    /// `"read write".parse::<Scopes>()`.
    pub fn parse(list: &str) -> Result<Self, InvalidScope> {
        Self::new(list.split_ascii_whitespace())
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| s.as_str().cmp(scope)).is_ok()
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    /// The first scope of `self` not in `other`.
    pub fn first_missing_from(&self, other: &Scopes) -> Option<&str> {
        self.0.iter().map(String::as_str).find(|s| !other.contains(s))
    }

    /// The scopes in both `self` and `other`.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Self(self.0.iter().filter(|s| other.contains(s)).cloned().collect())
    }

    /// The scopes in `self` or `other`.
    pub fn union(&self, other: &Scopes) -> Scopes {
        let mut names: Vec<String> = self.0.iter().chain(&other.0).cloned().collect();
        names.sort();
        names.dedup();
        Self(names)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

fn is_scope_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl std::str::FromStr for Scopes {
    type Err = InvalidScope;

    fn from_str(list: &str) -> Result<Self, InvalidScope> {
        Self::parse(list)
    }
}
