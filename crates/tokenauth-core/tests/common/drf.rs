//! The fixture of the tests that check the rules of the original (DRF's
//! `TokenAuthentication` + `djangorestframework-expiring-authtoken`), as written down in
//! `drf-wire.md`: their clock starts a microsecond past midnight.

use time::OffsetDateTime;
use time::macros::datetime;
use tokenauth_core::{ManualClock, UserId};

use super::{Auth, PASSWORD};

pub(crate) const START: OffsetDateTime = datetime!(2026-01-01 00:00:00.000001 UTC);

/// A service with the defaults, an empty store and directory, and a stopped clock.
pub(crate) fn service() -> (Auth, ManualClock) {
    super::service_at(START)
}

/// [`service`] with one active user, alice.
pub(crate) async fn service_with_alice() -> (Auth, ManualClock, UserId) {
    let (auth, clock) = service();
    let alice = auth.users().add_user("alice", PASSWORD, true).await.unwrap();
    (auth, clock, alice)
}
