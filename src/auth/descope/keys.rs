//! When the project's signing keys (JWKS) are fetched again, and how long the last good ones outlive a failing
//! fetch: a Descope outage should not log everyone out at once, nor should keys be trusted forever.

/// How long fetched keys are used before they are fetched again (or `PROCELLA_DESCOPE_CACHE_TTL_SECONDS`, when
/// shorter).
pub const KEYS_TTL_SECS: u64 = 600;
/// The longest the last good keys are served while fetching new ones fails. Descope rotates keys rarely and
/// announces new ones before it signs with them, so a few hours of an outage change nothing; after that, a key
/// Descope may have revoked is no longer trusted.
pub const KEYS_STALE_MAX_SECS: u64 = 6 * 3600;
/// After a failed fetch, the next attempt waits this long: an outage costs Descope one request per isolate per
/// interval, not one per request.
pub const KEYS_RETRY_SECS: u64 = 30;

/// What to do with the cached key set for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysPlan {
    /// Fresh: use them.
    Cached,
    /// Fetch (first time, expired, or a retry is due); on failure fall back to the cached keys if [`stale_usable`].
    Fetch,
    /// Expired, the last fetch failed moments ago, and they are still within [`KEYS_STALE_MAX_SECS`]: use them.
    Stale,
}

/// The plan at `now` for keys fetched at `fetched_at` (if ever), whose last refetch failed at `failed_at`.
pub fn plan(fetched_at: Option<u64>, failed_at: Option<u64>, cache_ttl_secs: u64, now: u64) -> KeysPlan {
    let Some(fetched_at) = fetched_at else { return KeysPlan::Fetch };
    if now < fetched_at.saturating_add(KEYS_TTL_SECS.min(cache_ttl_secs)) {
        return KeysPlan::Cached;
    }
    let retry_due = failed_at.is_none_or(|f| now >= f.saturating_add(KEYS_RETRY_SECS));
    if !retry_due && stale_usable(fetched_at, now) {
        KeysPlan::Stale
    } else {
        KeysPlan::Fetch
    }
}

/// Whether keys fetched at `fetched_at` may still stand in for a fetch that failed.
pub fn stale_usable(fetched_at: u64, now: u64) -> bool {
    now < fetched_at.saturating_add(KEYS_STALE_MAX_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000;

    #[test]
    fn fresh_keys_are_used_and_expired_ones_fetched() {
        assert_eq!(plan(None, None, 3600, T), KeysPlan::Fetch);
        assert_eq!(plan(Some(T), None, 3600, T + KEYS_TTL_SECS - 1), KeysPlan::Cached);
        assert_eq!(plan(Some(T), None, 3600, T + KEYS_TTL_SECS), KeysPlan::Fetch);
        // A shorter cache TTL shortens the keys' life too.
        assert_eq!(plan(Some(T), None, 5, T + 5), KeysPlan::Fetch);
    }

    #[test]
    fn during_an_outage_the_last_good_keys_serve_for_a_bounded_time() {
        let failed = T + 1000;
        assert_eq!(plan(Some(T), Some(failed), 3600, failed + 1), KeysPlan::Stale);
        assert_eq!(plan(Some(T), Some(failed), 3600, failed + KEYS_RETRY_SECS), KeysPlan::Fetch, "retry due");
        assert!(stale_usable(T, T + KEYS_STALE_MAX_SECS - 1));
        assert!(!stale_usable(T, T + KEYS_STALE_MAX_SECS));
        let late = T + KEYS_STALE_MAX_SECS;
        assert_eq!(plan(Some(T), Some(late - 1), 3600, late), KeysPlan::Fetch, "too old to stand in");
    }
}
