//! The routes, the middleware around them, and running the HTTP server.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpServer};

use crate::config::ConfigError;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{images, library, middleware, search, ui};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Server(#[source] std::io::Error),
}

fn json_error(error: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &error {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::payload_too_large("the JSON body is larger than 1 MB")
        }
        JsonPayloadError::ContentType => {
            ApiError::unsupported_media_type("send the search as Content-Type: application/json")
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request(format!("invalid search body: {e}"))
        }
        other => ApiError::bad_request(format!("cannot read the body: {other}")),
    };
    api.into()
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed())
}

/// A resource answering 405 (as JSON) to methods it does not have.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// The application: every route of `web/openapi.json` plus the UI, with the token check,
/// security headers and metrics around all of them. Usable with `actix_web::test::init_service`.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json_limit = state.config.max_json_bytes;
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(json_limit)
                .error_handler(json_error),
        )
        .wrap(from_fn(middleware::require_token))
        .wrap(middleware::security_headers())
        .wrap(from_fn(middleware::record_metrics))
        .service(resource("/").route(web::get().to(ui::index)))
        .service(resource("/index.html").route(web::get().to(ui::index)))
        .service(resource("/app.js").route(web::get().to(ui::app_js)))
        .service(resource("/style.css").route(web::get().to(ui::style_css)))
        .service(resource("/favicon.svg").route(web::get().to(ui::favicon)))
        .service(resource("/healthz").route(web::get().to(ui::healthz)))
        .service(resource("/api/openapi.json").route(web::get().to(ui::openapi)))
        .service(resource("/metrics").route(web::get().to(library::metrics)))
        .service(
            resource("/api/search")
                .route(web::get().to(search::search_get))
                .route(web::post().to(search::search_post)),
        )
        .service(resource("/api/search/image").route(web::post().to(search::search_image)))
        .service(resource("/api/images/{id}").route(web::get().to(images::info)))
        .service(resource("/api/images/{id}/similar").route(web::get().to(search::similar)))
        .service(resource("/api/images/{id}/thumbnail").route(web::get().to(images::thumbnail)))
        .service(resource("/api/images/{id}/preview").route(web::get().to(images::preview)))
        .service(resource("/api/images/{id}/original").route(web::get().to(images::original)))
        .service(resource("/api/images/{id}/raw").route(web::get().to(images::raw_original)))
        .service(resource("/api/facets").route(web::get().to(library::facets)))
        .service(resource("/api/status").route(web::get().to(library::status)))
        .service(resource("/api/duplicates").route(web::get().to(library::duplicates)))
        .default_service(web::to(not_found))
}

/// Serves `state` until the process is interrupted (Ctrl-C / SIGTERM stop it gracefully).
/// Refuses a non-loopback bind without a token before opening any socket.
pub fn run(
    state: AppState,
    on_listening: impl FnOnce(&[std::net::SocketAddr]),
) -> Result<(), ServeError> {
    let config = state.config.clone();
    let addrs = config.validate()?;
    // Before listening, so that no request waits for the first pass over the records.
    let started = std::time::Instant::now();
    let collection = state.service.collection();
    state.facts(&collection);
    tracing::info!(
        images = collection.index().len(),
        seconds = started.elapsed().as_secs_f64(),
        "library facets computed"
    );
    let state = web::Data::new(state);
    actix_web::rt::System::new().block_on(async move {
        let factory_state = state.clone();
        let mut server = HttpServer::new(move || app(factory_state.clone()))
            .workers(config.workers.unwrap_or_else(default_workers))
            .bind(&addrs[..])
            .map_err(|source| ServeError::Bind {
                bind: config.bind.clone(),
                source,
            })?;
        // HTTP/1 keep-alive and a bounded request head are actix defaults; also bound slow
        // clients, so an idle connection cannot hold a worker slot forever.
        server = server.client_request_timeout(std::time::Duration::from_secs(30));
        let bound = server.addrs();
        tracing::info!(
            addresses = ?bound,
            token = config.token.is_some(),
            "serving the Magpie UI and API"
        );
        on_listening(&bound);
        server.run().await.map_err(ServeError::Server)
    })
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Where a started server can be reached, for humans.
pub fn url_of(addr: &std::net::SocketAddr) -> String {
    format!("http://{addr}/")
}
