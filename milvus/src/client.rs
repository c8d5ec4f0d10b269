//! A blocking Milvus client over the official async SDK: one small runtime of its own, bounded
//! connect and call timeouts, and errors that name the server's address and what was being done.

use std::collections::HashMap;
use std::time::Duration;

use milvus::v2 as sdk;
use milvus::v2::prelude::*;
// The prelude brings the SDK's one-parameter `Result`; ours names its error.
use serde_json::Value;
use std::result::Result;

use crate::address::MilvusAddress;
use crate::error::MilvusError;
use crate::schema;

/// How long to wait for a server to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take (an upsert of a batch, a search).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times the SDK tries one call (a restarting server, a busy one).
const RETRY_ATTEMPTS: u32 = 4;
/// Milvus' error code for a collection that is not loaded into memory.
const COLLECTION_NOT_LOADED: i32 = 101;
/// The most rows Milvus returns from one query or search (its `max_query_result_window`).
pub const MAX_RESULT_WINDOW: usize = 16_384;

/// A connection to one Milvus server.
pub struct Milvus {
    address: MilvusAddress,
    runtime: tokio::runtime::Runtime,
    client: ClientV2,
}

/// What Magpie needs to know of a collection.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    pub name: String,
    pub properties: HashMap<String, String>,
    pub dimensions: Option<usize>,
}

/// The vector field's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorType {
    F32,
    F16,
}

