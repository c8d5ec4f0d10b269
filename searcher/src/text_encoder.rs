//! Turns texts into unit vectors: decides per text whether a prompt ensemble applies, serves
//! cached vectors, and embeds all the misses (every template of every missing text) in one
//! batched model call.

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::TextEmbedder;
use crate::cache::{CacheKey, EmbeddingCache, PromptKey};
use crate::error::{Result, SearchError};
use crate::prompts::PromptEnsemble;
use crate::vector::normalized_mean;

pub struct TextEncoder {
    embedder: Arc<dyn TextEmbedder>,
    cache: Arc<EmbeddingCache>,
}

impl TextEncoder {
    pub fn new(embedder: Arc<dyn TextEmbedder>, cache: Arc<EmbeddingCache>) -> Self {
        Self { embedder, cache }
    }

    pub fn model_key(&self) -> String {
        self.embedder.model_key()
    }

    /// See [`TextEmbedder::resolve_language`].
    pub fn resolve_language(&self, language: Option<&str>) -> Option<String> {
        self.embedder.resolve_language(language)
    }

    /// One unit vector per text. With an ensemble, texts it applies to
    /// ([`PromptEnsemble::applies_to`]) become the normalised mean of their captions; the rest,
    /// and everything when `ensemble` is `None` (`--raw`), are embedded as written.
    pub fn encode(
        &self,
        texts: &[&str],
        ensemble: Option<&PromptEnsemble>,
    ) -> Result<Vec<Vec<f32>>> {
        self.encode_in(texts, ensemble, None)
    }

    /// [`Self::encode`] in a language code from [`TextEmbedder::resolve_language`].
    pub fn encode_in(
        &self,
        texts: &[&str],
        ensemble: Option<&PromptEnsemble>,
        language: Option<&str>,
    ) -> Result<Vec<Vec<f32>>> {
        let model_key = self.embedder.model_key();
        let keys: Vec<CacheKey> = texts
            .iter()
            .map(|text| {
                let prompts = match ensemble {
                    Some(e) if PromptEnsemble::applies_to(text) => {
                        PromptKey::Ensemble(e.fingerprint())
                    }
                    _ => PromptKey::Raw,
                };
                CacheKey {
                    model_key: model_key.clone(),
                    prompts,
                    text: text.to_string(),
                    language: language.map(str::to_string),
                }
            })
            .collect();

        let mut found: HashMap<&CacheKey, Vec<f32>> = HashMap::new();
        let mut missing: Vec<&CacheKey> = Vec::new();
        for key in &keys {
            if found.contains_key(key) || missing.contains(&key) {
                continue;
            }
            match self.cache.get(key) {
                Some(vector) => {
                    found.insert(key, vector);
                }
                None => missing.push(key),
            }
        }

        if !missing.is_empty() {
            // Each missing key owns a contiguous run of captions in one batch.
            let mut captions: Vec<String> = Vec::new();
            let mut runs = Vec::with_capacity(missing.len());
            for key in &missing {
                let start = captions.len();
                match (&key.prompts, ensemble) {
                    (PromptKey::Ensemble(_), Some(e)) => captions.extend(e.expand(&key.text)),
                    _ => captions.push(key.text.clone()),
                }
                runs.push(start..captions.len());
            }
            let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
            tracing::debug!(
                texts = missing.len(),
                captions = refs.len(),
                "embedding text"
            );
            let embedded = self
                .embedder
                .embed_texts_in(&refs, language)
                .map_err(SearchError::TextModel)?;
            if embedded.len() != refs.len() {
                return Err(SearchError::TextModelShape {
                    expected: refs.len(),
                    got: embedded.len(),
                });
            }
            for (key, run) in missing.into_iter().zip(runs) {
                let vector = normalized_mean(&embedded[run])
                    .ok_or_else(|| SearchError::ZeroEmbedding(key.text.clone()))?;
                self.cache.put(key, &vector);
                found.insert(key, vector);
            }
        }
        Ok(keys.iter().map(|k| found[k].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendError;
    use crate::vector::{cosine, norm};
    use std::sync::Mutex;

    /// Embeds a text by counting three marker words, plus a constant "caption" direction for
    /// every other word, and records every call.
    #[derive(Default)]
    struct CountingEmbedder {
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl TextEmbedder for CountingEmbedder {
        fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
            self.calls
                .lock()
                .unwrap()
                .push(texts.iter().map(|t| t.to_string()).collect());
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = vec![0.0; 4];
                    for word in t.split(|c: char| !c.is_alphanumeric()) {
                        match word {
                            "dog" => v[0] += 1.0,
                            "cat" => v[1] += 1.0,
                            "close" => v[2] += 1.0,
                            "" => {}
                            _ => v[3] += 0.1,
                        }
                    }
                    v
                })
                .collect())
        }
        fn model_key(&self) -> String {
            "counting".into()
        }
    }

