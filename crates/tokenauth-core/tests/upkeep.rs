//! The background upkeep: usage flushed on schedule and at shutdown, and the periodic
//! purge, under tokio's paused clock.

mod common;

use time::Duration;
use tokenauth_core::store::TokenStore;
use tokenauth_core::{DEFAULT_PURGE_GRACE, Maintenance};

use common::{MICRO, START, add_user, issue, lifespan_request, service, span, stored, works};

/// Lets the spawned upkeep task run until it waits again.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn maintenance_flushes_on_schedule_purges_and_flushes_on_shutdown() {
    let (auth, clock) = service();
    let auth = auth.with_refresh_interval(span("60s"));
    assert_eq!(auth.refresh_interval(), Duration::seconds(60));
    let alice = add_user(&auth, "alice").await;
    let token = issue(&auth, &alice).await;
    let doomed = auth.issue(&alice, lifespan_request("1h")).await.unwrap();

    let schedule = Maintenance {
        purge_interval: Some(span("1h")),
        purge_grace: DEFAULT_PURGE_GRACE,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let upkeep = tokio::spawn({
        let auth = auth.clone();
        async move {
            auth.run_maintenance(schedule, async {
                stopped.await.ok();
            })
            .await;
        }
    });
    settle().await; // the first ticks fire at once: nothing to do yet
    assert!(!upkeep.is_finished());

    clock.advance(Duration::seconds(10));
    works(&auth, &token).await;
    assert_eq!(auth.pending_usage(), 1);
    tokio::time::advance(std::time::Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(auth.pending_usage(), 1, "not yet a refresh interval");

    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    settle().await;
    assert_eq!(auth.pending_usage(), 0);
    assert_eq!(
        stored(&auth, &token.info.id).await.last_used,
        Some(START + Duration::seconds(10))
    );

    // The hourly purge removes the long-expired token.
    clock.set(START + Duration::hours(1) + DEFAULT_PURGE_GRACE + MICRO);
    assert!(auth.store().find_by_id(&doomed.info.id).await.unwrap().is_some());
    tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    settle().await;
    assert!(auth.store().find_by_id(&doomed.info.id).await.unwrap().is_none());

    // A use just before shutdown is written by the final flush.
    clock.set(START + Duration::days(1));
    works(&auth, &token).await;
    assert_eq!(auth.pending_usage(), 1);
    stop.send(()).unwrap();
    upkeep.await.unwrap();
    assert_eq!(auth.pending_usage(), 0);
    assert_eq!(
        stored(&auth, &token.info.id).await.last_used,
        Some(START + Duration::days(1))
    );
}
