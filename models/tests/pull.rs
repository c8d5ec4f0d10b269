//! `pull` against a local fake hub that serves a generated test model exactly as the Hugging Face
//! hub's tree and resolve endpoints do (LFS sha256 for .onnx files, git blob sha1 for the rest,
//! HTTP Range), with injectable faults: a connection cut halfway through a file, and a corrupted
//! file.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use magpie_models::store::{ModelStore, PullProgress};
use magpie_models::{Error, Layout, ModelSpec, Variant};
use sha1::Digest as _;

#[derive(Default)]
struct Faults {
    /// Paths whose next download is cut after half the bytes.
    cut_once: Vec<String>,
    /// Paths served with one byte flipped.
    corrupt: Vec<String>,
}

struct FakeHub {
    endpoint: String,
    /// Every request line + Range header seen, in order.
    log: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<Faults>>,
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("lists").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else {
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            if !relative.starts_with('.') {
                out.push((relative, std::fs::read(&path).expect("reads")));
            }
        }
    }
}

fn tree_json(files: &[(String, Vec<u8>)]) -> String {
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|(path, bytes)| {
            let mut git = sha1::Sha1::new();
            git.update(format!("blob {}\0", bytes.len()).as_bytes());
            git.update(bytes);
            let mut entry = serde_json::json!({"type": "file", "path": path, "size": bytes.len(), "oid": hex::encode(git.finalize())});
            if path.ends_with(".onnx") || path.ends_with(".onnx_data") || path.ends_with(".data") {
                // LFS files: `size` and `lfs.size` are the real size, `lfs.oid` is the sha256.
                let sha256 = <sha2::Sha256 as sha2::Digest>::digest(bytes);
                entry["lfs"] = serde_json::json!({"oid": hex::encode(sha256), "size": bytes.len(), "pointerSize": 134});
            }
            entry
        })
        .chain(std::iter::once(serde_json::json!({"type": "directory", "path": "onnx", "size": 0, "oid": "0"})))
        .collect();
    serde_json::Value::Array(entries).to_string()
}

impl FakeHub {
    fn start(repo: &str, model_dir: &Path) -> Self {
        let mut files = Vec::new();
        files_under(model_dir, model_dir, &mut files);
        let tree = tree_json(&files);
        let files: HashMap<String, Vec<u8>> = files.into_iter().collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Mutex::new(Faults::default()));
        let (thread_log, thread_faults, repo) = (log.clone(), faults.clone(), repo.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &repo, &tree, &files, &thread_log, &thread_faults);
            }
        });
        Self {
            endpoint,
            log,
            faults,
        }
    }
}

fn serve(
    mut stream: TcpStream,
    repo: &str,
    tree: &str,
    files: &HashMap<String, Vec<u8>>,
    log: &Mutex<Vec<String>>,
    faults: &Mutex<Faults>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clones"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut range_start: Option<usize> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range_start = value
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|r| r.trim_end_matches('-').parse().ok());
            }
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    log.lock()
        .expect("log")
        .push(format!("{path} range={range_start:?}"));
    let respond =
        |stream: &mut TcpStream, status: &str, headers: &str, body: &[u8], send: usize| {
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body[..send]);
        };
    if path == format!("/api/models/{repo}/tree/main?recursive=true") {
        respond(
            &mut stream,
            "200 OK",
            "Content-Type: application/json\r\n",
            tree.as_bytes(),
            tree.len(),
        );
        return;
    }
    let Some(file) = path.strip_prefix(&format!("/{repo}/resolve/main/")) else {
        respond(&mut stream, "404 Not Found", "", b"", 0);
        return;
    };
    let Some(bytes) = files.get(file) else {
        respond(&mut stream, "404 Not Found", "", b"", 0);
        return;
    };
    let mut body = bytes.clone();
    let mut faults = faults.lock().expect("faults");
    if faults.corrupt.iter().any(|p| p == file) {
        let middle = body.len() / 2;
        body[middle] ^= 0xff;
    }
    let (status, headers, body) = match range_start {
        Some(start) if start < body.len() => (
            "206 Partial Content",
            format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                body.len() - 1,
                body.len()
            ),
            body[start..].to_vec(),
        ),
        _ => ("200 OK", String::new(), body),
    };
    let send = if let Some(index) = faults.cut_once.iter().position(|p| p == file) {
        faults.cut_once.remove(index);
        body.len() / 2
    } else {
        body.len()
    };
    drop(faults);
    respond(&mut stream, status, &headers, &body, send);
}

#[derive(Default)]
struct CountingProgress {
    bytes: Mutex<u64>,
    finished: Mutex<Vec<String>>,
}

impl PullProgress for CountingProgress {
    fn advanced(&self, bytes: u64) {
        *self.bytes.lock().expect("lock") += bytes;
    }
    fn file_finished(&self, path: &str) {
        self.finished.lock().expect("lock").push(path.to_string());
    }
}

