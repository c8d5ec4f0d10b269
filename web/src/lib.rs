//! `magpie-web`: the HTTP server behind `magpie serve` — the JSON API described in
//! `web/openapi.json` and the single-page UI of `web/ui/`, embedded in the binary.
//!
//! - [`server::app`] builds the actix-web application (all routes, the token check, security
//!   headers, metrics); [`server::run`] serves it.
//! - [`config::ServerConfig`] holds the bind address, token and upload limits, and refuses to
//!   expose a server beyond loopback without a token.
//! - Searches go through a [`magpie_searcher::SearchService`] — a local library, taking a fresh
//!   snapshot per request so images committed by a concurrent `magpie index` show up without a
//!   restart, or a remote backend (Milvus, `magpie-milvus`), whose outage is a 503 until it is
//!   back.
//! - Files are only ever reached through an image id looked up in the catalog ([`images`]).
//! - Every error is JSON with a 4xx/5xx status ([`error::ApiError`]); blocking work runs on the
//!   blocking pool, where a panic becomes a 500 rather than a dead worker.

pub mod config;
pub mod error;
pub mod images;
pub mod library;
pub mod metrics;
pub mod middleware;
pub mod params;
pub mod present;
pub mod search;
pub mod server;
pub mod state;
pub mod ui;
pub mod upload;

pub use config::{ConfigError, ServerConfig, DEFAULT_BIND};
pub use error::ApiError;
pub use server::{app, run, url_of, ServeError};
pub use state::{AppState, PROGRESS_FILE};