impl Milvus {
    /// Connects (bounded by [`CONNECT_TIMEOUT`]).
    pub fn connect(address: &MilvusAddress) -> Result<Self, MilvusError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MilvusError::Runtime)?;
        let config = ConnectConfig::new()
            .uri(address.uri.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .rpc_timeout(CALL_TIMEOUT)
            // The SDK retries a failed call with backoff; a few quick tries, so a server that is
            // down is reported within about a second, while one slow call (a large upsert) still
            // has the whole call timeout (a retry deadline would cut it short).
            .retry(
                RetryConfig::new()
                    .max_attempts(RETRY_ATTEMPTS)
                    .initial_backoff(Duration::from_millis(200))
                    .max_backoff(Duration::from_secs(2)),
            );
        let client = runtime
            .block_on(async {
                tokio::time::timeout(CONNECT_TIMEOUT * 2, ClientV2::new(&config)).await
            })
            .map_err(|_| MilvusError::Unreachable {
                address: address.uri.clone(),
                reason: format!("no answer within {} s", (CONNECT_TIMEOUT * 2).as_secs()),
            })?
            .map_err(|e| MilvusError::Unreachable {
                address: address.uri.clone(),
                reason: e.to_string(),
            })?;
        let milvus = Self {
            address: address.clone(),
            runtime,
            client,
        };
        // The SDK may connect lazily: ask something, so a dead server fails here, by name. (Not
        // the collection list: Milvus Lite answers it without the ids the SDK insists on.)
        milvus.has_collection("magpie_connection_check")?;
        Ok(milvus)
    }

    pub fn address(&self) -> &MilvusAddress {
        &self.address
    }

    /// Runs one SDK call to completion, bounded by [`CALL_TIMEOUT`], naming `action` in errors.
    fn call<'a, T, F, Fut>(&'a self, action: &str, f: F) -> Result<T, MilvusError>
    where
        F: FnOnce(&'a ClientV2) -> Fut,
        Fut: std::future::Future<Output = milvus::v2::error::Result<T>>,
    {
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, f(&self.client)).await });
        match outcome {
            Err(_) => Err(MilvusError::Unreachable {
                address: self.address.uri.clone(),
                reason: format!("{action}: no answer within {} s", CALL_TIMEOUT.as_secs()),
            }),
            Ok(Err(e)) => Err(self.classify(action, e)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// A transport failure (or no answer) means the server is gone; a collection that is not
    /// in memory (Milvus' code 101, e.g. after a restart) is [`MilvusError::NotLoaded`];
    /// anything else is the server's refusal.
    fn classify(&self, action: &str, error: milvus::v2::error::Error) -> MilvusError {
        use milvus::v2::error::Error as Sdk;
        let gone = match &error {
            Sdk::Grpc(status) => matches!(
                status.code(),
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled
                    | tonic::Code::Aborted
                    | tonic::Code::Unknown
            ),
            Sdk::Timeout(_) | Sdk::Cancelled(_) => true,
            Sdk::RetryExhausted { source, .. } => {
                return self.classify(action, (**source).clone());
            }
            _ => false,
        };
        if gone {
            return MilvusError::Unreachable {
                address: self.address.uri.clone(),
                reason: format!("{action}: {error}"),
            };
        }
        if let Sdk::Server(server) = &error {
            if server.code() == COLLECTION_NOT_LOADED {
                return MilvusError::NotLoaded {
                    address: self.address.uri.clone(),
                    reason: error.to_string(),
                };
            }
        }
        MilvusError::Server {
            address: self.address.uri.clone(),
            action: action.to_string(),
            reason: error.to_string(),
        }
    }

    pub fn has_collection(&self, name: &str) -> Result<bool, MilvusError> {
        let request = HasCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(|e| self.classify("check for a collection", e))?;
        self.call("check for a collection", |c| async move {
            c.has_collection(request).await.map(|r| r.exists())
        })
    }

    /// The collection's properties and vector dimension; [`MilvusError::NoCollection`] when
    /// there is none.
    pub fn describe(&self, name: &str) -> Result<CollectionInfo, MilvusError> {
        if !self.has_collection(name)? {
            return Err(MilvusError::NoCollection {
                address: self.address.uri.clone(),
                collection: name.to_string(),
            });
        }
        let request = sdk::request::collection::DescribeCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(|e| self.classify("describe the collection", e))?;
        let description = self.call("describe the collection", |c| async move {
            c.describe_collection(request).await
        })?;
        let desc = description.description();
        let dimensions = desc
            .get_schema()
            .get_fields()
            .iter()
            .find(|f| f.get_name() == schema::EMBEDDING)
            .map(|f| f.get_dimension() as usize);
        Ok(CollectionInfo {
            name: name.to_string(),
            properties: desc.get_properties().clone(),
            dimensions,
        })
    }

    /// Creates the collection with Magpie's fields, an HNSW index (cosine), its properties, and
    /// loads it for search.
    pub fn create_collection(
        &self,
        name: &str,
        dimensions: usize,
        vector: VectorType,
        properties: HashMap<String, String>,
    ) -> Result<(), MilvusError> {
        let text = |field: &str, max: u32| {
            sdk::FieldSchema::new()
                .name(field)
                .data_type(sdk::DataType::VarChar)
                .max_length(max)
        };
        let words = |field: &str| {
            sdk::FieldSchema::new()
                .name(field)
                .data_type(sdk::DataType::Array)
                .element_type(sdk::DataType::VarChar)
                .max_capacity(schema::MAX_WORDS)
                .max_length(schema::MAX_WORD)
        };
        let integer =
            |field: &str, kind: sdk::DataType| sdk::FieldSchema::new().name(field).data_type(kind);
        let collection_schema = sdk::CollectionSchema::new()
            .add_field(
                sdk::FieldSchema::new()
                    .name(schema::ID)
                    .data_type(sdk::DataType::Int64)
                    .primary_key(true)
                    .auto_id(false),
            )
            .add_field(
                sdk::FieldSchema::new()
                    .name(schema::EMBEDDING)
                    .data_type(match vector {
                        VectorType::F32 => sdk::DataType::FloatVector,
                        VectorType::F16 => sdk::DataType::Float16Vector,
                    })
                    .dimension(dimensions as u32),
            )
            .add_field(text(schema::PATH, schema::MAX_PATH))
            .add_field(integer(schema::SHARD, sdk::DataType::Int32))
            .add_field(text(schema::FOLDER, schema::MAX_PATH))
            .add_field(integer(schema::DATE, sdk::DataType::Int64))
            .add_field(words(schema::CAMERA_WORDS))
            .add_field(text(schema::EXTENSION, 64))
            .add_field(integer(schema::PIXELS, sdk::DataType::Int64))
            .add_field(text(schema::ORIENTATION, 16))
            .add_field(words(schema::TAGS));
        let request = sdk::request::collection::CreateCollectionRequest::builder()
            .collection_name(name)
            .schema(collection_schema)
            .build()
            .map_err(|e| self.classify("create the collection", e))?;
        self.call("create the collection", |c| async move {
            c.create_collection(request).await.map(|_| ())
        })?;
        let index = sdk::request::index::CreateIndexRequest::builder()
            .collection_name(name)
            .index_params(vec![IndexParam::new()
                .field_name(schema::EMBEDDING)
                .index_type(IndexType::Hnsw)
                .metric_type(MetricType::Cosine)
                .extra_params(HashMap::from([
                    ("M".into(), HNSW_M.to_string()),
                    ("efConstruction".into(), HNSW_EF_CONSTRUCTION.to_string()),
                ]))])
            // Not waiting for the build here: the SDK's wait asks for a timestamp, which Milvus
            // Lite does not implement, and loading the collection waits for its index anyway.
            .sync(false)
            .build()
            .map_err(|e| self.classify("create the HNSW index", e))?;
        self.call("create the HNSW index", |c| async move {
            c.create_index(index).await.map(|_| ())
        })?;
        if !properties.is_empty() {
            let alter = sdk::request::collection::AlterCollectionPropertiesRequest::builder()
                .collection_name(name)
                .properties(properties)
                .build()
                .map_err(|e| self.classify("set the collection's properties", e))?;
            self.call("set the collection's properties", |c| async move {
                c.alter_collection_properties(alter).await.map(|_| ())
            })?;
        }
        self.load_collection(name)
    }

    /// Loads the collection into the query nodes' memory (needed before search; idempotent).
    pub fn load_collection(&self, name: &str) -> Result<(), MilvusError> {
        let request = sdk::request::collection::LoadCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(|e| self.classify("load the collection", e))?;
        self.call("load the collection", |c| async move {
            c.load_collection(request).await.map(|_| ())
        })
    }

    /// Inserts or replaces `rows` (by primary key).
    pub fn upsert(&self, collection: &str, rows: Vec<Value>) -> Result<(), MilvusError> {
        let request = UpsertRequest::builder()
            .insert(
                InsertRequest::builder()
                    .collection_name(collection)
                    .rows(rows)
                    .build()
                    .map_err(|e| self.classify("upsert rows", e))?,
            )
            .build()
            .map_err(|e| self.classify("upsert rows", e))?;
        self.call("upsert rows", |c| async move {
            c.upsert(request).await.map(|_| ())
        })
    }

    /// Makes what was written durable and visible (Milvus seals growing segments).
    pub fn flush(&self, collection: &str) -> Result<(), MilvusError> {
        let request = FlushRequest::builder()
            .collection_names([collection])
            .build()
            .map_err(|e| self.classify("flush", e))?;
        self.call(
            "flush",
            |c| async move { c.flush(request).await.map(|_| ()) },
        )
    }

    /// Number of rows (strong consistency: counts what was just upserted).
    pub fn count(&self, collection: &str) -> Result<usize, MilvusError> {
        let request = QueryRequest::builder()
            .collection_name(collection)
            .output_fields(["count(*)"])
            .consistency_level(sdk::ConsistencyLevel::Strong)
            .build()
            .map_err(|e| self.classify("count rows", e))?;
        let response = self.call("count rows", |c| async move { c.query(request).await })?;
        let rows = response
            .results()
            .rows()
            .map_err(|e| self.classify("count rows", e))?;
        match rows.into_iter().next() {
            Some(row) => {
                let n = row
                    .get_i64("count(*)")
                    .map_err(|e| self.classify("count rows", e))?;
                Ok(n.max(0) as usize)
            }
            None => Ok(0),
        }
    }

    /// The `k` nearest rows to `query` by cosine among those matching `filter`, best first.
    pub fn search(
        &self,
        collection: &str,
        query: &[f32],
        k: usize,
        filter: Option<&str>,
    ) -> Result<Vec<(u64, f32)>, MilvusError> {
        let k = k.clamp(1, MAX_RESULT_WINDOW);
        let mut builder = SearchRequest::builder()
            .collection_name(collection)
            .vector_field(schema::EMBEDDING)
            .vectors(SearchVectors::Float(vec![query.to_vec()]))
            .output_fields([schema::ID])
            .limit(k as i64)
            .consistency_level(sdk::ConsistencyLevel::Strong)
            // HNSW's beam must be at least k; wider buys recall for small k.
            .extra_params(HashMap::from([("ef".into(), k.max(SEARCH_EF).to_string())]));
        if let Some(filter) = filter {
            builder = builder.filter(filter);
        }
        let request = builder.build().map_err(|e| self.classify("search", e))?;
        let response = self.call("search", |c| async move { c.search(request).await })?;
        let mut hits = Vec::new();
        for result in response.results() {
            for row in result.rows().map_err(|e| self.classify("search", e))? {
                let id = row
                    .get_i64(schema::ID)
                    .map_err(|e| self.classify("search", e))?;
                let score = row
                    .get_f32("score")
                    .map_err(|e| self.classify("search", e))?;
                hits.push((id as u64, score));
            }
        }
        Ok(hits)
    }

    /// The ids matching `filter` (at most [`MAX_RESULT_WINDOW`]).
    pub fn ids(&self, collection: &str, filter: &str) -> Result<Vec<u64>, MilvusError> {
        let request = QueryRequest::builder()
            .collection_name(collection)
            .filter(filter)
            .output_fields([schema::ID])
            .limit(MAX_RESULT_WINDOW as i64)
            .consistency_level(sdk::ConsistencyLevel::Strong)
            .build()
            .map_err(|e| self.classify("query ids", e))?;
        let response = self.call("query ids", |c| async move { c.query(request).await })?;
        let mut ids = Vec::new();
        for row in response
            .results()
            .rows()
            .map_err(|e| self.classify("query ids", e))?
        {
            ids.push(
                row.get_i64(schema::ID)
                    .map_err(|e| self.classify("query ids", e))? as u64,
            );
        }
        Ok(ids)
    }

    /// The embeddings of `ids` (those that exist), in batches of the result window.
    pub fn embeddings(
        &self,
        collection: &str,
        ids: &[u64],
    ) -> Result<HashMap<u64, Vec<f32>>, MilvusError> {
        let mut found = HashMap::with_capacity(ids.len());
        for batch in ids.chunks(MAX_RESULT_WINDOW) {
            let request = QueryRequest::builder()
                .collection_name(collection)
                .filter(crate::expr::ids_in(batch))
                .output_fields([schema::ID, schema::EMBEDDING])
                .limit(batch.len() as i64)
                .consistency_level(sdk::ConsistencyLevel::Strong)
                .build()
                .map_err(|e| self.classify("fetch embeddings", e))?;
            let response = self.call(
                "fetch embeddings",
                |c| async move { c.query(request).await },
            )?;
            for row in response
                .results()
                .rows()
                .map_err(|e| self.classify("fetch embeddings", e))?
            {
                let id = row
                    .get_i64(schema::ID)
                    .map_err(|e| self.classify("fetch embeddings", e))?;
                let vector = match row
                    .get(schema::EMBEDDING)
                    .map_err(|e| self.classify("fetch embeddings", e))?
                {
                    ResultValue::FloatVector(v) => v.to_vec(),
                    ResultValue::Float16Vector(bits) => bits
                        .iter()
                        .map(|b| half::f16::from_bits(*b).to_f32())
                        .collect(),
                    other => {
                        return Err(MilvusError::Server {
                            address: self.address.uri.clone(),
                            action: "fetch embeddings".into(),
                            reason: format!("unexpected vector value {other:?}"),
                        })
                    }
                };
                found.insert(id as u64, vector);
            }
        }
        Ok(found)
    }

    /// Drops the collection when it exists (tests, `--replace`).
    pub fn drop_collection(&self, name: &str) -> Result<(), MilvusError> {
        if !self.has_collection(name)? {
            return Ok(());
        }
        let request = DropCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(|e| self.classify("drop the collection", e))?;
        self.call("drop the collection", |c| async move {
            c.drop_collection(request).await.map(|_| ())
        })
    }
}

/// HNSW graph degree and build beam: Milvus's recommended defaults for 512–1152-d embeddings.
pub const HNSW_M: usize = 16;
pub const HNSW_EF_CONSTRUCTION: usize = 200;
/// The search beam for small k.
const SEARCH_EF: usize = 128;
