//! Name lookups for the package index client: each host is looked up once per process, and a
//! lookup that has not answered within the stall bound gets a second, parallel one.
//!
//! A resolve runs many requests at once, and the HTTP/1.1 client opens a connection (so a
//! `getaddrinfo`) for each. On some networks glibc's parallel A/AAAA queries lose a reply and
//! the lookup waits out resolv.conf's 5 s timeout; measured here, 5 of 60 concurrent lookups
//! of files.pythonhosted.org and 1 of 40 sequential ones took 5.0 s. Looking a host up once,
//! with concurrent callers waiting for that one lookup, removes most of them; hedging the
//! lookup itself removes the rest, since a fresh query is answered at once.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Most addresses ureq keeps for one host.
const MAX_ADDRS: usize = 16;

/// One host's addresses once found; its lock is held while they are being looked up.
type HostSlot = Arc<Mutex<Option<Vec<SocketAddr>>>>;

/// A caching, single-flight resolver whose lookups are hedged after `hedge_after`.
#[derive(Debug)]
pub(crate) struct HedgedResolver {
    hedge_after: Option<Duration>,
    /// `host:port` → the addresses found, behind a lock per host so that concurrent callers
    /// wait for one lookup instead of starting their own.
    hosts: Mutex<HashMap<String, HostSlot>>,
}

impl HedgedResolver {
    pub(crate) fn new(hedge_after: Option<Duration>) -> Self {
        Self {
            hedge_after,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The addresses of `host_port`, looked up at most once while it keeps answering.
    pub(crate) fn addresses(&self, host_port: &str) -> std::io::Result<Vec<SocketAddr>> {
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|error| error.into_inner());
            Arc::clone(hosts.entry(host_port.to_owned()).or_default())
        };
        let mut cached = slot.lock().unwrap_or_else(|error| error.into_inner());
        if let Some(addresses) = cached.as_ref() {
            return Ok(addresses.clone());
        }
        let addresses = lookup(host_port, self.hedge_after)?;
        *cached = Some(addresses.clone());
        Ok(addresses)
    }
}

/// One lookup, with a second started when the first has not answered within `hedge_after`;
/// the first success wins (a failure wins only when both fail).
fn lookup(host_port: &str, hedge_after: Option<Duration>) -> std::io::Result<Vec<SocketAddr>> {
    let (sender, receiver) = mpsc::channel();
    let start = |sender: mpsc::Sender<std::io::Result<Vec<SocketAddr>>>| {
        let name = host_port.to_owned();
        thread::spawn(move || {
            let found = name
                .to_socket_addrs()
                .map(|addresses| addresses.take(MAX_ADDRS).collect());
            let _ = sender.send(found);
        });
    };
    start(sender.clone());
    let first = match hedge_after {
        Some(after) => match receiver.recv_timeout(after) {
            Ok(found) => return found,
            Err(_) => {
                tracing::debug!(
                    what = host_port,
                    "name lookup stalled; starting a second one"
                );
                start(sender);
                receiver.recv()
            }
        },
        None => {
            drop(sender);
            return receiver.recv().unwrap_or_else(|_| Err(lookup_gone()));
        }
    };
    match first {
        Ok(Ok(addresses)) => Ok(addresses),
        // The other lookup may still succeed.
        Ok(Err(error)) => receiver.recv().unwrap_or(Err(error)),
        Err(_) => Err(lookup_gone()),
    }
}

fn lookup_gone() -> std::io::Error {
    std::io::Error::other("the name lookup ended without an answer")
}

impl Resolver for HedgedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let authority = uri.authority().ok_or(ureq::Error::HostNotFound)?;
        let port = authority
            .port_u16()
            .or_else(|| match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            })
            .ok_or(ureq::Error::HostNotFound)?;
        // `[::1]` keeps its brackets in `host()`, as `to_socket_addrs` wants them.
        let host_port = format!("{}:{port}", authority.host());
        let addresses = self.addresses(&host_port)?;
        let mut resolved = self.empty();
        for address in addresses.into_iter().take(MAX_ADDRS) {
            resolved.push(address);
        }
        if resolved.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_looked_up_once_and_shared() {
        let resolver = HedgedResolver::new(Some(Duration::from_millis(200)));
        let first = resolver.addresses("127.0.0.1:8080").unwrap();
        assert_eq!(first, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        let threads: Vec<Vec<SocketAddr>> = thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| resolver.addresses("127.0.0.1:8080").unwrap()))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect()
        });
        assert!(threads.iter().all(|found| *found == first));
        assert_eq!(resolver.hosts.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_lookup_that_fails_is_an_error_and_not_cached() {
        let resolver = HedgedResolver::new(None);
        // No port: refused before any query is sent.
        assert!(resolver.addresses("127.0.0.1").is_err());
        let hosts = resolver.hosts.lock().unwrap();
        assert!(hosts["127.0.0.1"].lock().unwrap().is_none());
    }
}
