//! Re-embedding a whole library with another model (`magpie library reembed`).
//!
//! A library holds one embedding space, so a new model means new vectors for every image. The
//! images are indexed again, with the new image tower, into a fresh library beside the old one
//! (`<name>.reembed`), which replaces the old one only once it is complete
//! ([`Writer::replace_with`]):
//! - the old library's writer lock is taken first and held until the swap is done, so nothing is
//!   indexed into it meanwhile and no writer slips in between the two (the swapped-in library
//!   comes back still locked, in [`Reembedded::writer`]);
//! - the new library keeps the old one's vector quantization (an i8 library stays i8);
//! - tags carry over by path, and the text OCR read in an image while its content is the same;
//! - an interrupted or failed re-embed leaves the old library untouched (the staging folder is
//!   removed, and a leftover one is cleared by the next attempt).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use magpie_catalog::{CatalogError, Change, ModelIdentity, Writer, WriterOptions};
use magpie_models::ImageEncoder;

use crate::crawl::CrawlOptions;
use crate::error::IndexError;
use crate::library::{index, IndexOptions};
use crate::pipeline::PipelineConfig;
use crate::progress::{Progress, Summary};

/// Why a re-embed did not happen; the old library is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReembedError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("re-embedding {}: {source}", library.display())]
    Index {
        library: PathBuf,
        #[source]
        source: IndexError,
    },
    #[error("{} holds no images whose files still exist: nothing to re-embed", library.display())]
    NothingToEmbed { library: PathBuf },
    #[error("interrupted: {} is unchanged; run the re-embed again (it starts from scratch)", library.display())]
    Interrupted { library: PathBuf },
}

/// A finished re-embed.
pub struct Reembedded {
    /// The indexing run into the new library.
    pub summary: Summary,
    /// Indexed images whose files no longer exist, left out of the new library.
    pub vanished: usize,
    /// The new library, at the old one's path, still holding the writer lock: drop it to let
    /// other writers in.
    pub writer: Writer,
}

/// The folder a re-embed of `library` builds the new library in.
pub fn staging_dir(library: &Path) -> PathBuf {
    let name = library
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "library".into());
    library.with_file_name(format!("{name}.reembed"))
}

/// Re-embeds every image of the library at `library` with the image tower `encoder`, whose
/// identity is `model`, and swaps the result in (see the module docs).
pub fn reembed(
    library: &Path,
    encoder: Arc<ImageEncoder>,
    model: &ModelIdentity,
    pipeline: &PipelineConfig,
    progress: &Arc<Progress>,
    cancel: &Arc<AtomicBool>,
) -> Result<Reembedded, ReembedError> {
    let old = Writer::open_existing(library)?;
    let mut paths = Vec::new();
    let mut tags = std::collections::HashMap::new();
    let mut vanished = 0usize;
    for record in old.records() {
        let record = record?;
        if record.path.exists() {
            if !record.tags.is_empty() || record.text.is_some() {
                tags.insert(record.path.clone(), Kept::of(&record));
            }
            paths.push(record.path);
        } else {
            vanished += 1;
        }
    }
    if paths.is_empty() {
        return Err(ReembedError::NothingToEmbed {
            library: library.to_path_buf(),
        });
    }
    let staging = staging_dir(library);
    // Holding the old library's lock, no other re-embed of it can be using this folder.
    remove_staging(&staging)?;
    let built = build(
        &staging,
        &paths,
        &tags,
        old.quantization(),
        encoder,
        model,
        pipeline,
        progress,
        cancel,
    );
    let (new, summary) = match built {
        Ok(done) => done,
        Err(e) => {
            if let Err(cleanup) = remove_staging(&staging) {
                tracing::warn!("{cleanup}");
            }
            return Err(match e {
                ReembedError::Index { source, .. } => ReembedError::Index {
                    library: library.to_path_buf(),
                    source,
                },
                ReembedError::Interrupted { .. } => ReembedError::Interrupted {
                    library: library.to_path_buf(),
                },
                other => other,
            });
        }
    };
    let writer = old.replace_with(new)?;
    Ok(Reembedded {
        summary,
        vanished,
        writer,
    })
}

/// What a re-embed carries over from the old record of a path: its tags, and the text OCR read
/// in it (which does not depend on the CLIP model) while the content is the same.
struct Kept {
    tags: Vec<String>,
    content_hash: String,
    text: Option<magpie_catalog::ImageText>,
}

impl Kept {
    fn of(record: &magpie_catalog::ImageRecord) -> Self {
        Self {
            tags: record.tags.clone(),
            content_hash: record.content_hash.clone(),
            text: record.text.clone(),
        }
    }
}

/// Indexes `paths` into a new library at `staging` and gives it the old tags and image text.
#[allow(clippy::too_many_arguments)]
fn build(
    staging: &Path,
    paths: &[PathBuf],
    tags: &std::collections::HashMap<PathBuf, Kept>,
    quantization: magpie_catalog::Quantization,
    encoder: Arc<ImageEncoder>,
    model: &ModelIdentity,
    pipeline: &PipelineConfig,
    progress: &Arc<Progress>,
    cancel: &Arc<AtomicBool>,
) -> Result<(Writer, Summary), ReembedError> {
    let mut writer = Writer::open(staging, model, &WriterOptions { quantization })?;
    let options = IndexOptions {
        // Exactly the files the old library held: no filters, hidden ones included.
        crawl: CrawlOptions {
            follow_links: false,
            include_hidden: true,
            include: Vec::new(),
            exclude: Vec::new(),
        },
        pipeline: pipeline.clone(),
    };
    let summary =
        index(paths, &mut writer, encoder, &options, progress, cancel).map_err(|source| {
            ReembedError::Index {
                library: staging.to_path_buf(),
                source,
            }
        })?;
    if summary.interrupted {
        return Err(ReembedError::Interrupted {
            library: staging.to_path_buf(),
        });
    }
    let mut changes = Vec::new();
    for record in writer.records() {
        let mut record = record?;
        if let Some(kept) = tags.get(&record.path) {
            record.tags = kept.tags.clone();
            if kept.content_hash == record.content_hash {
                record.text = kept.text.clone();
            }
            changes.push(Change::UpdateRecord(record));
        }
    }
    writer.commit(changes)?;
    writer.flush()?;
    Ok((writer, summary))
}

fn remove_staging(staging: &Path) -> Result<(), CatalogError> {
    match std::fs::remove_dir_all(staging) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CatalogError::Io {
            path: staging.to_path_buf(),
            source,
        }),
    }
}
