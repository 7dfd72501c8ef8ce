//! `TokenFormat::digest_if_well_formed` on arbitrary text: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenauth_core::TokenFormat;

fuzz_target!(|text: &str| {
    let _ = TokenFormat::default().digest_if_well_formed(text);
});
