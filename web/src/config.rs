//! Server settings and the startup checks on them.
//!
//! The rule that matters: a server reachable from other machines must require a token. Binding
//! to loopback needs none; binding to anything else (`0.0.0.0`, a LAN address, a host name that
//! resolves to one) without a token is refused before a socket is opened.

use std::net::{SocketAddr, ToSocketAddrs};

/// Default listening address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Largest accepted example-image upload (20 MiB, as in `web/openapi.json`).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 20 * 1024 * 1024;
/// Largest accepted example image, in pixels (100 megapixels).
pub const DEFAULT_MAX_UPLOAD_PIXELS: u64 = 100_000_000;
/// Largest accepted JSON body (1 MiB).
pub const DEFAULT_MAX_JSON_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `host:port` to listen on.
    pub bind: String,
    /// Required on every API request when set.
    pub token: Option<String>,
    pub max_upload_bytes: u64,
    pub max_upload_pixels: u64,
    pub max_json_bytes: usize,
    /// HTTP worker threads; `None` = one per CPU.
    pub workers: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND.to_string(),
            token: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_upload_pixels: DEFAULT_MAX_UPLOAD_PIXELS,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            workers: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot use {bind:?} as a listening address (expected HOST:PORT): {reason}")]
    BadBind { bind: String, reason: String },
    #[error(
        "refusing to listen on {bind} without a token: it is reachable from other machines. \
         Pass --token (or set MAGPIE_TOKEN or the config's `token`), or bind to 127.0.0.1"
    )]
    TokenRequired { bind: String },
    #[error("the token is empty or has characters other than visible ASCII; choose another")]
    BadToken,
}

impl ServerConfig {
    /// The addresses to listen on, after checking the token rule.
    pub fn validate(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        let addrs: Vec<SocketAddr> = self
            .bind
            .to_socket_addrs()
            .map_err(|e| ConfigError::BadBind {
                bind: self.bind.clone(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(ConfigError::BadBind {
                bind: self.bind.clone(),
                reason: "it resolves to no address".into(),
            });
        }
        if let Some(token) = &self.token {
            // Sent in a header and a cookie: only visible ASCII survives both unchanged.
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::BadToken);
            }
        }
        if self.token.is_none() && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(ConfigError::TokenRequired {
                bind: self.bind.clone(),
            });
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(bind: &str, token: Option<&str>) -> ServerConfig {
        ServerConfig {
            bind: bind.into(),
            token: token.map(str::to_string),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn loopback_needs_no_token() {
        assert!(config("127.0.0.1:0", None).validate().is_ok());
        assert!(config("[::1]:0", None).validate().is_ok());
        assert!(config("localhost:0", None).validate().is_ok());
    }

    #[test]
    fn other_addresses_need_a_token() {
        assert!(matches!(
            config("0.0.0.0:8080", None).validate(),
            Err(ConfigError::TokenRequired { .. })
        ));
        assert!(matches!(
            config("[::]:8080", None).validate(),
            Err(ConfigError::TokenRequired { .. })
        ));
        assert!(config("0.0.0.0:8080", Some("s3cret")).validate().is_ok());
    }

    #[test]
    fn bad_binds_and_tokens_are_refused() {
        assert!(matches!(
            config("no-port", None).validate(),
            Err(ConfigError::BadBind { .. })
        ));
        assert!(matches!(
            config("127.0.0.1:0", Some("")).validate(),
            Err(ConfigError::BadToken)
        ));
        assert!(matches!(
            config("127.0.0.1:0", Some("two words")).validate(),
            Err(ConfigError::BadToken)
        ));
    }
}
