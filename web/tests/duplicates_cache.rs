//! `/api/duplicates` computes the whole-library grouping once per generation and threshold: a
//! repeated request is served from the cache, and a commit (a new generation) is seen by the next
//! request. Counted with `magpie_duplicate_passes_total` on `/metrics`. The library is built
//! with the catalog writer directly and searched with a stand-in text tower: grouping needs only
//! the stored vectors, no model.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{test, web};
use magpie_catalog::{Change, ImageRecord, ModelIdentity, Reader, Writer, WriterOptions};
use magpie_searcher::{
    BackendError, EmbeddingCache, LibrarySearch, Searcher, SearcherConfig, TextEmbedder,
};
use magpie_web::{app, AppState, ServerConfig};
use serde_json::Value;

const DIM: usize = 8;

fn model() -> ModelIdentity {
    ModelIdentity {
        name: "axes".into(),
        checksum: "axes-checksum".into(),
        dim: DIM,
    }
}

/// Unit vector mostly along `axis`, tilted a little towards the next one by `tilt`.
fn near(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = [0.0; DIM];
    v[axis] = 1.0;
    v[(axis + 1) % DIM] = tilt;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn add(writer: &mut Writer, name: &str, embedding: Vec<f32>) {
    let id = writer.allocate_id();
    let record = ImageRecord {
        id,
        path: PathBuf::from(format!("/photos/{name}")),
        size: 100,
        mtime_ns: 0,
        content_hash: format!("{id:064x}"),
        width: 64,
        height: 48,
        format: "jpeg".into(),
        exif: Default::default(),
        tags: vec![],
        indexed_at: 0,
        text: None,
    };
    writer
        .commit(vec![Change::Upsert { record, embedding }])
        .unwrap();
}

struct NoText;

impl TextEmbedder for NoText {
    fn embed_texts(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>, BackendError> {
        Err("no text tower in this test".into())
    }
    fn model_key(&self) -> String {
        magpie_searcher::library::model_key(&model().checksum)
    }
}

async fn get<S, B>(app: &S, uri: &str) -> (u16, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let response = test::call_service(app, test::TestRequest::get().uri(uri).to_request()).await;
    let status = response.status().as_u16();
    let body = test::read_body(response).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `magpie_duplicate_passes_total` from `/metrics`.
async fn passes<S, B>(app: &S) -> u64
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (status, text) = get(app, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("magpie_duplicate_passes_total "))
        .unwrap_or_else(|| panic!("no magpie_duplicate_passes_total in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

async fn group_sizes<S, B>(app: &S, threshold: &str) -> Vec<u64>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (status, body) = get(app, &format!("/api/duplicates?threshold={threshold}")).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let mut sizes: Vec<u64> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["size"].as_u64().unwrap())
        .collect();
    sizes.sort_unstable();
    sizes
}

#[actix_web::test]
async fn duplicates_are_computed_once_per_generation() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::open(dir.path(), &model(), &WriterOptions::default()).unwrap();
    add(&mut writer, "a.jpg", near(0, 0.0));
    add(&mut writer, "a-copy.jpg", near(0, 0.02));
    add(&mut writer, "b.jpg", near(3, 0.0));
    add(&mut writer, "c.jpg", near(6, 0.0));
    let searcher = Searcher::new(
        Arc::new(NoText),
        None,
        Arc::new(EmbeddingCache::new(8, None)),
        SearcherConfig::default(),
    );
    let library = LibrarySearch::with_searcher(Reader::open(dir.path()).unwrap(), searcher);
    let state = web::Data::new(AppState::new(library, ServerConfig::default()));
    let app = test::init_service(app(state)).await;

    assert_eq!(passes(&app).await, 0);
    assert_eq!(group_sizes(&app, "0.99").await, [2]);
    assert_eq!(group_sizes(&app, "0.99").await, [2]);
    assert_eq!(passes(&app).await, 1, "the second request recomputed");
    // Another threshold is another grouping.
    assert_eq!(group_sizes(&app, "0.5").await, [2]);
    assert_eq!(passes(&app).await, 2);
    assert_eq!(group_sizes(&app, "0.99").await, [2]);
    assert_eq!(
        passes(&app).await,
        2,
        "the first threshold's groups were dropped"
    );

    // A commit makes a new generation: the next request sees the new copy.
    add(&mut writer, "b-copy.jpg", near(3, 0.02));
    assert_eq!(group_sizes(&app, "0.99").await, [2, 2]);
    assert_eq!(
        passes(&app).await,
        3,
        "the new generation was not recomputed"
    );
    assert_eq!(group_sizes(&app, "0.99").await, [2, 2]);
    assert_eq!(passes(&app).await, 3);
}
