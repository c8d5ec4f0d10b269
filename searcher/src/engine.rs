//! The [`Searcher`]: one search from request to response, zero-shot tagging, and near-duplicate
//! grouping, over the [`crate::backend`] traits.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend::{ImageEmbedder, SearchIndex, TextEmbedder};
use crate::cache::EmbeddingCache;
use crate::combine::combine;
use crate::cutoff::{adaptive_cutoff, min_score_cutoff, CutoffConfig};
use crate::dupes::{group_duplicates, DupeGroup};
use crate::error::{Result, SearchError};
use crate::fusion::{fuse, names_file, SearchMode};
use crate::hnsw;
use crate::prompts::PromptEnsemble;
use crate::query::{image_text_query, keyword_text, validate_terms, QueryTerm, TermKind};
use crate::request::{Hit, SearchRequest, SearchResponse, MAX_LIMIT, MAX_OFFSET};
use crate::sort::{paginate, sort_hits, TieOrder};
use crate::tags::{assign_tags_scored, ImageTags, TagRule, TagScoring};
use crate::text_encoder::TextEncoder;
use crate::vector::cosine;
use magpie_catalog::Filters;

/// Keyword hits checked for an exact file-name match (a file named like the query ranks near
/// the top of BM25, since names are boosted).
const NAME_CHECK_DEPTH: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearcherConfig {
    /// Templates for short text queries.
    pub query_prompts: PromptEnsemble,
    /// Templates for zero-shot labels.
    pub label_prompts: PromptEnsemble,
    pub cutoff: CutoffConfig,
    /// Vector and keyword candidates ranked before the cutoff (at least `offset + limit`).
    pub candidate_pool: usize,
    /// Allowed sets below this size are ranked by exact scan.
    pub exact_scan_max_ids: usize,
    /// …or below this share of the library.
    pub exact_scan_max_fraction: f64,
    /// How zero-shot tags turn cosines into probabilities (the model family's objective).
    pub tag_scoring: TagScoring,
    /// The language of queries and labels that name none (`--lang`, the config's `language`),
    /// for models that take one.
    pub default_language: Option<String>,
}

impl Default for SearcherConfig {
    fn default() -> Self {
        Self {
            query_prompts: PromptEnsemble::default(),
            label_prompts: PromptEnsemble::for_labels(),
            cutoff: CutoffConfig::default(),
            candidate_pool: 500,
            exact_scan_max_ids: hnsw::EXACT_SCAN_MAX_IDS,
            exact_scan_max_fraction: hnsw::EXACT_SCAN_MAX_FRACTION,
            tag_scoring: TagScoring::default(),
            default_language: None,
        }
    }
}

pub struct Searcher {
    text: TextEncoder,
    images: Option<Arc<dyn ImageEmbedder>>,
    config: SearcherConfig,
}

impl Searcher {
    /// `images` may be `None` when only text search is needed; image queries then fail clearly.
    pub fn new(
        text: Arc<dyn TextEmbedder>,
        images: Option<Arc<dyn ImageEmbedder>>,
        cache: Arc<EmbeddingCache>,
        config: SearcherConfig,
    ) -> Self {
        Self {
            text: TextEncoder::new(text, cache),
            images,
            config,
        }
    }

    pub fn config(&self) -> &SearcherConfig {
        &self.config
    }

