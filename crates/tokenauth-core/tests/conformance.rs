//! The conformance suites, run against the in-memory store and directory.
//!
//! Needs the `testing` feature (`required-features` in `Cargo.toml`): run it with
//! `cargo test -p tokenauth-core --all-features`. `cargo test --workspace` also runs it,
//! because a store crate's dev-dependency on `tokenauth-core` with `testing` unifies the
//! feature into the workspace build.

mod tokens {
    tokenauth_core::token_store_conformance!(async { tokenauth_core::MemoryStore::new() });
}

mod users {
    tokenauth_core::user_directory_conformance!(async { tokenauth_core::MemoryUserDirectory::new() });
}

mod token_import {
    tokenauth_core::bulk_import_conformance!(tokens: async { tokenauth_core::MemoryStore::new() });
}

mod user_import {
    tokenauth_core::bulk_import_conformance!(users: async { tokenauth_core::MemoryUserDirectory::new() });
}
