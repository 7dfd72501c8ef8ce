//! Reading the token out of an `Authorization` header, by DRF's rules.

use crate::error::AuthError;
use crate::service::TokenAuth;

/// The words of a header value, split as Python's `bytes.split()` splits: on ASCII
/// whitespace, vertical tab included, runs collapsed.
fn words(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header
        .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|w| !w.is_empty())
}

impl<S, D> TokenAuth<S, D> {
    /// Reads the token out of an `Authorization` header value, following DRF's rules:
    /// split on ASCII whitespace; another scheme (or no header) is `Ok(None)`
    /// (anonymous); then the DRF header errors, in DRF's order.
    pub fn token_from_header<'h>(&self, header: Option<&'h [u8]>) -> Result<Option<&'h str>, AuthError> {
        let Some(header) = header else { return Ok(None) };
        if self.keyword_of(Some(header)).is_none() {
            return Ok(None);
        }
        let mut words = words(header).skip(1);
        let token = match (words.next(), words.next()) {
            (None, _) => return Err(AuthError::NoCredentials),
            (Some(_), Some(_)) => return Err(AuthError::ContainsSpaces),
            (Some(token), None) => token,
        };
        std::str::from_utf8(token)
            .map(Some)
            .map_err(|_| AuthError::InvalidCharacters)
    }

    /// The configured keyword an `Authorization` header value starts with (compared
    /// case-insensitively), as configured; `None` for no header or another scheme, which
    /// are anonymous. Says which scheme a client speaks, well-formed or not.
    ///
    /// ```
    /// # use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth};
    /// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    /// assert_eq!(auth.keyword_of(Some(b"bearer a b")), Some("Bearer"));
    /// assert_eq!(auth.keyword_of(Some(b"Basic YWxp")), None);
    /// ```
    pub fn keyword_of(&self, header: Option<&[u8]>) -> Option<&str> {
        let keyword = words(header?).next()?;
        self.config
            .keywords
            .iter()
            .find(|k| k.as_bytes().eq_ignore_ascii_case(keyword))
            .map(String::as_str)
    }
}
