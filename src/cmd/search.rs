//! `magpie search`, `magpie tag` and `magpie dupes`: the searcher from the command line.
//!
//! Output is a table by default (rank, score, date, path) and JSON with `--json` (ids, paths,
//! scores and the full metadata), so scripts and people read the same results.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use magpie_catalog::{Change, ImageRecord, Writer};
use magpie_searcher::dupes::DEFAULT_DUPE_THRESHOLD;
use magpie_searcher::request::{Hit, MatchKind, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
use magpie_searcher::tags::{parse_labels, DEFAULT_TAG_THRESHOLD};
use magpie_searcher::{
    Filters, LibraryIndex, SearchIndex, SearchMode, SearchRequest, SortOrder, TagRule,
    WeightedImage, WeightedLike,
};
use serde::Serialize;

use super::common::{format_date, library_dir, print_json, record_json, LibraryTarget, PathJson};
use super::Context;

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub target: LibraryTarget,
    #[command(flatten)]
    pub backend: super::milvus::BackendArgs,
    /// Find images like this file (need not be in the library; repeatable). A weight may be
    /// given as `WEIGHT:FILE`, e.g. `-1:night.jpg`.
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<String>,
    /// Find images like this library image, by id (repeatable; `WEIGHT:ID` allowed).
    #[arg(long = "like", value_name = "ID")]
    pub like: Vec<String>,
    /// A metadata filter `key=value` (repeatable): folder, after, before (YYYY-MM-DD), camera,
    /// type, min-pixels, orientation (landscape|portrait|square), tag, text (words printed in
    /// the image), has-text (yes|no; `has-text` alone means yes).
    #[arg(long = "filter", short = 'f', value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// vector, keyword or hybrid.
    #[arg(long, default_value = "hybrid")]
    pub mode: SearchMode,
    /// relevance, date (newest first) or date-asc.
    #[arg(long, default_value = "relevance")]
    pub sort: SortOrder,
    /// Results per page, from 1 to 1000.
    #[arg(long, default_value_t = DEFAULT_LIMIT, value_parser = page_size())]
    pub limit: usize,
    /// Results to skip before the page starts (for the next page: the last offset plus the
    /// limit), at most 100000.
    #[arg(long, default_value_t = 0, value_parser = page_offset())]
    pub offset: usize,
    /// Keep vector hits with cosine ≥ this instead of the adaptive cutoff.
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Embed the text as written, without prompt templates.
    #[arg(long)]
    pub raw: bool,
    /// JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The query: free text and weighted terms, e.g. `"2:red car" +beach -night` (put `--`
    /// before a query that starts with `-`).
    #[arg(value_name = "QUERY", allow_hyphen_values = true)]
    pub query: Vec<String>,
}

/// `--limit`: the searcher's bounds, checked before anything is loaded.
fn page_size() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=MAX_LIMIT as u64)
}

/// `--offset`: the searcher's bounds (so `offset + limit` always fits).
fn page_offset() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(0..=MAX_OFFSET as u64)
}

/// `WEIGHT:VALUE` or `VALUE`.
fn weighted(text: &str) -> (f32, &str) {
    if let Some((w, rest)) = text.split_once(':') {
        if let Ok(weight) = w.parse::<f32>() {
            if !rest.is_empty() {
                return (weight, rest);
            }
        }
    }
    (1.0, text)
}

