//! A bounded load test of `magpie serve` on loopback while an indexer writes the same library.
//!
//!   cargo run --release -p magpie-web --example loadtest [-- --clients 32 --seconds 30]
//!
//! Builds a library of coloured PNGs with the hand-built colour model, serves it on
//! 127.0.0.1:<free port> (the real actix server, not the test harness), and runs `--clients`
//! keep-alive HTTP/1.1 clients for `--seconds`: 70 % text searches (`GET /api/search`, random
//! colour words, pages and modes), 30 % image searches (`POST /api/search/image`, multipart PNG).
//! Meanwhile an indexer thread keeps adding batches of new photos to the library, so searches run
//! across commits. Prints requests/s, p50, p99 and the error count (any non-200 answer or broken
//! connection is an error), and exits non-zero when there was one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use magpie_catalog::{ModelIdentity, Writer, WriterOptions};
use magpie_indexer::library::{index, IndexOptions};
use magpie_indexer::Progress;
use magpie_models::ImageEncoder;
use magpie_searcher::{LibrarySearch, SearcherConfig};
use magpie_web::{AppState, ServerConfig};

const WORDS: [&str; 12] = [
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "grey", "black",
    "brown",
];

struct Args {
    clients: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut args = Args {
        clients: 32,
        seconds: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--clients", Some(v)) if v > 0 => args.clients = v as usize,
            ("--seconds", Some(v)) if v > 0 => args.seconds = v,
            _ => {
                eprintln!("usage: loadtest [--clients N] [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// A tiny deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    addr: SocketAddr,
    reader: Option<BufReader<TcpStream>>,
}

impl Client {
    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.reader.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.reader = Some(BufReader::new(stream));
        }
        Ok(self.reader.as_mut().expect("just connected"))
    }

    /// Sends one request and reads the whole answer; returns the status.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let addr = self.addr;
        let result = (|| {
            let reader = self.connect()?;
            let mut head =
                format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
            if let Some(content_type) = content_type {
                head.push_str(&format!("Content-Type: {content_type}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let stream = reader.get_mut();
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            read_response(reader)
        })();
        if result.is_err() {
            self.reader = None; // reconnect next time
        }
        result
    }
}

fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let length = length.ok_or_else(|| bad("no Content-Length"))?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, body))
}

