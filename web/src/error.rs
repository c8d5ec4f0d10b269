//! API errors: every failure a request can meet, as `{"error": {"code", "message"}}` with a 4xx or
//! 5xx status (the `Error` schema of `web/openapi.json`).
//!
//! `code` is a stable word for programs; `message` is for people and is safe to show: internal
//! failures (I/O, the model, the index) are logged in full and answered with a generic message, so
//! no server detail beyond the library's own paths leaks to a client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use magpie_searcher::query::QueryError;
use magpie_searcher::SearchError;
use serde::Serialize;

/// A request that failed, as the client will see it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn query_too_long(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "query_too_long", message)
    }

    pub fn invalid_filter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_filter", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not support that method",
        )
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub fn invalid_image(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_image", message)
    }

    pub fn image_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "image_too_large", message)
    }

    pub fn range_not_satisfiable() -> Self {
        Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            "the requested byte range is outside the file",
        )
    }

    /// A backend's error: 503 naming it when it is down (the next request tries again), else a
    /// bug or an I/O failure (500).
    pub fn from_backend(error: magpie_searcher::BackendError) -> Self {
        if magpie_searcher::is_unavailable(&error) {
            tracing::warn!("{error}");
            return Self::unavailable(error.to_string());
        }
        Self::internal(error)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A bug or an I/O failure: `detail` goes to the log, the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error (the server log has the details)",
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"magpie\""),
            ));
        }
        response.json(body)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        // The blocking pool reports a panic in the closure this way: a bug, answered with 500.
        Self::internal(format!("background task failed: {error}"))
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Query(QueryError::TooLong { .. }) => {
                Self::query_too_long(error.to_string())
            }
            SearchError::Query(_) => Self::bad_request(error.to_string()),
            SearchError::Filter(_) => Self::invalid_filter(error.to_string()),
            SearchError::Tag(_)
            | SearchError::DegenerateQuery
            | SearchError::ZeroEmbedding(_)
            | SearchError::NoKeywordText
            | SearchError::InvalidLimit { .. }
            | SearchError::InvalidOffset { .. }
            | SearchError::InvalidMinScore(_) => Self::bad_request(error.to_string()),
            SearchError::UnknownImage { id } => {
                Self::not_found(format!("no image with id {id} in the library"))
            }
            SearchError::UnreadableImage { source, .. } => {
                // The path is a temporary upload file: say what was wrong, not where it was.
                tracing::info!("uploaded image rejected by the model: {source}");
                Self::invalid_image("the image could not be decoded")
            }
            SearchError::NoImageModel => {
                Self::unavailable("searching by image needs the image model, which is not loaded")
            }
            SearchError::ModelMismatch { .. } | SearchError::DimensionMismatch { .. } => {
                tracing::error!("{error}");
                Self::unavailable(error.to_string())
            }
            SearchError::Index(source) => Self::from_backend(source),
            SearchError::Prompt(_)
            | SearchError::TextModel(_)
            | SearchError::TextModelShape { .. } => Self::internal(error),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
