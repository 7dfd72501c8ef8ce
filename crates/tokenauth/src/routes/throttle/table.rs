//! The bounded key table behind each of the login throttle's limits.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::Rate;

/// Keys remembered per limit (the per-username table and the per-address table each).
///
/// A key is forgotten once its bucket is full again: each check looks at the two keys
/// looked at longest ago, and a new key that finds the table full looks at up to 32
/// more, so no check walks the whole table. A new key that still finds no room is not
/// remembered, and that limit does not apply to it until room is made (a warning is
/// logged, at most once a minute): a username that does not fit is still limited by
/// its address, an address that does not fit by the username. Nobody is throttled
/// because a table is full.
///
/// Usernames are remembered by a keyed 64-bit hash (a random key per process), so
/// their length costs nothing. Memory is bounded: a table of 100,000 keys holds at
/// most 131,072 hash slots and a queue of 131,072 keys, about 3.1 MiB for usernames
/// (16-byte slots, 8-byte queue entries, a control byte per slot) and 6.3 MiB for
/// addresses (32-byte slots, 17-byte queue entries): under 10 MiB in all.
pub const MAX_THROTTLE_KEYS: usize = 100_000;
/// Keys looked at by every check, to forget those whose bucket is full again.
const SWEEP_PER_CHECK: usize = 2;
/// Keys looked at, at most, by a check whose new key finds its table full.
const SWEEP_WHEN_FULL: usize = 32;
/// How often, at most, a full table is reported.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// One keyed limit: a token bucket per key (GCRA: a key's state is its theoretical
/// arrival time, in nanoseconds of the throttle's clock), in a bounded table.
pub(super) struct Table<K> {
    /// Nanoseconds per cell.
    interval: u64,
    /// How far ahead of now the arrival time may run (`burst - 1` cells).
    tolerance: u64,
    capacity: usize,
    /// `username` or `address`, for the warning.
    what: &'static str,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    /// Each remembered key's theoretical arrival time: its bucket is full again
    /// once that time has passed.
    arrivals: HashMap<K, u64>,
    /// Every remembered key once, the one looked at longest ago first.
    queue: VecDeque<K>,
    /// When a full table was last reported.
    warned: Option<u64>,
    /// Keys looked at by the sweeps, for the tests.
    visited: u64,
}

impl<K: Hash + Eq + Copy> Table<K> {
    pub(super) fn new(rate: Rate, capacity: usize, what: &'static str) -> Self {
        let (interval, tolerance) = rate.cells();
        Self {
            interval,
            tolerance,
            capacity,
            what,
            buckets: Mutex::new(Buckets {
                arrivals: HashMap::new(),
                queue: VecDeque::new(),
                warned: None,
                visited: 0,
            }),
        }
    }

    /// Spends one cell of `key`'s bucket at `now`, or tells how long until one is
    /// available. A key the full table has no room for passes: this limit does not
    /// apply to it.
    pub(super) fn check(&self, key: K, now: u64) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.sweep(now, SWEEP_PER_CHECK);
        if !buckets.arrivals.contains_key(&key) && buckets.arrivals.len() >= self.capacity {
            buckets.sweep(now, SWEEP_WHEN_FULL);
            if buckets.arrivals.len() >= self.capacity {
                self.warn_full(&mut buckets, now);
                return Ok(());
            }
        }
        let Buckets { arrivals, queue, .. } = &mut *buckets;
        let arrival = arrivals.entry(key).or_insert_with(|| {
            queue.push_back(key);
            now
        });
        let earliest = arrival.saturating_sub(self.tolerance);
        if now < earliest {
            return Err(Duration::from_nanos(earliest - now));
        }
        *arrival = (*arrival).max(now).saturating_add(self.interval);
        Ok(())
    }

    fn warn_full(&self, buckets: &mut Buckets<K>, now: u64) {
        let every = u64::try_from(WARN_EVERY.as_nanos()).unwrap_or(u64::MAX);
        if buckets.warned.is_none_or(|at| now.saturating_sub(at) >= every) {
            buckets.warned = Some(now);
            tracing::warn!(
                capacity = self.capacity,
                "login throttle: the per-{} table is full of recent keys; the per-{} limit does not apply to new ones until they age out",
                self.what,
                self.what,
            );
        }
    }
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    /// Looks at up to `count` of the keys looked at longest ago: forgets those whose
    /// bucket is full again and puts the others back at the end of the queue.
    fn sweep(&mut self, now: u64, count: usize) {
        for _ in 0..count.min(self.queue.len()) {
            let Some(key) = self.queue.pop_front() else { break };
            self.visited += 1;
            match self.arrivals.get(&key) {
                Some(&arrival) if arrival > now => self.queue.push_back(key),
                _ => {
                    self.arrivals.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use governor::clock::{Clock, FakeRelativeClock};

    use super::*;
    use crate::routes::ThrottleConfig;

    const TINY: usize = 100;

    fn rate() -> Rate {
        "user=1/min".parse::<ThrottleConfig>().unwrap().user.unwrap()
    }

    #[test]
    fn a_check_looks_at_a_bounded_number_of_keys() {
        let clock = FakeRelativeClock::default();
        let table = Table::new(rate(), TINY, "username");
        let visited = || table.buckets.lock().unwrap().visited;
        let mut most = 0;
        for key in 0..10 * TINY as u64 {
            let before = visited();
            let _ = table.check(key % (2 * TINY as u64), clock.now().as_u64());
            most = most.max(visited() - before);
            clock.advance(Duration::from_millis(100));
        }
        assert!(most <= (SWEEP_PER_CHECK + SWEEP_WHEN_FULL) as u64, "{most}");
        assert!(most > SWEEP_PER_CHECK as u64, "a full table was swept: {most}");
    }

    /// The figures in `MAX_THROTTLE_KEYS`' docs.
    #[test]
    fn a_full_table_stays_within_its_documented_memory() {
        fn bytes<K: Hash + Eq + Copy>(table: &Table<K>) -> usize {
            let buckets = table.buckets.lock().unwrap();
            // hashbrown: a power of two of slots, at most 7/8 full, a control byte each.
            let slots = (buckets.arrivals.capacity() * 8 / 7).next_power_of_two();
            slots * (size_of::<(K, u64)>() + 1) + buckets.queue.capacity() * size_of::<K>()
        }
        let clock = FakeRelativeClock::default();
        let rate = rate();
        let users = Table::new(rate, MAX_THROTTLE_KEYS, "username");
        let addresses = Table::new(rate, MAX_THROTTLE_KEYS, "address");
        for n in 0..2 * MAX_THROTTLE_KEYS {
            let now = clock.now().as_u64();
            let _ = users.check(n as u64, now);
            let _ = addresses.check(IpAddr::from((n as u128).to_be_bytes()), now);
        }
        let mib = |bytes: usize| bytes as f64 / (1 << 20) as f64;
        assert!(mib(bytes(&users)) <= 3.2, "{}", mib(bytes(&users)));
        assert!(mib(bytes(&addresses)) <= 6.3, "{}", mib(bytes(&addresses)));
    }
}
