//! Memory that lives as long as the isolate (stack ids of running updates, accepted lease tokens, org bindings,
//! authenticated callers): maps bounded so that a long-lived isolate stays far inside its 128 MB.

use std::collections::HashMap;
use std::hash::Hash;

/// Entries a map keeps before it starts over. Every entry is well under 1 KB.
pub const MAX_ENTRIES: usize = 10_000;

/// Inserts into an isolate map; a full map is emptied first (what it held is only ever a shortcut).
pub fn insert_bounded<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}