/// Builds the request from the command line (shared with tests of the argument handling).
pub fn request_from_args(args: &SearchArgs) -> anyhow::Result<SearchRequest> {
    let mut filters = Filters::default();
    for pair in &args.filters {
        filters.set_pair(pair)?;
    }
    let images = args
        .images
        .iter()
        .map(|spec| {
            // A file whose name looks like `2:x.jpg` is still found: try the whole text first.
            if std::path::Path::new(spec).exists() {
                return WeightedImage {
                    path: spec.into(),
                    weight: 1.0,
                };
            }
            let (weight, path) = weighted(spec);
            WeightedImage {
                path: path.into(),
                weight,
            }
        })
        .collect();
    let like = args
        .like
        .iter()
        .map(|spec| {
            let (weight, id) = weighted(spec);
            let id = id
                .parse::<u64>()
                .with_context(|| format!("--like {spec}: not an image id"))?;
            Ok(WeightedLike { id, weight })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(SearchRequest {
        query: args.query.join(" "),
        images,
        like,
        filters,
        mode: args.mode,
        sort: args.sort,
        limit: args.limit,
        offset: args.offset,
        min_score: args.min_score,
        raw: args.raw,
        ..SearchRequest::default()
    })
}

/// One result with what a person or script needs to use it.
#[derive(Debug, Serialize)]
struct HitOutput {
    rank: usize,
    #[serde(flatten)]
    hit: Hit,
    /// How it matched: by meaning, by name (file name, path, metadata), by text in the image.
    matched: Vec<MatchKind>,
    /// The lines of text in the image that hold a query word, when it matched by text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    text_lines: Vec<String>,
    /// `path` (text) and `path_bytes` (raw, for a name that is not UTF-8).
    #[serde(flatten)]
    path: PathJson,
    date: Option<i64>,
    /// The stored record, its path rendered the same way.
    record: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct SearchOutput {
    total: usize,
    cutoff_score: Option<f32>,
    took_ms: u64,
    /// The query language, for models that take one.
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    hits: Vec<HitOutput>,
}

pub fn run(args: SearchArgs, ctx: &Context) -> anyhow::Result<()> {
    let request = request_from_args(&args)?;
    if request.terms()?.is_empty() && request.filters.is_empty() {
        anyhow::bail!("empty query: give words to search for, --image FILE or --like ID");
    }
    let target = &args.target;
    if let Some((searcher, index)) = super::milvus::open_backend(ctx, &args.backend, target)? {
        let response = searcher.search(&index, &request)?;
        return print_results(&args, ctx, &request, &response, &index);
    }
    let library = args.target.open_search(ctx)?;
    let index = library.index();
    let response = library.searcher().search(&index, &request)?;
    print_results(&args, ctx, &request, &response, &index)
}

/// Prints a search's hits, their records from `index` (the library's, or the shards' of a
/// remote backend).
fn print_results(
    args: &SearchArgs,
    ctx: &Context,
    request: &SearchRequest,
    response: &magpie_searcher::SearchResponse,
    index: &dyn SearchIndex,
) -> anyhow::Result<()> {
    if let (Some(code), None) = (&response.language, args.target.language(ctx)) {
        eprintln!("query language: {code} (this model's default; --lang LANG for another, e.g. --lang es)");
    }
    let query_words = request
        .image_text_query()?
        .map(|q| q.words)
        .unwrap_or_default();
    let hits: Vec<HitOutput> = response
        .hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let record = index.record(hit.id);
            let text_lines = if hit.text_score.is_some() {
                record
                    .as_ref()
                    .and_then(|r| r.text.as_ref())
                    .map(|t| {
                        t.lines_with_words(&query_words)
                            .map(|l| l.text.clone())
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            HitOutput {
                rank: request.offset + i + 1,
                matched: hit.matched(),
                text_lines,
                hit: hit.clone(),
                path: PathJson::of(record.as_ref().map_or(Path::new(""), |r| r.path.as_path())),
                date: record.as_ref().map(ImageRecord::date),
                record: record.as_ref().map(record_json),
            }
        })
        .collect();
    if args.json {
        return print_json(&SearchOutput {
            total: response.total,
            cutoff_score: response.cutoff_score,
            took_ms: response.took_ms,
            language: response.language.clone(),
            hits,
        });
    }
    if hits.is_empty() {
        println!("no results above the relevance cutoff (try --min-score, or other words)");
        return Ok(());
    }
    println!(
        "{:>4}  {:>7}  {:<16}  {:>8}  {:<12}  path",
        "rank", "score", "date", "id", "matched by"
    );
    for h in &hits {
        let matched: Vec<&str> = h.matched.iter().map(|m| m.as_str()).collect();
        println!(
            "{:>4}  {:>7.4}  {:<16}  {:>8}  {:<12}  {}",
            h.rank,
            h.hit.score,
            h.date.map(format_date).unwrap_or_default(),
            h.hit.id,
            matched.join(","),
            h.path.path
        );
        for line in &h.text_lines {
            println!("{:>54}“{line}”", "");
        }
    }
    println!(
        "{} of {} results ({} ms)",
        hits.len(),
        response.total,
        response.took_ms
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[command(flatten)]
    pub target: LibraryTarget,
    /// Comma-separated labels, e.g. "dog,cat,beach,document,screenshot".
    #[arg(long)]
    pub labels: String,
    /// Minimum probability for a label to be assigned (CLIP: softmax over the labels; SigLIP:
    /// the sigmoid of each label on its own).
    #[arg(long, default_value_t = DEFAULT_TAG_THRESHOLD)]
    pub threshold: f32,
    /// Also require this cosine between image and label (model-specific; ≈ 0.2 for CLIP).
    #[arg(long)]
    pub min_cosine: Option<f32>,
    /// Print what would be assigned without storing it.
    #[arg(long)]
    pub dry_run: bool,
    /// The tags of every image as JSON on stdout (ids and label probabilities), instead of the
    /// per-label counts.
    #[arg(long)]
    pub json: bool,
}

/// Zero-shot tags: scored by the searcher, stored by the writer. A label set replaces the tags
/// those labels gave before (so re-tagging with a higher threshold removes tags), and leaves
/// tags from other label sets alone.
pub fn tag(args: TagArgs, ctx: &Context) -> anyhow::Result<()> {
    let labels = parse_labels(&args.labels)?;
    let rule = TagRule {
        threshold: args.threshold,
        min_cosine: args.min_cosine,
    };
    let library = args.target.open_search(ctx)?;
    let tagged = library.tags(&labels, &rule)?;
    if args.json {
        print_json(&tagged)?;
    }
    let mut counts: Vec<(String, usize)> = labels.iter().map(|l| (l.clone(), 0)).collect();
    for image in &tagged {
        for t in &image.tags {
            if let Some(c) = counts.iter_mut().find(|(l, _)| *l == t.label) {
                c.1 += 1;
            }
        }
    }
    if !args.json {
        for (label, count) in &counts {
            println!("{label:<20} {count} images");
        }
    }
    if args.dry_run {
        return Ok(());
    }
    let dir = library_dir(ctx, args.target.library.as_deref())?;
    let mut writer = Writer::open_existing(&dir)?;
    let lower: Vec<String> = labels.iter().map(|l| l.to_lowercase()).collect();
    let mut changes = Vec::new();
    for image in &tagged {
        let Some(mut record) = writer.record(image.id)? else {
            continue; // removed since the snapshot was taken
        };
        let before = record.tags.clone();
        record.tags.retain(|t| !lower.contains(&t.to_lowercase()));
        record
            .tags
            .extend(image.tags.iter().map(|t| t.label.clone()));
        if record.tags != before {
            changes.push(Change::UpdateRecord(record));
        }
    }
    let changed = changes.len();
    writer.commit(changes)?;
    writer.flush()?;
    eprintln!(
        "tagged {} images ({changed} changed); search with --filter tag=LABEL",
        tagged.len()
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct DupesArgs {
    /// Library directory (default: MAGPIE_LIBRARY, the config's `library`, else
    /// $XDG_DATA_HOME/magpie/library).
    #[arg(long, env = "MAGPIE_LIBRARY")]
    pub library: Option<PathBuf>,
    /// Minimum cosine between copies, in (0, 1].
    #[arg(long, default_value_t = DEFAULT_DUPE_THRESHOLD)]
    pub threshold: f32,
    /// The groups as JSON on stdout: an array of groups, each an array of images (id, path,
    /// size, similarity).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct DupeOutput {
    id: u64,
    #[serde(flatten)]
    path: PathJson,
    width: u32,
    height: u32,
    similarity: f32,
}

/// Near-duplicate groups need only the stored vectors, not the model.
pub fn dupes(args: DupesArgs, ctx: &Context) -> anyhow::Result<()> {
    if !(args.threshold > 0.0 && args.threshold <= 1.0) {
        anyhow::bail!(
            "--threshold must be a cosine in (0, 1], got {}",
            args.threshold
        );
    }
    let dir = library_dir(ctx, args.library.as_deref())?;
    let reader = magpie_catalog::Reader::open(&dir)?;
    let index = LibraryIndex::new(reader.snapshot(), reader.model());
    let groups = magpie_searcher::engine::find_duplicates(
        &index,
        args.threshold,
        magpie_searcher::library::DUPE_NEIGHBOURS,
    )?;
    let groups: Vec<Vec<DupeOutput>> = groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|m| {
                    let record = index.record(m.id);
                    DupeOutput {
                        id: m.id,
                        path: PathJson::of(
                            record.as_ref().map_or(Path::new(""), |r| r.path.as_path()),
                        ),
                        width: record.as_ref().map_or(0, |r| r.width),
                        height: record.as_ref().map_or(0, |r| r.height),
                        similarity: m.similarity,
                    }
                })
                .collect()
        })
        .collect();
    if args.json {
        return print_json(&groups);
    }
    if groups.is_empty() {
        println!("no near-duplicates at threshold {}", args.threshold);
    }
    for (i, group) in groups.iter().enumerate() {
        println!("group {} ({} images)", i + 1, group.len());
        for m in group {
            println!(
                "  {:.4}  {:>5}×{:<5}  {:>8}  {}",
                m.similarity, m.width, m.height, m.id, m.path.path
            );
        }
    }
    Ok(())
}
