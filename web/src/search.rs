//! The search routes: `GET`/`POST /api/search`, `POST /api/search/image`,
//! `GET /api/images/{id}/similar`.
//!
//! Each search takes one fresh view of the images ([`SearchService::collection`]: a library
//! snapshot, or a remote backend and its shards) and uses it for the ranking *and* for the
//! records of the hits, so a commit landing mid-request cannot produce a
//! hit without metadata. The work (model runs, HNSW, tantivy) happens on the blocking pool, never
//! on an HTTP worker.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
#[cfg(doc)]
use magpie_searcher::SearchService;
use magpie_searcher::{Collection, SearchRequest, WeightedImage, WeightedLike, WeightedText};

use crate::error::{ApiError, ApiResult};
use crate::params::{options_from_query, Route, SearchBody, SearchOptions};
use crate::present::{hit_json, SearchPage};
use crate::state::AppState;
use crate::upload::{self, UploadedImage};

pub fn json_response(value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(value)
}

/// `GET /api/search`.
pub async fn search_get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let options = options_from_query(req.query_string(), Route::Search)?;
    let page = web::block(move || execute(&state, &options, None)).await??;
    Ok(json_response(&page))
}

/// `POST /api/search` (JSON body; size, content type and syntax are checked by the extractor).
pub async fn search_post(
    body: web::Json<SearchBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let options = body.into_inner().into_options()?;
    let page = web::block(move || execute(&state, &options, None)).await??;
    Ok(json_response(&page))
}

/// `POST /api/search/image`: options in the query string, the image (and text) in the form.
pub async fn search_image(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let mut options = options_from_query(req.query_string(), Route::Example)?;
    let upload = upload::receive(&req, payload, state.config.max_upload_bytes).await?;
    options.query = upload.text.clone().unwrap_or_default();
    let page = web::block(move || {
        upload::check_image(upload.path(), state.config.max_upload_pixels)?;
        execute(&state, &options, Some(&upload))
    })
    .await??;
    Ok(json_response(&page))
}

/// `GET /api/images/{id}/similar`.
pub async fn similar(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = crate::images::parse_image_id(&id)?;
    let mut options = options_from_query(req.query_string(), Route::Example)?;
    options.like = vec![id];
    let page = web::block(move || {
        let _permit = state.search_permit();
        let collection = state.service.collection();
        if collection.index().record(id).is_none() {
            return Err(ApiError::not_found(format!("no image with id {id}")));
        }
        execute_on(&state, &collection, &options, None)
    })
    .await??;
    Ok(json_response(&page))
}

/// Runs one search on a fresh snapshot.
pub fn execute(
    state: &AppState,
    options: &SearchOptions,
    upload: Option<&UploadedImage>,
) -> ApiResult<SearchPage> {
    let _permit = state.search_permit();
    let collection = state.service.collection();
    execute_on(state, &collection, options, upload)
}

fn execute_on(
    state: &AppState,
    collection: &Arc<dyn Collection>,
    options: &SearchOptions,
    upload: Option<&UploadedImage>,
) -> ApiResult<SearchPage> {
    let started = Instant::now();
    let facts = state.facts(collection);
    let filters = options.filters.to_filters(&facts.root)?;
    let has_text = !options.query.trim().is_empty();
    if !has_text && options.like.is_empty() && upload.is_none() {
        return browse(collection.as_ref(), &facts.root, filters, options, started);
    }
    let mut request = SearchRequest {
        filters,
        mode: options.mode,
        sort: options.sort,
        limit: options.limit,
        offset: options.offset,
        min_score: options.min_score,
        raw: options.raw,
        ..SearchRequest::default()
    };
    // `raw` means no cutoff at all in the API; the searcher's `raw` only skips prompt ensembles,
    // so keep every candidate explicitly.
    if options.raw && options.min_score.is_none() {
        request.min_score = Some(-1.0);
    }
    match upload {
        Some(upload) => {
            let text_weight = if has_text { upload.text_weight } else { 0.0 };
            if text_weight > 0.0 {
                request.texts.push(WeightedText {
                    text: options.query.clone(),
                    weight: text_weight,
                });
            }
            if text_weight < 1.0 {
                request.images.push(WeightedImage {
                    path: upload.path().to_path_buf(),
                    weight: 1.0 - text_weight,
                });
            }
        }
        None => {
            request.query = options.query.clone();
            request.like = options
                .like
                .iter()
                .map(|&id| WeightedLike { id, weight: 1.0 })
                .collect();
        }
    }
    let response = state
        .service
        .searcher()
        .search(collection.index(), &request)?;
    // The request parsed in the search above, so this cannot fail.
    let query_words = request
        .image_text_query()
        .ok()
        .flatten()
        .map(|q| q.words)
        .unwrap_or_default();
    let hits = response
        .hits
        .iter()
        .filter_map(|hit| {
            let matched = hit.matched().into_iter().map(|m| m.as_str()).collect();
            collection
                .index()
                .record(hit.id)
                .map(|r| hit_json(&r, hit.score, &facts.root, matched, &query_words))
        })
        .collect();
    Ok(SearchPage {
        hits,
        total: response.total,
        offset: options.offset,
        limit: options.limit,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
        cutoff_score: if options.raw {
            None
        } else {
            response.cutoff_score
        },
    })
}

/// No text, no example: the images matching the filters, newest first (taken-at, else mtime),
/// score 0 and no cutoff, as the contract's "Browsing" section says.
fn browse(
    collection: &dyn Collection,
    root: &std::path::Path,
    filters: magpie_searcher::Filters,
    options: &SearchOptions,
    started: Instant,
) -> ApiResult<SearchPage> {
    let index = collection.index();
    let ids: Vec<u64> = match index
        .allowed_ids(&filters)
        .map_err(ApiError::from_backend)?
    {
        Some(allowed) => allowed.into_iter().collect(),
        None => index.all_ids().map_err(ApiError::from_backend)?,
    };
    let mut dated: Vec<(Option<i64>, u64)> = ids
        .into_iter()
        .map(|id| (index.sort_key_date(id), id))
        .collect();
    // Newest first, undated last, ties by id so pages are stable.
    dated.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => y.cmp(&x).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    let total = dated.len();
    let hits = dated
        .into_iter()
        .skip(options.offset)
        .take(options.limit)
        .filter_map(|(_, id)| {
            collection
                .index()
                .record(id)
                .map(|r| hit_json(&r, 0.0, root, Vec::new(), &[]))
        })
        .collect();
    Ok(SearchPage {
        hits,
        total,
        offset: options.offset,
        limit: options.limit,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
        cutoff_score: None,
    })
}
