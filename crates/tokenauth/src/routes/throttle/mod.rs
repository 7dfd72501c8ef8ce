//! Brute-force protection for the obtain endpoint: token buckets per username and per
//! client address (the GCRA, on a `governor` clock), with bounded key tables.

mod table;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};

pub use table::MAX_THROTTLE_KEYS;
use table::Table;

/// One limit: `count` logins per `period`, in bursts of at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    period: Duration,
    burst: NonZeroU32,
}

impl Rate {
    /// `count` logins per `period`, in bursts of up to `burst` (a token bucket of
    /// `burst` that refills one every `period / count`).
    pub fn new(count: NonZeroU32, period: Duration, burst: NonZeroU32) -> Self {
        Self { count, period, burst }
    }

    /// The nanoseconds between two cells and the tolerance before the bucket is
    /// empty (`burst - 1` cells), as the GCRA counts them.
    fn cells(&self) -> (u64, u64) {
        let interval = (self.period / self.count.get()).max(Duration::from_nanos(1));
        let interval = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        (interval, interval.saturating_mul(u64::from(self.burst.get() - 1)))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            86400 => "d",
            _ => return write!(f, "{}/{}s:{}", self.count, self.period.as_secs(), self.burst),
        };
        write!(f, "{}/{unit}:{}", self.count, self.burst)
    }
}

/// The limits of a [`LoginThrottle`], as written in `--login-throttle`:
///
/// - `off`: no throttling (for test rigs, or behind a proxy that throttles);
/// - otherwise a comma-separated list of `user=RATE` (per username) and `ip=RATE` (per
///   client address); a limit not listed does not apply. `RATE` is `N/UNIT` or
///   `N/UNIT:BURST`: `N` logins per `UNIT` (`s`, `min`, `h` or `d`), in bursts of up to
///   `BURST` (default `N`).
///
/// The default, [`ThrottleConfig::default`], is `user=5/min:10,ip=300/min:100`:
///
/// - per username, a burst of 10 attempts, then one every 12 s: a person who mistypes
///   a password a few times never notices, while guessing is held to 7,200 passwords
///   a day per account;
/// - per address, a burst of 100, then 5 a second: an office of a few dozen people
///   behind one address can all log in at once, while one address cannot spread
///   guesses over many accounts faster than that.
///
/// ```
/// use tokenauth::routes::ThrottleConfig;
///
/// let config: ThrottleConfig = "user=5/min:10,ip=300/min:100".parse().unwrap();
/// assert_eq!(config, ThrottleConfig::default());
/// assert_eq!(config.to_string(), "user=5/min:10,ip=300/min:100");
/// assert_eq!("off".parse::<ThrottleConfig>().unwrap(), ThrottleConfig::off());
/// assert!("user=0/min".parse::<ThrottleConfig>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// The limit per username.
    pub user: Option<Rate>,
    /// The limit per client address.
    pub ip: Option<Rate>,
}

impl ThrottleConfig {
    /// No throttling.
    pub fn off() -> Self {
        Self { user: None, ip: None }
    }
}

impl Default for ThrottleConfig {
    /// `user=5/min:10,ip=300/min:100`; see the type's docs for why.
    fn default() -> Self {
        let n = |n: u32| NonZeroU32::new(n).expect("not zero");
        let minute = Duration::from_secs(60);
        Self {
            user: Some(Rate::new(n(5), minute, n(10))),
            ip: Some(Rate::new(n(300), minute, n(100))),
        }
    }
}

impl fmt::Display for ThrottleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.user, self.ip) {
            (None, None) => f.write_str("off"),
            (Some(user), None) => write!(f, "user={user}"),
            (None, Some(ip)) => write!(f, "ip={ip}"),
            (Some(user), Some(ip)) => write!(f, "user={user},ip={ip}"),
        }
    }
}

/// A `--login-throttle` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid login throttle {0:?}: expected `off` or a list such as `user=5/min:10,ip=300/min:100` (N/UNIT[:BURST], UNIT s, min, h or d, N and BURST at least 1)"
)]
pub struct InvalidThrottle(String);

impl FromStr for ThrottleConfig {
    type Err = InvalidThrottle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidThrottle(s.to_owned());
        if s.trim() == "off" {
            return Ok(Self::off());
        }
        let mut config = Self::off();
        for item in s.split(',') {
            let (key, rate) = item.split_once('=').ok_or_else(invalid)?;
            let slot = match key.trim() {
                "user" => &mut config.user,
                "ip" => &mut config.ip,
                _ => return Err(invalid()),
            };
            if slot
                .replace(parse_rate(rate.trim()).ok_or_else(invalid)?)
                .is_some()
            {
                return Err(invalid());
            }
        }
        Ok(config)
    }
}

