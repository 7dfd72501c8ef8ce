//! The conformance suites (crate `tokenauth-conformance`), run against the in-memory
//! store and directory, and the in-process revocation bus.

mod tokens {
    tokenauth_conformance::token_store_conformance!(async { tokenauth_core::MemoryStore::new() });
}

mod users {
    tokenauth_conformance::user_directory_conformance!(async { tokenauth_core::MemoryUserDirectory::new() });
}

mod token_import {
    tokenauth_conformance::bulk_import_conformance!(tokens: async { tokenauth_core::MemoryStore::new() });
}

mod user_import {
    tokenauth_conformance::bulk_import_conformance!(users: async { tokenauth_core::MemoryUserDirectory::new() });
}

mod local_bus {
    tokenauth_conformance::revocation_bus_conformance!(async {
        let bus = tokenauth_core::LocalBus::default();
        tokenauth_conformance::BusPair {
            publisher: bus.clone(),
            subscriber: bus,
        }
    });
}