    fn encoder() -> (Arc<CountingEmbedder>, TextEncoder) {
        let embedder = Arc::new(CountingEmbedder::default());
        let cache = Arc::new(EmbeddingCache::new(16, None));
        (embedder.clone(), TextEncoder::new(embedder, cache))
    }

    #[test]
    fn second_identical_query_makes_no_model_call() {
        let (embedder, encoder) = encoder();
        let ensemble = PromptEnsemble::default();
        let first = encoder.encode(&["dog", "cat"], Some(&ensemble)).unwrap();
        assert_eq!(embedder.calls.lock().unwrap().len(), 1);
        let second = encoder.encode(&["dog", "cat"], Some(&ensemble)).unwrap();
        assert_eq!(embedder.calls.lock().unwrap().len(), 1);
        assert_eq!(first, second);
    }

    #[test]
    fn ensemble_batches_all_templates_in_one_call_and_is_unit_length() {
        let (embedder, encoder) = encoder();
        let ensemble = PromptEnsemble::default();
        let vectors = encoder.encode(&["dog", "cat"], Some(&ensemble)).unwrap();
        let calls = embedder.calls.lock().unwrap();
        assert_eq!(calls[0].len(), 2 * ensemble.templates.len());
        assert!(calls[0].contains(&"a close-up photo of dog.".to_string()));
        for v in &vectors {
            assert!((norm(v) - 1.0).abs() < 1e-5);
        }
        // The ensemble mean includes the close-up template's direction; the raw text does not.
        assert!(vectors[0][2] > 0.0);
    }

    #[test]
    fn raw_and_long_texts_are_embedded_as_written() {
        let (embedder, encoder) = encoder();
        let ensemble = PromptEnsemble::default();
        let long = "a dog running on the beach";
        let raw = encoder.encode(&["dog"], None).unwrap();
        encoder.encode(&[long], Some(&ensemble)).unwrap();
        let calls = embedder.calls.lock().unwrap();
        assert_eq!(calls[0], vec!["dog".to_string()]);
        assert_eq!(calls[1], vec![long.to_string()]);
        assert!((cosine(&raw[0], &[1.0, 0.0, 0.0, 0.0]) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn raw_and_ensemble_vectors_are_cached_separately() {
        let (embedder, encoder) = encoder();
        let ensemble = PromptEnsemble::default();
        let raw = encoder.encode(&["dog"], None).unwrap();
        let wrapped = encoder.encode(&["dog"], Some(&ensemble)).unwrap();
        assert_eq!(embedder.calls.lock().unwrap().len(), 2);
        assert_ne!(raw, wrapped);
    }

    #[test]
    fn duplicate_texts_are_embedded_once() {
        let (embedder, encoder) = encoder();
        let vectors = encoder.encode(&["dog", "dog"], None).unwrap();
        assert_eq!(embedder.calls.lock().unwrap()[0].len(), 1);
        assert_eq!(vectors[0], vectors[1]);
    }
}