fn parse_rate(rate: &str) -> Option<Rate> {
    let (rate, burst) = match rate.split_once(':') {
        Some((rate, burst)) => (rate, Some(burst.parse::<NonZeroU32>().ok()?)),
        None => (rate, None),
    };
    let (count, unit) = rate.split_once('/')?;
    let count = count.parse::<NonZeroU32>().ok()?;
    let period = match unit {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        _ => return None,
    };
    Some(Rate::new(
        count,
        Duration::from_secs(period),
        burst.unwrap_or(count),
    ))
}

/// Limits logins per username and per client address, before any password work: a
/// login over either limit gets 429 `{"detail": "Request was throttled. Expected
/// available in N seconds."}` with `Retry-After: N` (DRF's throttling answer) and costs
/// no hash. Every attempt that reaches the password check counts, whatever its outcome,
/// so a correct password resets nothing: not the attacker's budget for other usernames,
/// nor the address's.
///
/// Configure it on the obtain routes with
/// [`Routes::with_login_throttle`](super::Routes::with_login_throttle); the default is
/// [`ThrottleConfig::default`]. A request whose client address is unknown (see
/// [`Routes::with_client_ip`](super::Routes::with_client_ip)) is limited per username
/// only.
///
/// The per-username limit applies to the real user too: an attacker guessing one
/// account's password makes its owner wait as well (at most until the bucket refills,
/// 12 s per attempt by default). That is the price of any per-account limit.
///
/// Cheap to clone: clones share their buckets.
#[derive(Clone)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    limits: Option<Arc<dyn Check>>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    /// [`ThrottleConfig::default`].
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

impl LoginThrottle {
    /// A throttle with `config`'s limits, on the monotonic clock.
    pub fn new(config: ThrottleConfig) -> Self {
        Self::with_clock(config, DefaultClock::default())
    }

    /// No throttling.
    pub fn off() -> Self {
        Self::new(ThrottleConfig::off())
    }

    /// A throttle on another `governor` clock: tests pass a
    /// `governor::clock::FakeRelativeClock` and advance it instead of sleeping.
    pub fn with_clock<C>(config: ThrottleConfig, clock: C) -> Self
    where
        C: Clock + Clone + Send + Sync + 'static,
        C::Instant: Send + Sync,
    {
        Self::with_capacity(config, clock, MAX_THROTTLE_KEYS)
    }

    /// A throttle whose tables each remember at most `capacity` keys.
    fn with_capacity<C>(config: ThrottleConfig, clock: C, capacity: usize) -> Self
    where
        C: Clock + Clone + Send + Sync + 'static,
        C::Instant: Send + Sync,
    {
        let limits = (config.user.is_some() || config.ip.is_some()).then(|| {
            Arc::new(Limits {
                user: config.user.map(|rate| Table::new(rate, capacity, "username")),
                ip: config.ip.map(|rate| Table::new(rate, capacity, "address")),
                usernames: RandomState::new(),
                start: clock.now(),
                clock,
            }) as Arc<dyn Check>
        });
        Self { config, limits }
    }

    /// The limits.
    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// Counts a login of `username` from `ip` and lets it through, or tells how long
    /// until it would be let through (`Err`).
    pub fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        match &self.limits {
            Some(limits) => limits.check(username, ip),
            None => Ok(()),
        }
    }
}

/// [`Limits`] with its clock type erased.
trait Check: Send + Sync {
    fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), Duration>;
}

struct Limits<C: Clock> {
    user: Option<Table<u64>>,
    ip: Option<Table<IpAddr>>,
    /// Keys the usernames' hashes.
    usernames: RandomState,
    clock: C,
    start: C::Instant,
}

impl<C> Check for Limits<C>
where
    C: Clock + Send + Sync,
    C::Instant: Send + Sync,
{
    fn check(&self, username: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now().duration_since(self.start).as_u64();
        // The address first: a login refused for its address spends nothing of the
        // username's budget.
        if let (Some(table), Some(ip)) = (&self.ip, ip) {
            table.check(address_key(ip), now)?;
        }
        if let Some(table) = &self.user {
            table.check(self.usernames.hash_one(username), now)?;
        }
        Ok(())
    }
}

