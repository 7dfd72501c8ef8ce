//! `TokenAuth::token_from_header` on arbitrary bytes: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth};

fuzz_target!(|header: &[u8]| {
    let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
    if let Ok(Some(token)) = auth.token_from_header(Some(header)) {
        assert!(!token.is_empty());
    }
});
