//! Library-wide routes: `/api/facets`, `/api/status`, `/api/duplicates`, `/metrics`.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, ApiResult};
use crate::metrics::LibraryGauges;
use crate::params::parse_pairs;
use crate::present::{DupeGroupJson, Duplicates, ModelInfo, Status};
use crate::search::json_response;
use crate::state::AppState;

/// `GET /api/facets`.
pub async fn facets(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let facts = web::block(move || state.facts(&state.service.collection())).await?;
    Ok(json_response(&facts.facets))
}

/// `GET /api/status`.
pub async fn status(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let status = web::block(move || {
        let collection = state.service.collection();
        let facts = state.facts(&collection);
        let model = state.service.model();
        // Counts from the snapshot itself: the facts may still be the previous generation's.
        Status {
            images: collection.index().len() as u64,
            failures: facts.failures,
            model: ModelInfo {
                name: model.name,
                dim: model.dim,
            },
            // A reader only opens libraries in the current format (older ones must be upgraded).
            format_version: magpie_migrations::CURRENT_VERSION,
            generation: collection.generation(),
            indexing: state.indexing(),
        }
    })
    .await?;
    Ok(json_response(&status))
}

/// `GET /api/duplicates?threshold=0.95`.
pub async fn duplicates(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let mut threshold = magpie_searcher::dupes::DEFAULT_DUPE_THRESHOLD;
    for (key, value) in parse_pairs(req.query_string())? {
        match key.as_str() {
            "threshold" => {
                threshold = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|t| *t > 0.0 && *t <= 1.0)
                    .ok_or_else(|| ApiError::bad_request("threshold must be a number in (0, 1]"))?;
            }
            _ => return Err(ApiError::bad_request(format!("unknown parameter {key:?}"))),
        }
    }
    let groups = web::block(move || state.duplicates(threshold)).await??;
    let groups = groups
        .iter()
        .map(|group| {
            let ids: Vec<u64> = group.members.iter().map(|m| m.id).collect();
            DupeGroupJson {
                size: ids.len(),
                ids,
            }
        })
        .filter(|group| group.size >= 2)
        .collect();
    Ok(json_response(&Duplicates { groups }))
}

/// `GET /metrics`.
pub async fn metrics(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let text = web::block(move || {
        let collection = state.service.collection();
        let facts = state.facts(&collection);
        state.metrics.render(&LibraryGauges {
            images: collection.index().len() as u64,
            generation: collection.generation(),
            failures: facts.failures,
            indexing_active: state.indexing().active,
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(text))
}
