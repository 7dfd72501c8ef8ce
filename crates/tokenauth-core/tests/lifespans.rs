//! Per-token lifespans: a token asks for a shorter life than the configured lifespan,
//! never a longer one; lowering the lifespan applies to existing tokens; expiries
//! saturate at the edges of the calendar.

mod common;

use time::Duration;
use tokenauth_core::{IssueError, Lifespan, ObtainError};

use common::{
    MICRO, PASSWORD, START, add_user, assert_err, is_expired, issue, lifespan_request, service, span, stored,
    stored_ids, works,
};

#[tokio::test]
async fn a_seven_day_token_dies_after_seven_days_while_the_default_lives_on() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;

    let week = auth.issue(&alice, lifespan_request("7d")).await.unwrap();
    let default = issue(&auth, &alice).await;
    assert_eq!(week.info.created, START);
    assert_eq!(week.info.expires, START + Duration::days(7));
    assert_eq!(default.info.expires, START + Duration::days(30));
    assert_eq!(
        stored(&auth, &week.info.id).await.expires,
        Some(START + Duration::days(7))
    );
    assert_eq!(stored(&auth, &default.info.id).await.expires, None);

    clock.advance(Duration::days(7));
    works(&auth, &week).await;
    clock.advance(MICRO);
    is_expired(&auth, &week).await;
    works(&auth, &default).await;

    clock.set(START + Duration::days(30));
    works(&auth, &default).await;
    clock.advance(MICRO);
    is_expired(&auth, &default).await;
}

#[tokio::test]
async fn a_lifespan_longer_than_the_maximum_is_refused_naming_it() {
    let (auth, _clock) = service();
    let alice = add_user(&auth, "alice").await;

    let message = "Ensure the lifespan is at most 30d (2592000 seconds).";
    match auth.issue(&alice, lifespan_request("60d")).await {
        Err(err @ IssueError::LifespanTooLong { max }) => {
            assert_eq!(max, Lifespan::DEFAULT);
            assert_eq!(err.to_string(), message);
            assert!(err.to_string().contains("30d"));
        }
        other => panic!("expected LifespanTooLong, got {other:?}"),
    }
    assert_err!(
        auth.obtain("alice", PASSWORD, lifespan_request("60d")).await,
        ObtainError::Issue(IssueError::LifespanTooLong { .. }),
        message,
    );
    assert!(stored_ids(&auth, &alice).await.is_empty());

    // Exactly the maximum is allowed.
    let max = auth.issue(&alice, lifespan_request("30d")).await.unwrap();
    assert_eq!(max.info.expires, START + Duration::days(30));

    // The maximum follows the configured lifespan.
    let short = auth.clone().with_lifespan(span("12h"));
    assert_err!(
        short.issue(&alice, lifespan_request("1d")).await,
        IssueError::LifespanTooLong { .. },
        "Ensure the lifespan is at most 12h (43200 seconds).",
    );
}

#[tokio::test]
async fn lowering_the_lifespan_applies_retroactively() {
    let (auth, clock) = service();
    let alice = add_user(&auth, "alice").await;
    let default = issue(&auth, &alice).await;
    let week = auth.issue(&alice, lifespan_request("7d")).await.unwrap();

    clock.advance(Duration::days(2));
    let lowered = auth.clone().with_lifespan(span("1d"));
    assert_eq!(lowered.policy().lifespan(), span("1d"));
    assert_eq!(auth.policy().lifespan(), Lifespan::DEFAULT);

    is_expired(&lowered, &default).await;
    is_expired(&lowered, &week).await;
    works(&auth, &default).await;
    works(&auth, &week).await;

    let info = lowered.info(&stored(&lowered, &week.info.id).await);
    assert_eq!(info.expires, START + Duration::days(1));
}

/// Stored and caller-supplied times at the edges of the calendar never make
/// arithmetic panic: expiries saturate.
#[tokio::test]
async fn times_at_the_edges_of_the_calendar_do_not_panic() {
    let last = time::PrimitiveDateTime::MAX.assume_utc();
    let first = time::PrimitiveDateTime::MIN.assume_utc();
    let (auth, clock) = service();
    let auth = auth.with_idle_timeout(Some(span("1d")));
    let alice = add_user(&auth, "alice").await;
    // Issued a second before the end of time, with a lifespan of its own.
    clock.set(last - Duration::seconds(1));
    let issued = auth.issue(&alice, lifespan_request("1d")).await.unwrap();
    assert_eq!(issued.info.expires, last);
    works(&auth, &issued).await;
    // The purge's bounds, from either end.
    assert_eq!(auth.purge(Duration::days(36_500), 10, |_| {}).await.unwrap(), 0);
    clock.set(first);
    assert_eq!(auth.purge(Duration::days(36_500), 10, |_| {}).await.unwrap(), 0);
    let error = auth.authenticate(issued.token.expose_secret(), None).await;
    assert!(error.is_ok(), "created in the future, so not expired: {error:?}");
}
