//! Memory that lives as long as the isolate (stack ids of running updates, accepted lease tokens, org bindings,
//! authenticated callers): maps bounded so that a long-lived isolate stays far inside its 128 MB.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::thread::LocalKey;

/// The clock of the edge's memories and limits, in Unix seconds.
pub fn now_secs() -> u64 {
    worker::Date::now().as_millis() / 1000
}

/// The clock of stored times (rows, leases), in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Entries a map keeps before it starts over. Every entry is well under 1 KB.
pub const MAX_ENTRIES: usize = 10_000;

/// Inserts into an isolate map; a full map is emptied first (what it held is only ever a shortcut).
pub fn insert_bounded<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}

/// An isolate map of keys to the time (Unix seconds) until which they hold.
pub type Until = LocalKey<RefCell<HashMap<String, u64>>>;

/// Whether `key` holds at `t`: in this isolate's `map`, or in the Cache API under `url` (shared by the isolates of
/// a data center), which then fills the map.
pub async fn recall(map: &'static Until, url: &str, key: &str, t: u64) -> bool {
    if map.with(|m| m.borrow().get(key).is_some_and(|until| *until > t)) {
        return true;
    }
    let Ok(Some(mut hit)) = worker::Cache::default().get(url.to_owned(), false).await else { return false };
    let until = hit.text().await.ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    if until > t {
        map.with(|m| insert_bounded(&mut m.borrow_mut(), key.to_owned(), until));
    }
    until > t
}

/// Remembers `key` until `until` (`ttl_secs` from now) in `map` and in the Cache API under `url`. The Cache API is
/// only a shortcut across isolates: failing to store there is logged, not an error (`what` names the entry).
pub async fn remember(map: &'static Until, url: &str, key: &str, until: u64, ttl_secs: u64, what: &str) {
    map.with(|m| insert_bounded(&mut m.borrow_mut(), key.to_owned(), until));
    let stored = async {
        let headers = worker::Headers::new();
        headers.set("cache-control", &format!("max-age={ttl_secs}"))?;
        worker::Cache::default().put(url.to_owned(), worker::Response::ok(until.to_string())?.with_headers(headers)).await
    }
    .await;
    if let Err(e) = stored {
        worker::console_warn!("could not store {what} in the Cache API: {e}");
    }
}