/// `HF_ENDPOINT` is process-wide: the pull tests take turns.
static ENDPOINT_LOCK: Mutex<()> = Mutex::new(());

fn hub_model_dir(temp: &Path) -> PathBuf {
    // tiny-hf plus a quantised variant that a pull must not fetch.
    let source = temp.join("hub-source");
    let tiny = common::test_model("tiny-hf");
    let mut files = Vec::new();
    files_under(&tiny, &tiny, &mut files);
    for (path, bytes) in files {
        let target = source.join(&path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("writes");
    }
    std::fs::write(
        source.join("onnx/vision_model_quantized.onnx"),
        vec![7u8; 4096],
    )
    .expect("writes");
    source
}

#[test]
fn pull_resumes_an_interrupted_download_and_validates_the_model() {
    let _guard = ENDPOINT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let temp = tempfile::tempdir().expect("tempdir");
    let hub = FakeHub::start("acme/tiny-clip", &hub_model_dir(temp.path()));
    hub.faults
        .lock()
        .expect("faults")
        .cut_once
        .push("onnx/vision_model.onnx".to_string());
    std::env::set_var("HF_ENDPOINT", &hub.endpoint);
    let store = ModelStore::new(temp.path().join("store"));

    let progress = CountingProgress::default();
    let error = store
        .pull("acme/tiny-clip", "main", &progress)
        .expect_err("connection cut");
    assert!(matches!(error, Error::Hub { .. }), "{error}");
    let target = store.dir_for_repo("acme/tiny-clip");
    let partial = target.join("onnx/vision_model.onnx.part");
    let partial_len = std::fs::metadata(&partial)
        .expect("partial file kept")
        .len();
    assert!(partial_len > 0, "half the file is on disk");

    let spec = store
        .pull("acme/tiny-clip", "main", &progress)
        .expect("resumed pull");
    assert_eq!(spec.layout, Layout::HuggingFace);
    let log = hub.log.lock().expect("log").clone();
    assert!(
        log.iter().any(|l| l.contains("vision_model.onnx")
            && l.ends_with(&format!("range=Some({partial_len})"))),
        "second pull asked for the rest with Range: {log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("quantized")),
        "quantised variants are not fetched"
    );
    assert!(!partial.exists());
    let original =
        std::fs::read(common::test_model("tiny-hf").join("onnx/vision_model.onnx")).expect("reads");
    assert_eq!(
        std::fs::read(target.join("onnx/vision_model.onnx")).expect("reads"),
        original
    );
    assert!(progress
        .finished
        .lock()
        .expect("lock")
        .iter()
        .any(|p| p == "config.json"));

    // Listed and resolvable by name.
    let listed = store.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].source.as_deref(), Some("acme/tiny-clip@main"));
    assert_eq!(listed[0].declared_dim, Some(32));
    assert_eq!(store.resolve("acme/tiny-clip").expect("by repo id"), target);
    assert_eq!(store.resolve("tiny-clip").expect("by short name"), target);
    assert!(store.resolve("nope").is_err());

    // A second pull of a complete model downloads nothing.
    let before = hub.log.lock().expect("log").len();
    store
        .pull("acme/tiny-clip", "main", &CountingProgress::default())
        .expect("no-op pull");
    assert_eq!(
        hub.log.lock().expect("log").len(),
        before + 1,
        "only the tree listing"
    );
}

#[test]
fn pull_rejects_a_corrupted_file() {
    let _guard = ENDPOINT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let temp = tempfile::tempdir().expect("tempdir");
    let hub = FakeHub::start("acme/broken", &hub_model_dir(temp.path()));
    hub.faults
        .lock()
        .expect("faults")
        .corrupt
        .push("onnx/text_model.onnx".to_string());
    hub.faults
        .lock()
        .expect("faults")
        .corrupt
        .push("tokenizer_config.json".to_string());
    std::env::set_var("HF_ENDPOINT", &hub.endpoint);
    let store = ModelStore::new(temp.path().join("store"));
    let error = store
        .pull("acme/broken", "main", &CountingProgress::default())
        .expect_err("corrupt");
    let message = error.to_string();
    assert!(matches!(error, Error::Checksum { .. }), "{message}");
    let target = store.dir_for_repo("acme/broken");
    let (bad_file, algorithm) = if message.contains("text_model.onnx") {
        ("onnx/text_model.onnx", "sha256")
    } else {
        ("tokenizer_config.json", "git-sha1")
    };
    assert!(message.contains(algorithm), "{message}");
    assert!(
        !target.join(bad_file).exists(),
        "corrupt file not installed"
    );
    assert!(
        !target.join(format!("{bad_file}.part")).exists(),
        "corrupt partial removed"
    );
}

