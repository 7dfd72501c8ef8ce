//! The implementations core's trait docs show (`crates/tokenauth-core/doc/`), run
//! through the suites: an example a stranger copies is a store, directory or bus that
//! meets the contract.

mod vec_store {
    include!("../../tokenauth-core/doc/vec_store.rs");

    tokenauth_conformance::token_store_conformance!(async { VecStore::default() });

    mod import {
        tokenauth_conformance::bulk_import_conformance!(tokens: async { super::VecStore::default() });
    }
}

mod vec_users {
    include!("../../tokenauth-core/doc/vec_users.rs");

    tokenauth_conformance::user_directory_conformance!(async { VecUsers::default() });

    mod import {
        tokenauth_conformance::bulk_import_conformance!(users: async { super::VecUsers::default() });
    }
}

mod channel_bus {
    include!("../../tokenauth-core/doc/channel_bus.rs");

    tokenauth_conformance::revocation_bus_conformance!(async {
        let bus = ChannelBus::default();
        tokenauth_conformance::BusPair {
            publisher: bus.clone(),
            subscriber: bus,
        }
    });
}

mod map_settings {
    include!("../../tokenauth-core/doc/map_settings.rs");

    tokenauth_conformance::settings_conformance!(async { MapSettings::default() });
}