fn multipart(png: &[u8]) -> (String, Vec<u8>) {
    let boundary = "magpie-load-4f2a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn png_of(rgb: [u8; 3], dir: &Path) -> Vec<u8> {
    let path = dir.join(format!("query-{}-{}-{}.png", rgb[0], rgb[1], rgb[2]));
    common::solid_png(&path, 64, 48, rgb);
    std::fs::read(path).expect("query image written")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let args = args();
    // Server-side failures are logged (ApiError::internal); show them next to the client errors.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .init();
    let spec = common::colour_model();
    let root = common::scratch_dir(&format!("magpie-loadtest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let photos = root.join("photos");
    let library_dir = root.join("library");

    // A starting library: the colour photos, a few times over.
    for round in 0..8 {
        for (colour, rgb, count) in common::PHOTOS {
            for i in 0..count {
                let shade = [
                    rgb[0].saturating_sub(round * 3),
                    rgb[1],
                    rgb[2].saturating_sub(round * 2),
                ];
                common::solid_png(
                    &photos
                        .join(format!("start-{round}"))
                        .join(format!("{colour}-{i}.png")),
                    64,
                    48,
                    shade,
                );
            }
        }
    }
    let encoder = Arc::new(ImageEncoder::open(&spec, &common::cpu()).expect("image tower"));
    let identity = ModelIdentity {
        name: spec.name.clone(),
        checksum: magpie_models::identity::weights_checksum(&spec).expect("checksum"),
        dim: encoder.dim(),
    };
    let mut writer =
        Writer::open(&library_dir, &identity, &WriterOptions::default()).expect("writer");
    let cancel = Arc::new(AtomicBool::new(false));
    let first = index(
        std::slice::from_ref(&photos),
        &mut writer,
        encoder.clone(),
        &IndexOptions::default(),
        &Arc::new(Progress::new()),
        &cancel,
    )
    .expect("first index");
    println!("library: {} photos indexed at start", first.added);

    let search = LibrarySearch::open(
        &library_dir,
        &spec,
        &common::cpu(),
        SearcherConfig::default(),
    )
    .expect("library opens");
    let config = ServerConfig {
        bind: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    };
    let state = AppState::new(search, config);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = magpie_web::run(state, |addrs| {
            let _ = tx.send(addrs[0]);
        });
        if let Err(e) = result {
            eprintln!("server failed: {e}");
            std::process::exit(1);
        }
    });
    let addr: SocketAddr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server listening");
    println!(
        "server: http://{addr}/  clients: {}  duration: {} s",
        args.clients, args.seconds
    );

    // The indexer: a batch of new photos, index, repeat, until the clients are done.
    let stop = Arc::new(AtomicBool::new(false));
    let indexed = Arc::new(AtomicU64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let indexer = {
        let (stop, indexed, commits, photos, cancel) = (
            stop.clone(),
            indexed.clone(),
            commits.clone(),
            photos.clone(),
            cancel.clone(),
        );
        std::thread::spawn(move || {
            let mut batch = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let dir = photos.join(format!("new-{batch:04}"));
                for (k, (colour, rgb, _)) in common::PHOTOS.iter().enumerate() {
                    let shade = [rgb[0], rgb[1].saturating_add((batch % 40) as u8), rgb[2]];
                    common::solid_png(&dir.join(format!("{colour}-{k}.png")), 64, 48, shade);
                }
                match index(
                    std::slice::from_ref(&photos),
                    &mut writer,
                    encoder.clone(),
                    &IndexOptions::default(),
                    &Arc::new(Progress::new()),
                    &cancel,
                ) {
                    Ok(summary) => {
                        indexed.fetch_add(summary.added, Ordering::SeqCst);
                        commits.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => eprintln!("indexer: {e}"),
                }
                batch += 1;
            }
        })
    };

    let scratch = root.join("queries");
    let images: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        [[215, 38, 61], [30, 60, 220], [40, 190, 50], [235, 215, 40]]
            .iter()
            .map(|rgb| multipart(&png_of(*rgb, &scratch)))
            .collect(),
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..args.clients)
        .map(|n| {
            let (images, errors) = (images.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1));
                let mut client = Client { addr, reader: None };
                let mut latencies = Vec::new();
                let (mut texts, mut uploads) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let began = Instant::now();
                    let result = if rng.below(10) < 7 {
                        texts += 1;
                        let word = WORDS[rng.below(WORDS.len())];
                        let mode = ["hybrid", "vector", "keyword"][rng.below(3)];
                        let path = format!(
                            "/api/search?q={word}&mode={mode}&limit=20&offset={}",
                            20 * rng.below(3)
                        );
                        client.request("GET", &path, None, &[])
                    } else {
                        uploads += 1;
                        let (content_type, body) = &images[rng.below(images.len())];
                        client.request(
                            "POST",
                            "/api/search/image?limit=20",
                            Some(content_type),
                            body,
                        )
                    };
                    let seconds = began.elapsed().as_secs_f64();
                    match result {
                        Ok((200, _)) => latencies.push(seconds),
                        Ok((status, body)) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                            eprintln!(
                                "client {n}: HTTP {status}: {}",
                                String::from_utf8_lossy(&body)
                            );
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                            eprintln!("client {n}: {e}");
                        }
                    }
                }
                (latencies, texts, uploads)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut texts, mut uploads) = (0, 0);
    for worker in workers {
        let (mut l, t, u) = worker.join().expect("client thread");
        latencies.append(&mut l);
        texts += t;
        uploads += u;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    indexer.join().expect("indexer thread");

    let mut status_client = Client { addr, reader: None };
    let final_status = status_client
        .request("GET", "/api/status", None, &[])
        .map(|(status, body)| format!("HTTP {status} {}", String::from_utf8_lossy(&body)))
        .unwrap_or_else(|e| e.to_string());
    latencies.sort_by(f64::total_cmp);
    let errors = errors.load(Ordering::SeqCst);
    let total = latencies.len() as u64 + errors;
    println!("requests: {total} ({texts} text, {uploads} image) in {elapsed:.1} s");
    println!("throughput: {:.1} requests/s", total as f64 / elapsed);
    println!(
        "latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 50.0) * 1000.0,
        percentile(&latencies, 99.0) * 1000.0,
        latencies.last().copied().unwrap_or(0.0) * 1000.0
    );
    println!(
        "indexer meanwhile: {} photos added in {} index runs \nstatus after: {final_status}",
        indexed.load(Ordering::SeqCst),
        commits.load(Ordering::SeqCst)
    );
    println!("errors: {errors}");
    let _ = std::fs::remove_dir_all(&root);
    std::process::exit(if errors == 0 { 0 } else { 1 });
}
