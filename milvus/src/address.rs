//! Where a Milvus server is (`http://HOST:PORT`) and which collection a backend searches
//! (`milvus://HOST:PORT/COLLECTION`).

use crate::error::MilvusError;

/// A Milvus server, as the SDK wants it (`http://HOST:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilvusAddress {
    pub uri: String,
}

impl MilvusAddress {
    /// `http://HOST:PORT`, `https://…` or `HOST:PORT` (http); the default port is Milvus's 19530.
    pub fn parse(given: &str) -> Result<Self, MilvusError> {
        let bad = |reason: &str| MilvusError::BadAddress {
            given: given.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = match given.split_once("://") {
            Some((s @ ("http" | "https"), rest)) => (s, rest),
            Some((other, _)) => return Err(bad(&format!("unknown scheme {other}"))),
            None => ("http", given),
        };
        let host_port = rest.trim_end_matches('/');
        if host_port.is_empty() || host_port.contains('/') {
            return Err(bad("expected HOST:PORT"));
        }
        let with_port = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => {
                port.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?;
                host_port.to_string()
            }
            Some(_) => return Err(bad("no host")),
            None => format!("{host_port}:19530"),
        };
        Ok(Self {
            uri: format!("{scheme}://{with_port}"),
        })
    }
}

impl std::fmt::Display for MilvusAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri)
    }
}

/// A search backend given as `milvus://HOST:PORT/COLLECTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub address: MilvusAddress,
    pub collection: String,
}

impl Backend {
    pub fn parse(given: &str) -> Result<Self, MilvusError> {
        let bad = |reason: &str| MilvusError::BadAddress {
            given: given.to_string(),
            reason: reason.to_string(),
        };
        let rest = given
            .strip_prefix("milvus://")
            .ok_or_else(|| bad("a backend starts with milvus://"))?;
        let (host_port, collection) = rest
            .split_once('/')
            .ok_or_else(|| bad("no collection: milvus://HOST:PORT/COLLECTION"))?;
        let collection = collection.trim_end_matches('/');
        if collection.is_empty() || collection.contains('/') {
            return Err(bad("no collection: milvus://HOST:PORT/COLLECTION"));
        }
        Ok(Self {
            address: MilvusAddress::parse(host_port)?,
            collection: collection.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            MilvusAddress::parse("http://127.0.0.1:19631").unwrap().uri,
            "http://127.0.0.1:19631"
        );
        assert_eq!(
            MilvusAddress::parse("milvus.local").unwrap().uri,
            "http://milvus.local:19530"
        );
        assert!(MilvusAddress::parse("ftp://x:1").is_err());
        assert!(MilvusAddress::parse("http://x:port").is_err());
        let b = Backend::parse("milvus://127.0.0.1:19631/photos").unwrap();
        assert_eq!(b.address.uri, "http://127.0.0.1:19631");
        assert_eq!(b.collection, "photos");
        assert!(Backend::parse("milvus://127.0.0.1:19631").is_err());
        assert!(Backend::parse("http://127.0.0.1:19631/photos").is_err());
    }
}
