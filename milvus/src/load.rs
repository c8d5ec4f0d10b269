//! `magpie milvus load`: shards → a Milvus collection, upserted by id, so a shard loaded twice (or
//! re-embedded and loaded again) leaves one row per image.

use std::collections::HashMap;
use std::time::Instant;

use magpie_shard::ShardSet;

use crate::client::Milvus;
pub use crate::client::VectorType;
use crate::error::MilvusError;
use crate::schema;

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The vector field's type when the collection is created (`f16` halves Milvus's memory;
    /// Milvus Lite stores only `f32`).
    pub vector: VectorType,
    /// Rows per upsert call.
    pub batch: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            vector: VectorType::F32,
            batch: 1000,
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct LoadSummary {
    pub shards: usize,
    /// Rows upserted (every row of every shard).
    pub rows: usize,
    /// Rows the collection holds afterwards (one per image, however often it was loaded).
    pub collection_rows: usize,
    pub created: bool,
    pub seconds: f64,
}

/// Loads every shard of `sets` into `collection`, creating it on first use. `progress` is told
/// the rows done and the total after every batch.
pub fn load(
    milvus: &Milvus,
    collection: &str,
    sets: &[ShardSet],
    options: &LoadOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<LoadSummary, MilvusError> {
    let started = Instant::now();
    let first = sets.first().ok_or_else(|| MilvusError::BadAddress {
        given: String::new(),
        reason: "no shard folder given".into(),
    })?;
    let (model, dims) = (first.model_key().to_string(), first.dimensions());
    for set in &sets[1..] {
        if set.model_key() != model || set.dimensions() != dims {
            return Err(MilvusError::ModelMismatch {
                collection: collection.to_string(),
                collection_model: model,
                collection_dims: dims,
                what: format!("the shards in {}", set.dir().display()),
                model: set.model_key().to_string(),
                dims: set.dimensions(),
            });
        }
    }
    let created = if milvus.has_collection(collection)? {
        check_collection(
            milvus,
            collection,
            &model,
            dims,
            &format!("the shards in {}", first.dir().display()),
        )?;
        milvus.load_collection(collection)?;
        false
    } else {
        let properties = HashMap::from([
            (schema::PROPERTY_MODEL.to_string(), model.clone()),
            (schema::PROPERTY_DIMENSIONS.to_string(), dims.to_string()),
            (
                schema::PROPERTY_SCHEMA.to_string(),
                schema::SCHEMA_VERSION.to_string(),
            ),
        ]);
        milvus.create_collection(collection, dims, options.vector, properties)?;
        true
    };
    let total: usize = sets.iter().map(ShardSet::len).sum();
    let mut summary = LoadSummary {
        created,
        ..LoadSummary::default()
    };
    for set in sets {
        for manifest in set.shards() {
            let rows = set.read_shard(manifest.shard)?;
            for batch in rows.chunks(options.batch.max(1)) {
                let values = batch
                    .iter()
                    .map(|r| schema::row(&r.record, &r.embedding, manifest.shard))
                    .collect();
                milvus.upsert(collection, values)?;
                summary.rows += batch.len();
                progress(summary.rows, total);
            }
            summary.shards += 1;
        }
    }
    milvus.flush(collection)?;
    summary.collection_rows = milvus.count(collection)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Refuses a collection made by another model or another version of these fields.
pub fn check_collection(
    milvus: &Milvus,
    collection: &str,
    model: &str,
    dims: usize,
    what: &str,
) -> Result<(), MilvusError> {
    let info = milvus.describe(collection)?;
    let found_model = info
        .properties
        .get(schema::PROPERTY_MODEL)
        .cloned()
        .unwrap_or_else(|| "(none: not made by magpie milvus load)".into());
    let found_dims = info.dimensions.unwrap_or(0);
    if found_model != model || found_dims != dims {
        return Err(MilvusError::ModelMismatch {
            collection: collection.to_string(),
            collection_model: found_model,
            collection_dims: found_dims,
            what: what.to_string(),
            model: model.to_string(),
            dims,
        });
    }
    match info.properties.get(schema::PROPERTY_SCHEMA) {
        Some(v) if v == schema::SCHEMA_VERSION => Ok(()),
        found => Err(MilvusError::Server {
            address: milvus.address().uri.clone(),
            action: format!("use collection {collection}"),
            reason: format!(
                "its fields are version {} of Magpie's, this build reads version {}: load the shards into a new collection",
                found.map_or("(none)", String::as_str),
                schema::SCHEMA_VERSION
            ),
        }),
    }
}
