//! What can go wrong talking to Milvus or reading what it is fed.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MilvusError {
    #[error("not a Milvus address: {given} ({reason}); expected http://HOST:PORT, or milvus://HOST:PORT/COLLECTION for a backend")]
    BadAddress { given: String, reason: String },
    #[error("cannot reach Milvus at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("Milvus at {address} does not hold the collection in memory: {reason}")]
    NotLoaded { address: String, reason: String },
    #[error("Milvus at {address} refused to {action}: {reason}")]
    Server {
        address: String,
        action: String,
        reason: String,
    },
    #[error("Milvus at {address} has no collection {collection} (create it with `magpie milvus load --milvus {address} --collection {collection} SHARD_DIR…`)")]
    NoCollection { address: String, collection: String },
    #[error("collection {collection} holds embeddings of model {collection_model} ({collection_dims} dimensions), but {what} is {model} ({dims} dimensions): load into another collection, or use the model the collection was made with")]
    ModelMismatch {
        collection: String,
        collection_model: String,
        collection_dims: usize,
        what: String,
        model: String,
        dims: usize,
    },
    #[error("the filter {key}= cannot be answered by the Milvus backend: {why}")]
    UnsupportedFilter {
        key: &'static str,
        why: &'static str,
    },
    #[error(transparent)]
    Shards(#[from] magpie_shard::ShardError),
    #[error("the keyword index at {dir}: {reason}")]
    Keywords { dir: PathBuf, reason: String },
    #[error("cannot start the Milvus client's runtime: {0}")]
    Runtime(std::io::Error),
}
