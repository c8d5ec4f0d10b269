//! The text-embedding cache: an in-memory LRU in front of an optional persistent store (the
//! library's key-value space), so a repeated query costs no model run, even across processes.
//!
//! Keys hold everything the vector depends on: the model, how prompts were applied (raw, or
//! which ensemble — by fingerprint, so editing the templates invalidates old entries), and the
//! text. A failing store never fails a search: the cache is an optimisation, so store errors are
//! logged and the embedding is computed instead.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use crate::backend::BackendError;

/// Default number of texts kept in memory.
pub const DEFAULT_MEMORY_ENTRIES: usize = 4096;

/// How the text was turned into captions before embedding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PromptKey {
    /// Embedded as written.
    Raw,
    /// Mean of the ensemble with this [`crate::PromptEnsemble::fingerprint`].
    Ensemble(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub model_key: String,
    pub prompts: PromptKey,
    pub text: String,
    /// The language code the text was embedded in (models that take one); `None` otherwise.
    pub language: Option<String>,
}

impl CacheKey {
    /// A stable byte key for a persistent store: `text-v1 \0 model \0 prompts \0 text`, then
    /// `\0 language` for texts embedded in a language (so keys of models without one are
    /// unchanged).
    pub fn storage_key(&self) -> Vec<u8> {
        let prompts = match self.prompts {
            PromptKey::Raw => "raw".to_string(),
            PromptKey::Ensemble(fingerprint) => format!("ensemble-{fingerprint:016x}"),
        };
        let mut parts = vec!["text-v1", &self.model_key, &prompts, &self.text];
        if let Some(language) = &self.language {
            parts.push(language);
        }
        parts.join("\0").into_bytes()
    }
}

