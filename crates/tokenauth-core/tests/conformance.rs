//! The store conformance suite, run against the in-memory store.
//!
//! Needs the `testing` feature (`required-features` in `Cargo.toml`): run it with
//! `cargo test -p tokenauth-core --all-features`. `cargo test --workspace` also runs it,
//! because a store crate's dev-dependency on `tokenauth-core` with `testing` unifies the
//! feature into the workspace build.

tokenauth_core::token_store_conformance!(async { tokenauth_core::MemoryStore::new() });
