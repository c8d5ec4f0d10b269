//! Errors of writing and reading shards. Every error names the file it is about, because the
//! people reading them run hundreds of shards on hosts they never log into: "which file, and
//! what is wrong with it" has to be in the one line a job log shows.

use std::io;
use std::path::PathBuf;

/// Why a shard could not be written, checked or read.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// `--shard` is not `K/N` with `0 <= K < N`.
    #[error("invalid shard {given:?}: expected K/N with 0 <= K < N, e.g. 3/16")]
    Selection { given: String },
    /// Reading or writing a file failed (the out folder not writable, a file list missing…).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A shard file exists but is not what its manifest (or the format) says.
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// The shards of one folder disagree (model, dimensions, shard count).
    #[error("{}: {reason}", path.display())]
    Mismatch { path: PathBuf, reason: String },
    /// `ShardSet::open` found no manifests at all.
    #[error("no shards in {}: no shards/shard_*.json (run `magpie embed-shard --out` into it first)", dir.display())]
    NoShards { dir: PathBuf },
    /// `read_shard` was asked for a shard the set does not hold.
    #[error("shard {shard} is not in {}", dir.display())]
    UnknownShard { shard: u32, dir: PathBuf },
    /// The parquet library refused to write or read a metadata file.
    #[error("{}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Crawling or the pipeline stopped (bad glob, model failing on everything, a crashed stage).
    #[error(transparent)]
    Index(#[from] magpie_indexer::IndexError),
    /// Ctrl-C: nothing of this shard was replaced.
    #[error("interrupted: shard {shard} was not written (its previous files, if any, are left as they were)")]
    Interrupted { shard: u32 },
}

impl ShardError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, source: parquet::errors::ParquetError) -> Self {
        Self::Parquet {
            path: path.into(),
            source,
        }
    }
}