/// A copy of a generated model plus files a pull must leave on the hub: Immich's ARM NN and RKNN
/// builds, a combined `onnx/model.onnx`, a stray `.data` file no graph names.
fn hub_copy(temp: &Path, name: &str, extras: &[&str]) -> PathBuf {
    let source = temp.join(format!("hub-{name}"));
    let model = common::test_model(name);
    let mut files = Vec::new();
    files_under(&model, &model, &mut files);
    for (path, bytes) in files {
        let target = source.join(&path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("writes");
    }
    for extra in extras {
        let target = source.join(extra);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, vec![9u8; 2048]).expect("writes");
    }
    source
}

fn fetched(hub: &FakeHub, repo: &str) -> Vec<String> {
    let prefix = format!("/{repo}/resolve/main/");
    let mut files: Vec<String> = hub
        .log
        .lock()
        .expect("log")
        .iter()
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .strip_prefix(&prefix)
                .map(str::to_string)
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

#[test]
fn pull_fetches_exactly_the_files_of_the_variant_and_their_external_data() {
    let _guard = ENDPOINT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let temp = tempfile::tempdir().expect("tempdir");
    let repo = "acme/siglip2";
    let hub = FakeHub::start(
        repo,
        &hub_copy(
            temp.path(),
            "siglip2-hf",
            &["onnx/model.onnx", "onnx/model_fp16.onnx"],
        ),
    );
    std::env::set_var("HF_ENDPOINT", &hub.endpoint);
    let store = ModelStore::new(temp.path().join("store"));
    let configs = [
        "config.json",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ];

    // fp32: the two towers, the text tower's external weights, the configs.
    let spec = store
        .pull(repo, "main", &CountingProgress::default())
        .expect("fp32 pull");
    assert_eq!(
        (spec.variant, spec.family),
        (Variant::Fp32, magpie_models::Family::Siglip2)
    );
    let mut want: Vec<String> = [
        "onnx/text_model.onnx",
        "onnx/text_model.onnx_data",
        "onnx/vision_model.onnx",
    ]
    .iter()
    .chain(&configs)
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(fetched(&hub, repo), want);

    // fp16 into another store: only the fp16 towers, and the directory opens as fp16.
    let fp16_store = ModelStore::new(temp.path().join("store-fp16"));
    hub.log.lock().expect("log").clear();
    let spec = fp16_store
        .pull_variant(
            repo,
            "main",
            Some(Variant::Fp16),
            &CountingProgress::default(),
        )
        .expect("fp16 pull");
    assert_eq!(spec.variant, Variant::Fp16);
    let mut want: Vec<String> = ["onnx/text_model_fp16.onnx", "onnx/vision_model_fp16.onnx"]
        .iter()
        .chain(&configs)
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(fetched(&hub, repo), want);
    let reopened = ModelSpec::load(&fp16_store.dir_for_repo(repo)).expect("reopens");
    assert_eq!(
        reopened.variant,
        Variant::Fp16,
        "the recorded variant is the one opened"
    );
    assert_eq!(fp16_store.list()[0].variant, Variant::Fp16);

    // int8 is there as `_quantized`; a variant that is not is refused with what there is.
    hub.log.lock().expect("log").clear();
    let spec = ModelStore::new(temp.path().join("store-int8"))
        .pull_variant(
            repo,
            "main",
            Some(Variant::Int8),
            &CountingProgress::default(),
        )
        .expect("int8 pull");
    assert!(spec
        .image
        .file
        .ends_with("onnx/vision_model_quantized.onnx"));
}

#[test]
fn pull_of_an_immich_export_fetches_external_weights_and_refuses_fp16() {
    let _guard = ENDPOINT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let temp = tempfile::tempdir().expect("tempdir");
    let repo = "immich-app/nllb-clip-base-siglip__v1";
    let extras = [
        "visual/fp16/model.armnn",
        "textual/fp16/model.armnn",
        "visual/rknpu/rk3588/model.rknn",
        "README.md",
    ];
    let hub = FakeHub::start(repo, &hub_copy(temp.path(), "nllb-immich", &extras));
    std::env::set_var("HF_ENDPOINT", &hub.endpoint);
    let store = ModelStore::new(temp.path().join("store"));
    let message = store
        .pull_variant(
            repo,
            "main",
            Some(Variant::Fp16),
            &CountingProgress::default(),
        )
        .expect_err("Immich has no fp16 ONNX")
        .to_string();
    assert!(
        message.contains("fp32") && message.contains("ARM NN"),
        "{message}"
    );

    let spec = store
        .pull(repo, "main", &CountingProgress::default())
        .expect("pull");
    assert_eq!(
        (spec.layout, spec.family),
        (Layout::Immich, magpie_models::Family::Nllb)
    );
    let mut want: Vec<String> = [
        "config.json",
        "textual/model.onnx",
        "textual/special_tokens_map.json",
        "textual/tokenizer.json",
        "textual/tokenizer_config.json",
        "visual/model.onnx",
        "visual/model.onnx.data",
        "visual/preprocess_cfg.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(fetched(&hub, repo), want);
    // The external weights count towards the model's identity.
    assert!(spec
        .weight_files()
        .iter()
        .any(|f| f.ends_with("visual/model.onnx.data")));
}
