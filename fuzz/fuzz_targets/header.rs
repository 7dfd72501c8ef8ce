//! `TokenAuth::token_from_header` on arbitrary bytes: never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokenauth_core::{MemoryStore, MemoryUserDirectory, TokenAuth};

/// Built once: a service makes a dummy password hash when it is created.
fn auth() -> &'static TokenAuth<MemoryStore, MemoryUserDirectory> {
    static AUTH: OnceLock<TokenAuth<MemoryStore, MemoryUserDirectory>> = OnceLock::new();
    AUTH.get_or_init(|| TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()))
}

fuzz_target!(|header: &[u8]| {
    if let Ok(Some(token)) = auth().token_from_header(Some(header)) {
        assert!(!token.is_empty());
    }
});
