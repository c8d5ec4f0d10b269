//! What wraps every request: the token check, security headers, and request metrics.
//!
//! The token check fails closed: a short allow-list of paths (the UI's files, `/healthz`, the
//! OpenAPI document) is public, and every other path — every API route, `/metrics`, and any
//! path the router might normalise into one of them — needs the token when one is configured.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, Error, ResponseError};
use percent_encoding::percent_decode_str;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::metrics::method_label;
use crate::state::AppState;

/// The CSP of the UI (the same as `web/e2e/mock-server.mjs`): no inline script or style, images
/// also from `blob:` (dropped files) and `data:`.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'";

/// The cookie the UI stores the token in (so `<img>` requests carry it).
pub const TOKEN_COOKIE: &str = "magpie_token";

/// Paths that never need the token.
const PUBLIC_PATHS: [&str; 7] = [
    "/",
    "/index.html",
    "/app.js",
    "/style.css",
    "/favicon.svg",
    "/healthz",
    "/api/openapi.json",
];

pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

fn equal_in_constant_time(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Whether the request carries `token` as a bearer token or as the UI's cookie.
pub fn carries_token(req: &ServiceRequest, token: &str) -> bool {
    let headers = req.headers();
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (scheme, value) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
        })
        .any(|value| equal_in_constant_time(value, token));
    if bearer {
        return true;
    }
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|cookie| {
            let (name, value) = cookie.trim().split_once('=')?;
            (name.trim() == TOKEN_COOKIE).then(|| value.trim())
        })
        .filter_map(|value| percent_decode_str(value).decode_utf8().ok())
        .any(|value| equal_in_constant_time(&value, token))
}

/// Answers 401 unless the path is public or the request carries the configured token.
pub async fn require_token<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let token = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.config.token.clone());
    if let Some(token) = token {
        if !PUBLIC_PATHS.contains(&req.path()) && !carries_token(&req, &token) {
            let response = ApiError::unauthorized().error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Counts every answer (including 401s and 404s) by route pattern and status, with its latency.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let result = next.call(req).await;
    if let Some(state) = state {
        let status = match &result {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        state
            .metrics
            .record(&route, method, status, started.elapsed().as_secs_f64());
    }
    result
}
