//! A cap on the connections of one client address, below the global cap, so that one
//! host holding hundreds of connections (half-open, idle or stalled) cannot take every
//! slot and shut out the others.
//!
//! Counted per address, IPv6 included (a host with a whole /64 can open connections
//! from many addresses: the global cap still bounds it). An IPv4 address mapped into
//! IPv6 (`::ffff:a.b.c.d`, from a dual-stack listener) counts as the IPv4 one. The map
//! holds only the addresses with a connection open: memory is bounded by the global
//! cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The open connections of each client address, up to `max` each.
#[derive(Debug)]
pub(crate) struct PerIp {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, released when dropped; `None` if `ip`
    /// has `max` connections open already.
    pub(crate) fn acquire(&self, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            ip,
            open: Arc::clone(&self.open),
        })
    }
}

/// One connection counted against its address; dropping it releases the count.
#[derive(Debug)]
pub(crate) struct IpSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_at_its_cap_is_refused_while_others_are_admitted_and_released_slots_free_it() {
        let per_ip = PerIp::new(2);
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        let held = [per_ip.acquire(v4).unwrap(), per_ip.acquire(v4).unwrap()];
        assert!(per_ip.acquire(v4).is_none());
        // The same address mapped into IPv6 is the same client.
        assert!(per_ip.acquire("::ffff:127.0.0.1".parse().unwrap()).is_none());
        let other = per_ip.acquire(v6).expect("another address is not shut out");

        drop(held);
        assert!(per_ip.acquire(v4).is_some());
        drop(other);
        // Nothing kept for addresses without connections.
        assert!(per_ip.open.lock().unwrap().is_empty());
    }
}
