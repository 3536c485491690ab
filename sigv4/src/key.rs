//! The signing key, and its per-day cache.
//!
//! The key is four chained HMACs: `"AWS4" + secret` → date → region → service →
//! `"aws4_request"`. It depends only on the secret, the UTC date, the region and the service,
//! so a signer (whose region and service are fixed) can derive it once per day and reuse it
//! for every request of that day, saving four HMACs per request.
//!
//! The cache is keyed on the date **and a fingerprint of the secret**, not only the date:
//! temporary credentials rotate during the day, and a key derived from the previous secret
//! would make every later signature wrong. The fingerprint is a SHA-256 of the secret, so the
//! cache keeps no second plain copy of it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::hash::hmac_sha256;

/// Derives the SigV4 signing key for `date` (`YYYYMMDD`), `region` and `service`.
pub(crate) fn derive_signing_key(
    secret_access_key: &str,
    date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let mut seed = Vec::with_capacity(4 + secret_access_key.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret_access_key.as_bytes());
    let k_date = hmac_sha256(&seed, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

struct Entry {
    date: String,
    secret_fingerprint: [u8; 32],
    key: [u8; 32],
}

/// The signing key of the current day, for one region and service.
pub(crate) struct KeyCache {
    region: String,
    service: String,
    entry: Mutex<Option<Entry>>,
    derivations: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(region: String, service: String) -> Self {
        KeyCache {
            region,
            service,
            entry: Mutex::new(None),
            derivations: AtomicU64::new(0),
        }
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    /// The signing key for `secret` on `date`: the cached one when both match, else a newly
    /// derived one, which replaces the cached one.
    pub(crate) fn key(&self, secret_access_key: &str, date: &str) -> [u8; 32] {
        let fingerprint: [u8; 32] = Sha256::digest(secret_access_key.as_bytes()).into();
        // A poisoned lock only means another thread panicked while holding it; the entry is
        // always either whole or `None`, so it is still usable.
        let mut entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entry.as_ref() {
            if e.date == date && e.secret_fingerprint == fingerprint {
                return e.key;
            }
        }
        let key = derive_signing_key(secret_access_key, date, &self.region, &self.service);
        self.derivations.fetch_add(1, Ordering::Relaxed);
        *entry = Some(Entry {
            date: date.to_owned(),
            secret_fingerprint: fingerprint,
            key,
        });
        key
    }

    /// How many times a key was derived (not served from the cache).
    pub(crate) fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for KeyCache {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("derivations", &self.derivations())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn derivation_matches_aws_documentation() {
        // The signing-key example of the AWS SigV4 documentation (IAM, 2015-08-30); note its
        // secret has a `+` where the S3 examples' has a `/`.
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn same_day_reuses_new_day_derives() {
        let cache = KeyCache::new("us-east-1".into(), "s3".into());
        let a = cache.key(SECRET, "20240101");
        assert_eq!(cache.derivations(), 1);
        let b = cache.key(SECRET, "20240101");
        assert_eq!(cache.derivations(), 1, "same day: served from cache");
        assert_eq!(a, b);
        let c = cache.key(SECRET, "20240102");
        assert_eq!(cache.derivations(), 2, "new day: derived again");
        assert_ne!(a, c);
        assert_eq!(c, derive_signing_key(SECRET, "20240102", "us-east-1", "s3"));
    }

    #[test]
    fn rotated_secret_derives_a_new_key() {
        let cache = KeyCache::new("us-east-1".into(), "s3".into());
        let a = cache.key(SECRET, "20240101");
        let b = cache.key("another-secret", "20240101");
        assert_eq!(cache.derivations(), 2);
        assert_ne!(a, b);
        assert_eq!(
            b,
            derive_signing_key("another-secret", "20240101", "us-east-1", "s3")
        );
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let cache = KeyCache::new("us-east-1".into(), "s3".into());
        let key = cache.key(SECRET, "20240101");
        let shown = format!("{cache:?}");
        assert!(!shown.contains(&hex::encode(key)));
        assert!(!shown.contains(&format!("{key:?}")));
    }
}
