//! The single-page UI (`web/ui/`), compiled into the binary so `magpie serve` needs no files
//! beside it. No build step: these are the files as written.

use actix_web::http::header;
use actix_web::HttpResponse;

pub const INDEX_HTML: &str = include_str!("../ui/index.html");
pub const APP_JS: &str = include_str!("../ui/app.js");
pub const STYLE_CSS: &str = include_str!("../ui/style.css");
pub const FAVICON_SVG: &str = include_str!("../ui/favicon.svg");

/// The OpenAPI description served at `/api/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Revalidate on every load: a new binary must not be mixed with a cached old app.js.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

pub async fn app_js() -> HttpResponse {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

pub async fn style_css() -> HttpResponse {
    asset(STYLE_CSS, "text/css; charset=utf-8")
}

pub async fn favicon() -> HttpResponse {
    asset(FAVICON_SVG, "image/svg+xml")
}

pub async fn openapi() -> HttpResponse {
    asset(OPENAPI_JSON, "application/json")
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("ok")
}