/// Little-endian f32 bytes, for stores that keep raw bytes.
pub fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The inverse of [`encode_vector`]; `None` when the length is not a multiple of 4.
pub fn decode_vector(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Persistent storage for text embeddings (the catalog provides a key-value space).
pub trait EmbeddingStore: Send + Sync {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<f32>>, BackendError>;
    fn put(&self, key: &CacheKey, vector: &[f32]) -> Result<(), BackendError>;
}

/// A least-recently-used map: a hash map for lookups and an ordered map from last-use tick to
/// key for eviction, both O(log n) or better.
#[derive(Debug)]
pub struct Lru<K, V> {
    capacity: usize,
    entries: HashMap<K, (V, u64)>,
    by_last_use: BTreeMap<u64, K>,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            by_last_use: BTreeMap::new(),
            tick: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let (value, last_use) = self.entries.get_mut(key)?;
        self.by_last_use.remove(last_use);
        *last_use = self.tick;
        self.by_last_use.insert(self.tick, key.clone());
        Some(value.clone())
    }

    pub fn put(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        if let Some((_, old_use)) = self.entries.insert(key.clone(), (value, self.tick)) {
            self.by_last_use.remove(&old_use);
        }
        self.by_last_use.insert(self.tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_last_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }
}

/// Memory LRU + optional persistent store.
pub struct EmbeddingCache {
    memory: Mutex<Lru<CacheKey, Arc<[f32]>>>,
    store: Option<Arc<dyn EmbeddingStore>>,
}

impl EmbeddingCache {
    pub fn new(memory_entries: usize, store: Option<Arc<dyn EmbeddingStore>>) -> Self {
        Self {
            memory: Mutex::new(Lru::new(memory_entries)),
            store,
        }
    }

    /// Memory first, then the store (promoting a store hit into memory).
    pub fn get(&self, key: &CacheKey) -> Option<Vec<f32>> {
        if let Some(hit) = self.lock().get(key) {
            return Some(hit.to_vec());
        }
        let store = self.store.as_ref()?;
        match store.get(key) {
            Ok(Some(vector)) => {
                self.lock().put(key.clone(), Arc::from(vector.as_slice()));
                Some(vector)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "text-embedding store unreadable; embedding afresh");
                None
            }
        }
    }

    /// Into memory and the store.
    pub fn put(&self, key: &CacheKey, vector: &[f32]) {
        self.lock().put(key.clone(), Arc::from(vector));
        if let Some(store) = &self.store {
            if let Err(error) = store.put(key, vector) {
                tracing::warn!(%error, "could not persist a text embedding");
            }
        }
    }

    pub fn memory_len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<CacheKey, Arc<[f32]>>> {
        // A panic while holding the lock cannot leave the LRU half-updated in a way that matters
        // (worst case a stale order), so a poisoned lock is still usable.
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> CacheKey {
        CacheKey {
            model_key: "m".into(),
            prompts: PromptKey::Raw,
            text: text.into(),
            language: None,
        }
    }

    #[derive(Default)]
    struct MapStore(Mutex<HashMap<Vec<u8>, Vec<u8>>>);

    impl EmbeddingStore for MapStore {
        fn get(&self, key: &CacheKey) -> Result<Option<Vec<f32>>, BackendError> {
            let map = self.0.lock().unwrap();
            Ok(map.get(&key.storage_key()).and_then(|b| decode_vector(b)))
        }
        fn put(&self, key: &CacheKey, vector: &[f32]) -> Result<(), BackendError> {
            let mut map = self.0.lock().unwrap();
            map.insert(key.storage_key(), encode_vector(vector));
            Ok(())
        }
    }

    struct BrokenStore;

    impl EmbeddingStore for BrokenStore {
        fn get(&self, _: &CacheKey) -> Result<Option<Vec<f32>>, BackendError> {
            Err("disk on fire".into())
        }
        fn put(&self, _: &CacheKey, _: &[f32]) -> Result<(), BackendError> {
            Err("disk on fire".into())
        }
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        assert_eq!(lru.get(&"a"), Some(1)); // "b" is now the oldest
        lru.put("c", 3);
        assert_eq!(lru.get(&"b"), None);
        assert_eq!(lru.get(&"a"), Some(1));
        assert_eq!(lru.get(&"c"), Some(3));
        lru.put("c", 4); // replacing does not grow
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get(&"c"), Some(4));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut lru = Lru::new(0);
        lru.put(1, 1);
        assert!(lru.is_empty());
    }

    #[test]
    fn keys_separate_model_prompts_and_text() {
        let raw = key("dog");
        let ensemble = CacheKey {
            prompts: PromptKey::Ensemble(7),
            ..raw.clone()
        };
        let other_model = CacheKey {
            model_key: "n".into(),
            ..raw.clone()
        };
        let keys = [raw, ensemble, other_model, key("cat")];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a.storage_key(), b.storage_key());
            }
        }
    }

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = vec![0.25, -1.5, 3.0e-7];
        assert_eq!(decode_vector(&encode_vector(&v)), Some(v));
        assert_eq!(decode_vector(&[1, 2, 3]), None);
    }

    #[test]
    fn store_survives_a_fresh_memory_cache() {
        let store = Arc::new(MapStore::default());
        let first = EmbeddingCache::new(8, Some(store.clone()));
        first.put(&key("dog"), &[1.0, 2.0]);
        let second = EmbeddingCache::new(8, Some(store));
        assert_eq!(second.memory_len(), 0);
        assert_eq!(second.get(&key("dog")), Some(vec![1.0, 2.0]));
        assert_eq!(second.memory_len(), 1);
        assert_eq!(second.get(&key("cat")), None);
    }

    #[test]
    fn broken_store_degrades_to_memory_only() {
        let cache = EmbeddingCache::new(8, Some(Arc::new(BrokenStore)));
        assert_eq!(cache.get(&key("dog")), None);
        cache.put(&key("dog"), &[1.0]);
        assert_eq!(cache.get(&key("dog")), Some(vec![1.0]));
    }
}