/// The key an address is throttled under: an IPv4 address itself, an IPv6 address by
/// its /64, the block one subscriber usually holds whole (a key per address would give
/// one client 2^64 fresh buckets).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn parse(s: &str) -> Result<ThrottleConfig, InvalidThrottle> {
        s.parse()
    }

    #[test]
    fn the_syntax() {
        let n = |n| NonZeroU32::new(n).unwrap();
        assert_eq!(parse("off").unwrap(), ThrottleConfig::off());
        assert_eq!(
            parse("ip=10/s").unwrap(),
            ThrottleConfig {
                user: None,
                ip: Some(Rate::new(n(10), Duration::from_secs(1), n(10))),
            }
        );
        assert_eq!(
            parse(" user = 3/hour:5 ").unwrap().user,
            Some(Rate::new(n(3), Duration::from_secs(3600), n(5)))
        );
        assert_eq!(
            parse("user=3/h:5,ip=1/d").unwrap().to_string(),
            "user=3/h:5,ip=1/d:1"
        );
        for bad in [
            "",
            "on",
            "user",
            "user=5",
            "user=5/week",
            "user=0/min",
            "user=5/min:0",
            "user=1/s,user=2/s",
            "pw=1/s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bucket_refills_with_time() {
        let clock = FakeRelativeClock::default();
        let throttle = LoginThrottle::with_clock(parse("user=5/min:2").unwrap(), clock.clone());
        assert_eq!(throttle.check("alice", None), Ok(()));
        assert_eq!(throttle.check("alice", None), Ok(()));
        assert_eq!(throttle.check("alice", None), Err(Duration::from_secs(12)));
        assert_eq!(throttle.check("bob", None), Ok(()));
        clock.advance(Duration::from_secs(12));
        assert_eq!(throttle.check("alice", None), Ok(()));
        assert!(throttle.check("alice", None).is_err());
    }

    const TINY: usize = 100;

    /// A throttle whose tables hold `TINY` keys, full of users who have just logged in
    /// from addresses of their own.
    fn full(config: &str) -> (LoginThrottle, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let throttle = LoginThrottle::with_capacity(parse(config).unwrap(), clock.clone(), TINY);
        for n in 0..TINY {
            assert_eq!(throttle.check(&format!("user{n}"), address(n)), Ok(()));
        }
        (throttle, clock)
    }

    fn address(n: usize) -> Option<IpAddr> {
        Some(IpAddr::from((n as u32).to_be_bytes()))
    }

    #[test]
    fn a_full_table_throttles_nobody_for_being_full() {
        let (throttle, _clock) = full("user=1/min,ip=1/min");
        // New usernames from new addresses: neither table has room, neither limit
        // applies, nobody gets 429.
        for n in TINY..3 * TINY {
            assert_eq!(throttle.check(&format!("user{n}"), address(n)), Ok(()), "{n}");
        }
        // The keys remembered keep their limits.
        assert!(throttle.check("user0", address(TINY * 10)).is_err());
        assert!(throttle.check("new", address(1)).is_err());
    }

    #[test]
    fn an_address_over_its_limit_is_throttled_whatever_the_username() {
        let (throttle, _clock) = full("user=1/min,ip=3/min:3");
        // The user table is full; one of the addresses it was filled from (one login
        // spent) sprays new usernames: the address's limit still holds.
        let sprayer = address(0);
        for n in 1..3 {
            assert_eq!(throttle.check(&format!("spray{n}"), sprayer), Ok(()));
        }
        for n in 3..50 {
            assert_eq!(
                throttle.check(&format!("spray{n}"), sprayer),
                Err(Duration::from_secs(20))
            );
        }
    }

    #[test]
    fn keys_are_forgotten_as_their_buckets_refill() {
        let (throttle, clock) = full("user=1/min");
        clock.advance(Duration::from_secs(60));
        // Every bucket is full again: each check forgets a few keys, and the new ones
        // are remembered and limited.
        for n in TINY..2 * TINY {
            let user = format!("user{n}");
            assert_eq!(throttle.check(&user, None), Ok(()));
            assert!(throttle.check(&user, None).is_err(), "{n}");
        }
    }

    #[test]
    fn an_ipv6_client_is_throttled_by_its_64() {
        let throttle = LoginThrottle::with_clock(parse("ip=1/min").unwrap(), FakeRelativeClock::default());
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        assert_eq!(throttle.check("x", ip("2001:db8:1:2::1")), Ok(()));
        // Another address of the same /64: the same bucket.
        assert!(throttle.check("x", ip("2001:db8:1:2:ffff::9")).is_err());
        // Another /64, and an IPv4 address (mapped or not): buckets of their own.
        assert_eq!(throttle.check("x", ip("2001:db8:1:3::1")), Ok(()));
        assert_eq!(throttle.check("x", ip("192.0.2.1")), Ok(()));
        assert!(throttle.check("x", ip("::ffff:192.0.2.1")).is_err());
    }
}