    /// Runs one search against `index` (taken per call, so a server can pass a fresh snapshot).
    pub fn search(
        &self,
        index: &dyn SearchIndex,
        request: &SearchRequest,
    ) -> Result<SearchResponse> {
        let started = Instant::now();
        if request.limit == 0 || request.limit > MAX_LIMIT {
            return Err(SearchError::InvalidLimit {
                got: request.limit,
                max: MAX_LIMIT,
            });
        }
        if request.offset > MAX_OFFSET {
            return Err(SearchError::InvalidOffset {
                got: request.offset,
                max: MAX_OFFSET,
            });
        }
        if let Some(min) = request.min_score.filter(|m| !m.is_finite()) {
            return Err(SearchError::InvalidMinScore(min));
        }
        let terms = request.terms()?;
        validate_terms(&terms)?;
        let keywords = keyword_text(&terms);
        if request.mode == SearchMode::Keyword && keywords.is_none() {
            return Err(SearchError::NoKeywordText);
        }
        // Both are bounded above, so the sum cannot overflow.
        let pool = self
            .config
            .candidate_pool
            .max(request.offset + request.limit);
        let allowed = index
            .allowed_ids(&request.filters)
            .map_err(SearchError::Index)?;

        let ties = TieOrder::new(index);
        let mut cutoff_score = None;
        let language = self.text.resolve_language(
            request
                .language
                .as_deref()
                .or(self.config.default_language.as_deref()),
        );
        let vector_ranking = if request.mode == SearchMode::Keyword {
            Vec::new()
        } else {
            let query = self.query_vector_in(index, &terms, request.raw, language.as_deref())?;
            let mut ranking = self.vector_ranking(
                index,
                &query,
                pool,
                &request.filters,
                allowed.as_ref(),
                &terms,
            )?;
            // Equal cosines (copies of one photo) in the one tie order, before the cutoff keeps
            // a prefix.
            ties.sort_ranking(&mut ranking);
            let scores: Vec<f32> = ranking.iter().map(|(_, s)| *s).collect();
            let outcome = match request.min_score {
                Some(min) => min_score_cutoff(&scores, min),
                None => adaptive_cutoff(&scores, &self.config.cutoff),
            };
            tracing::debug!(candidates = scores.len(), ?outcome, "relevance cutoff");
            ranking.truncate(outcome.keep);
            cutoff_score = outcome.threshold;
            ranking
        };

        let (keyword_ranking, exact_names) = match (&keywords, request.mode) {
            (Some(text), SearchMode::Keyword | SearchMode::Hybrid) => {
                let mut ranking = index
                    .keyword_search(text, pool, &request.filters)
                    .map_err(SearchError::Index)?;
                // Equal BM25 scores are common (the same words in many paths): their RRF ranks
                // must not depend on the keyword index's document order.
                ties.sort_ranking(&mut ranking);
                let exact: HashSet<u64> = ranking
                    .iter()
                    .take(NAME_CHECK_DEPTH)
                    .filter(|(id, _)| index.file_name(*id).is_some_and(|n| names_file(text, &n)))
                    .map(|(id, _)| *id)
                    .collect();
                (ranking, exact)
            }
            _ => (Vec::new(), HashSet::new()),
        };

        let mut text_ranking = match (image_text_query(&terms, &request.query), request.mode) {
            (Some(query), SearchMode::Keyword | SearchMode::Hybrid) => index
                .image_text_search(&query, pool, &request.filters)
                .map_err(SearchError::Index)?,
            _ => Vec::new(),
        };
        text_ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| ties.cmp(a.0, b.0)));
        let by_ties = |a: u64, b: u64| ties.cmp(a, b);

        let mut hits: Vec<Hit> = fuse(
            request.mode,
            &vector_ranking,
            &keyword_ranking,
            &exact_names,
            &text_ranking,
            &by_ties,
        )
        .into_iter()
        .map(|f| Hit {
            id: f.id,
            score: f.score,
            vector_score: f.vector_score,
            keyword_score: f.keyword_score,
            text_score: f.text_score,
        })
        .collect();
        sort_hits(
            &mut hits,
            request.sort,
            |id| index.sort_key_date(id),
            &by_ties,
        );
        let total = hits.len();
        let hits = paginate(hits, request.offset, request.limit);
        tracing::info!(
            total,
            returned = hits.len(),
            vector = vector_ranking.len(),
            keyword = keyword_ranking.len(),
            image_text = text_ranking.len(),
            "search"
        );
        Ok(SearchResponse {
            hits,
            total,
            cutoff_score,
            took_ms: started.elapsed().as_millis() as u64,
            language,
        })
    }

    /// The unit query vector: each term embedded (texts through prompt ensembles unless `raw`,
    /// and the cache), then `normalise(Σ wᵢ·vᵢ)`.
    pub fn query_vector(
        &self,
        index: &dyn SearchIndex,
        terms: &[QueryTerm],
        raw: bool,
    ) -> Result<Vec<f32>> {
        let language = self
            .text
            .resolve_language(self.config.default_language.as_deref());
        self.query_vector_in(index, terms, raw, language.as_deref())
    }

    /// [`Self::query_vector`] with the texts in `language` (a resolved code, see
    /// [`crate::backend::TextEmbedder::resolve_language`]).
    pub fn query_vector_in(
        &self,
        index: &dyn SearchIndex,
        terms: &[QueryTerm],
        raw: bool,
        language: Option<&str>,
    ) -> Result<Vec<f32>> {
        self.check_model(index)?;
        let texts: Vec<&str> = terms
            .iter()
            .filter_map(|t| match &t.kind {
                TermKind::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let ensemble = (!raw).then_some(&self.config.query_prompts);
        let mut text_vectors = self.text.encode_in(&texts, ensemble, language)?.into_iter();
        let mut vectors = Vec::with_capacity(terms.len());
        for term in terms {
            let vector = match &term.kind {
                TermKind::Text(_) => text_vectors.next().expect("one vector per text term"),
                TermKind::Image(path) => {
                    let embedder = self.images.as_ref().ok_or(SearchError::NoImageModel)?;
                    embedder.embed_image_file(path).map_err(|source| {
                        SearchError::UnreadableImage {
                            path: path.clone(),
                            source,
                        }
                    })?
                }
                TermKind::Like(id) => index
                    .embedding(*id)
                    .map_err(SearchError::Index)?
                    .ok_or(SearchError::UnknownImage { id: *id })?,
            };
            if vector.len() != index.dimensions() {
                return Err(SearchError::DimensionMismatch {
                    query: vector.len(),
                    library: index.dimensions(),
                });
            }
            vectors.push((term.weight, vector));
        }
        let weighted: Vec<(f32, &[f32])> =
            vectors.iter().map(|(w, v)| (*w, v.as_slice())).collect();
        combine(&weighted)
    }

    /// Best-first cosines: an exact scan when the allowed set is small, HNSW otherwise. Images
    /// used as `--like` terms are left out: "like this photo" means other photos.
    fn vector_ranking(
        &self,
        index: &dyn SearchIndex,
        query: &[f32],
        pool: usize,
        filters: &Filters,
        allowed: Option<&HashSet<u64>>,
        terms: &[QueryTerm],
    ) -> Result<Vec<(u64, f32)>> {
        let liked: HashSet<u64> = terms
            .iter()
            .filter_map(|t| match t.kind {
                TermKind::Like(id) => Some(id),
                _ => None,
            })
            .collect();
        // Never more than the index holds: the vector index sizes its buffers by the count.
        let wanted = pool.saturating_add(liked.len()).min(index.len());
        let mut ranking = match allowed {
            Some(set) if self.wants_exact_scan(set.len(), index.len()) => {
                tracing::debug!(allowed = set.len(), "exact scan");
                exact_scan(index, query, set, wanted)?
            }
            _ => index
                .vector_search_filtered(query, wanted, filters, allowed)
                .map_err(SearchError::Index)?,
        };
        ranking.retain(|(id, _)| !liked.contains(id));
        ranking.truncate(pool);
        Ok(ranking)
    }

    fn wants_exact_scan(&self, allowed: usize, library: usize) -> bool {
        allowed < self.config.exact_scan_max_ids
            || (allowed as f64) < self.config.exact_scan_max_fraction * library as f64
    }

    /// Tags every image of `index` with the `labels` it earns under `rule`.
    pub fn tag_images(
        &self,
        index: &dyn SearchIndex,
        labels: &[String],
        rule: &TagRule,
    ) -> Result<Vec<ImageTags>> {
        self.check_model(index)?;
        rule.validate()?;
        if labels.len() < 2 {
            return Err(crate::tags::TagError::TooFewLabels.into());
        }
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let language = self
            .text
            .resolve_language(self.config.default_language.as_deref());
        let label_vectors =
            self.text
                .encode_in(&refs, Some(&self.config.label_prompts), language.as_deref())?;
        let mut tagged = Vec::new();
        for id in index.all_ids().map_err(SearchError::Index)? {
            let Some(embedding) = index.embedding(id).map_err(SearchError::Index)? else {
                continue;
            };
            tagged.push(ImageTags {
                id,
                tags: assign_tags_scored(
                    self.config.tag_scoring,
                    &embedding,
                    labels,
                    &label_vectors,
                    rule,
                ),
            });
        }
        tracing::info!(images = tagged.len(), labels = labels.len(), "tagged");
        Ok(tagged)
    }

    fn check_model(&self, index: &dyn SearchIndex) -> Result<()> {
        let (library, loaded) = (index.model_key(), self.text.model_key());
        if library != loaded {
            return Err(SearchError::ModelMismatch { library, loaded });
        }
        Ok(())
    }
}

/// Exact cosine ranking of the `allowed` ids, best first, equal cosines in `ties` order.
pub fn exact_scan(
    index: &dyn SearchIndex,
    query: &[f32],
    allowed: &HashSet<u64>,
    k: usize,
) -> Result<Vec<(u64, f32)>> {
    let ids: Vec<u64> = allowed.iter().copied().collect();
    let embeddings = index.embeddings(&ids).map_err(SearchError::Index)?;
    let mut scored = Vec::with_capacity(ids.len());
    for (id, embedding) in ids.into_iter().zip(embeddings) {
        if let Some(embedding) = embedding {
            scored.push((id, cosine(query, &embedding)));
        }
    }
    TieOrder::new(index).sort_ranking(&mut scored);
    scored.truncate(k);
    Ok(scored)
}

/// Near-duplicate groups of the whole library (needs no model): each image's `neighbours`
/// nearest neighbours from the index, grouped at `threshold` (see [`crate::dupes`]).
pub fn find_duplicates(
    index: &dyn SearchIndex,
    threshold: f32,
    neighbours: usize,
) -> Result<Vec<DupeGroup>> {
    let mut near = Vec::new();
    for id in index.all_ids().map_err(SearchError::Index)? {
        let Some(embedding) = index.embedding(id).map_err(SearchError::Index)? else {
            continue;
        };
        let found = index
            .vector_search(&embedding, neighbours + 1, None)
            .map_err(SearchError::Index)?;
        near.push((id, found));
    }
    let embedding = |id: u64| index.embedding(id).ok().flatten();
    Ok(group_duplicates(
        &near,
        threshold,
        |id| index.pixel_count(id),
        |a, b| Some(cosine(&embedding(a)?, &embedding(b)?)),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::backend::BackendError;
    use crate::request::DEFAULT_LIMIT;
    use crate::Filters;
    use magpie_catalog::words::TextQuery;

    /// Three images on the axes; remembers the largest count a vector search asked for.
    #[derive(Default)]
    struct ThreeImages {
        largest_k: AtomicUsize,
    }

    impl SearchIndex for ThreeImages {
        fn model_key(&self) -> String {
            "axes".into()
        }
        fn dimensions(&self) -> usize {
            3
        }
        fn len(&self) -> usize {
            3
        }
        fn vector_search(
            &self,
            query: &[f32],
            k: usize,
            _allowed: Option<&HashSet<u64>>,
        ) -> std::result::Result<Vec<(u64, f32)>, BackendError> {
            self.largest_k.fetch_max(k, Ordering::SeqCst);
            let mut hits: Vec<(u64, f32)> = (0..3u64).map(|i| (i + 1, query[i as usize])).collect();
            hits.sort_by(|a, b| b.1.total_cmp(&a.1));
            hits.truncate(k);
            Ok(hits)
        }
        fn keyword_search(
            &self,
            _text: &str,
            _limit: usize,
            _filters: &Filters,
        ) -> std::result::Result<Vec<(u64, f32)>, BackendError> {
            Ok(Vec::new())
        }
        fn image_text_search(
            &self,
            _query: &TextQuery,
            _limit: usize,
            _filters: &Filters,
        ) -> std::result::Result<Vec<(u64, f32, bool)>, BackendError> {
            // Three coloured squares: no text in them.
            Ok(Vec::new())
        }
        fn allowed_ids(
            &self,
            _filters: &Filters,
        ) -> std::result::Result<Option<HashSet<u64>>, BackendError> {
            Ok(None)
        }
        fn embedding(&self, id: u64) -> std::result::Result<Option<Vec<f32>>, BackendError> {
            Ok((1..=3).contains(&id).then(|| {
                let mut v = vec![0.0; 3];
                v[id as usize - 1] = 1.0;
                v
            }))
        }
        fn record(&self, _id: u64) -> Option<magpie_catalog::ImageRecord> {
            None
        }
        fn sort_key_date(&self, _id: u64) -> Option<i64> {
            None
        }
        fn file_name(&self, id: u64) -> Option<String> {
            Some(format!("{id}.jpg"))
        }
        fn pixel_count(&self, _id: u64) -> Option<u64> {
            Some(1)
        }
        fn all_ids(&self) -> std::result::Result<Vec<u64>, BackendError> {
            Ok(vec![1, 2, 3])
        }
    }

    /// Every text points along the first axis.
    struct FirstAxis;

    impl TextEmbedder for FirstAxis {
        fn embed_texts(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<f32>>, BackendError> {
            Ok(texts.iter().map(|_| vec![1.0, 0.2, 0.1]).collect())
        }
        fn model_key(&self) -> String {
            "axes".into()
        }
    }

    fn searcher() -> Searcher {
        Searcher::new(
            Arc::new(FirstAxis),
            None,
            Arc::new(EmbeddingCache::new(8, None)),
            SearcherConfig::default(),
        )
    }

    fn request(offset: usize, limit: usize) -> SearchRequest {
        SearchRequest {
            offset,
            limit,
            mode: SearchMode::Vector,
            min_score: Some(-1.0),
            raw: true,
            ..SearchRequest::text("red")
        }
    }

    #[test]
    fn offsets_are_bounded_and_cannot_overflow() {
        let (searcher, index) = (searcher(), ThreeImages::default());
        for offset in [usize::MAX, usize::MAX - DEFAULT_LIMIT + 1, MAX_OFFSET + 1] {
            match searcher.search(&index, &request(offset, DEFAULT_LIMIT)) {
                Err(SearchError::InvalidOffset { got, max }) => {
                    assert_eq!((got, max), (offset, MAX_OFFSET))
                }
                other => panic!("offset {offset}: {other:?}"),
            }
        }
        let message = searcher
            .search(&index, &request(usize::MAX, 1))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("offset") && message.contains("100000"),
            "{message}"
        );
        for limit in [0, MAX_LIMIT + 1, usize::MAX] {
            assert!(
                matches!(
                    searcher.search(&index, &request(0, limit)),
                    Err(SearchError::InvalidLimit { .. })
                ),
                "limit {limit}"
            );
        }
    }

    #[test]
    fn the_vector_index_is_never_asked_for_more_than_it_holds() {
        let (searcher, index) = (searcher(), ThreeImages::default());
        let deepest = searcher
            .search(&index, &request(MAX_OFFSET, MAX_LIMIT))
            .unwrap();
        assert!(deepest.hits.is_empty());
        assert_eq!(deepest.total, 3);
        let first = searcher.search(&index, &request(0, 2)).unwrap();
        assert_eq!(first.hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2]);
        // `--like` ids are asked for on top of the page, and still clamped.
        let like = SearchRequest {
            query: String::new(),
            like: vec![crate::WeightedLike { id: 2, weight: 1.0 }],
            ..request(MAX_OFFSET, MAX_LIMIT)
        };
        searcher.search(&index, &like).unwrap();
        assert_eq!(index.largest_k.load(Ordering::SeqCst), 3);
    }
}
