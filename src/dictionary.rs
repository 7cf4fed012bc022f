//! The per-instance dictionary: a small typed key/value store for callbacks.
//!
//! Like the state, the dictionary is kept as of the last callback that
//! completed: a callback works on a copy-on-write view, and the writes of a
//! callback that crashes are discarded with its state changes. A callback that
//! only reads the dictionary copies nothing; the first write in a callback makes
//! one shallow copy of the map (the values themselves are shared `Arc`s), so
//! keep the dictionary small and put bulk data into [tables](crate::Table).
//!
//! ```
//! use peeper::Dictionary;
//!
//! let mut dict = Dictionary::default();
//! dict.put("foo", 42_u32);
//! assert_eq!(dict.get::<u32>("foo"), Some(&42));
//! assert_eq!(dict.get::<String>("foo"), None); // another type reads as absent
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// A typed key/value store, one per instance; see the [module docs](self).
///
/// Cloning is O(1): clones share the map until one of them is written to.
#[derive(Clone, Default)]
pub struct Dictionary {
    /// `None` until the first write: most instances never use their
    /// dictionary, and an empty one then costs them no allocation.
    map: Option<Arc<HashMap<String, Value>>>,
}

impl Dictionary {
    /// The value under `key`, if there is one and it is a `V`.
    pub fn get<V: Any>(&self, key: &str) -> Option<&V> {
        self.get_erased(key).and_then(|v| v.downcast_ref::<V>())
    }

    /// Stores `value` under `key`, replacing any value (of any type) there.
    /// Returns `true` if a value was replaced.
    pub fn put<V: Any + Send + Sync>(&mut self, key: impl Into<String>, value: V) -> bool {
        self.map_mut().insert(key.into(), Arc::new(value)).is_some()
    }

    /// Removes the value under `key`. Returns `true` if there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        if !self.contains_key(key) {
            return false;
        }
        self.map_mut().remove(key).is_some()
    }

    /// Whether a value of any type is stored under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.as_ref().is_some_and(|m| m.contains_key(key))
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored keys, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.iter().flat_map(|m| m.keys().map(String::as_str))
    }

    /// Every entry, type-erased, for encoding a snapshot.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.map
            .iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    /// The type-erased value under `key`.
    pub(crate) fn get_erased(&self, key: &str) -> Option<&Value> {
        self.map.as_ref().and_then(|m| m.get(key))
    }

    /// Stores an already type-erased value, when decoding a snapshot.
    pub(crate) fn put_erased(&mut self, key: String, value: Value) {
        self.map_mut().insert(key, value);
    }

    /// Whether both share the same map, that is, neither was written to since
    /// one was cloned from the other.
    pub(crate) fn same_as(&self, other: &Dictionary) -> bool {
        match (&self.map, &other.map) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The map to write to: made on the first write, copied on the first
    /// write after a clone.
    fn map_mut(&mut self) -> &mut HashMap<String, Value> {
        Arc::make_mut(self.map.get_or_insert_default())
    }
}

impl fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_share_and_first_write_copies() {
        let kept = Dictionary::default();
        let mut working = kept.clone();
        assert!(working.same_as(&kept));
        assert!(!working.put("a", 1_i32));
        assert!(!working.same_as(&kept));
        assert!(kept.is_empty(), "the kept copy must not see the write");
        assert_eq!(working.get::<i32>("a"), Some(&1));
    }

    #[test]
    fn typed_get_remove_and_replace() {
        let mut d = Dictionary::default();
        d.put("k", String::from("v"));
        assert_eq!(d.get::<String>("k").map(String::as_str), Some("v"));
        assert_eq!(d.get::<u8>("k"), None);
        assert!(d.put("k", 7_u8));
        assert_eq!(d.get::<u8>("k"), Some(&7));
        assert!(d.remove("k"));
        assert!(!d.remove("k"));
        assert!(!d.contains_key("k"));
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn remove_of_absent_key_does_not_copy() {
        let kept = Dictionary::default();
        let mut working = kept.clone();
        assert!(!working.remove("nothing"));
        assert!(working.same_as(&kept));
    }

    #[test]
    fn emptied_map_is_not_the_empty_one() {
        let kept = Dictionary::default();
        let mut working = kept.clone();
        working.put("a", 1_u8);
        working.remove("a");
        assert!(working.is_empty());
        // Written to since the clone: it shares nothing with the kept copy.
        assert!(!working.same_as(&kept));
        assert_eq!(working.keys().count(), 0);
    }
}
