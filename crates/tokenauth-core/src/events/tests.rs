//! The log's rate limit.

use time::macros::datetime;

use super::*;

fn failed(ip: [u8; 4], username: Option<&str>) -> AuthEvent {
    AuthEvent::LoginFailed {
        username: username.map(str::to_owned),
        ip: Some(IpAddr::from(ip)),
    }
}

#[test]
fn a_repeated_event_is_logged_a_few_times_per_window_then_counted() {
    let limiter = LogLimiter::default();
    let start = datetime!(2026-01-01 0:00 UTC);
    let event = failed([10, 0, 0, 1], Some("alice"));
    let logged: Vec<Option<u64>> = (0..8).map(|_| limiter.admit(&event, start)).collect();
    assert_eq!(
        logged,
        [Some(0), Some(0), Some(0), Some(0), Some(0), None, None, None]
    );
    // Another source has its own budget.
    assert_eq!(
        limiter.admit(&failed([10, 0, 0, 2], Some("alice")), start),
        Some(0)
    );
    assert_eq!(limiter.admit(&failed([10, 0, 0, 1], None), start), Some(0));
    // The next window logs again, with the count of what was left out.
    let later = start + Duration::minutes(1);
    assert_eq!(limiter.admit(&event, later), Some(3));
    assert_eq!(limiter.admit(&event, later), Some(0));
}

#[test]
fn throttled_logins_are_limited_per_address() {
    let limiter = LogLimiter::default();
    let start = datetime!(2026-01-01 0:00 UTC);
    let throttled = |ip: [u8; 4]| AuthEvent::LoginThrottled {
        ip: Some(IpAddr::from(ip)),
    };
    let logged = (0..100)
        .filter(|_| limiter.admit(&throttled([10, 0, 0, 1]), start).is_some())
        .count();
    assert_eq!(logged, LOG_BURST as usize);
    assert_eq!(limiter.admit(&throttled([10, 0, 0, 2]), start), Some(0));
    // Its own budget, apart from failed logins from the same address.
    assert_eq!(limiter.admit(&failed([10, 0, 0, 1], None), start), Some(0));
    let later = start + Duration::minutes(1);
    assert_eq!(limiter.admit(&throttled([10, 0, 0, 1]), later), Some(95));
}

#[test]
fn events_a_client_cannot_repeat_are_always_logged() {
    let limiter = LogLimiter::default();
    let start = datetime!(2026-01-01 0:00 UTC);
    let event = AuthEvent::LimitReached {
        user_id: UserId::new("1"),
        max: 1,
        rejected: true,
    };
    assert!((0..100).all(|_| limiter.admit(&event, start) == Some(0)));
}

#[test]
fn the_table_of_sources_is_bounded() {
    let limiter = LogLimiter::default();
    let start = datetime!(2026-01-01 0:00 UTC);
    let mut logged = 0;
    for n in 0..(LOG_SOURCES as u32 + 100) {
        if limiter.admit(&failed(n.to_be_bytes(), None), start).is_some() {
            logged += 1;
        }
    }
    // Every source of the full table, then one shared budget for the rest.
    assert_eq!(logged, LOG_SOURCES + LOG_BURST as usize);
    assert_eq!(limiter.windows.lock().unwrap().len(), LOG_SOURCES + 1);
    // A new window frees the table.
    let later = start + Duration::minutes(1);
    assert_eq!(limiter.admit(&failed([1, 2, 3, 4], None), later), Some(0));
    assert_eq!(limiter.windows.lock().unwrap().len(), 1);
}
