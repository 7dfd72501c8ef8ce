//! Reading the token out of an `Authorization` header, by DRF's rules.

use crate::error::AuthError;
use crate::service::TokenAuth;

impl<S, D> TokenAuth<S, D> {
    /// Reads the token out of an `Authorization` header value, following DRF's rules:
    /// split on ASCII whitespace; another scheme (or no header) is `Ok(None)`
    /// (anonymous); then the DRF header errors, in DRF's order.
    pub fn token_from_header<'h>(&self, header: Option<&'h [u8]>) -> Result<Option<&'h str>, AuthError> {
        let Some(header) = header else { return Ok(None) };
        // Python's `bytes.split()`: ASCII whitespace, including vertical tab.
        let mut words = header
            .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
            .filter(|w| !w.is_empty());
        let Some(keyword) = words.next() else {
            return Ok(None);
        };
        if !self
            .config
            .keywords
            .iter()
            .any(|k| k.as_bytes().eq_ignore_ascii_case(keyword))
        {
            return Ok(None);
        }
        let token = match (words.next(), words.next()) {
            (None, _) => return Err(AuthError::NoCredentials),
            (Some(_), Some(_)) => return Err(AuthError::ContainsSpaces),
            (Some(token), None) => token,
        };
        std::str::from_utf8(token)
            .map(Some)
            .map_err(|_| AuthError::InvalidCharacters)
    }
}
