//! Which shard a photo belongs to, and its id: both from one hash of the path's bytes, so every
//! host, every run and every tool (the Ray driver, the Milvus import) agrees without talking to
//! each other — a photo's shard and id depend on nothing but its path.
//!
//! The hash is blake3 of the raw path bytes (`magpie_catalog::path_to_bytes`, so non-UTF-8 names
//! hash as what they are), its first 8 bytes read little-endian. blake3 rather than a fast
//! non-cryptographic hash because it is specified and stable across languages and versions: a
//! colleague's Python can compute `shard_of` for a file list and get the same answer.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::ShardError;

/// The 64-bit path hash both [`shard_of`] and [`image_id`] are cut from.
pub fn path_hash(path: &Path) -> u64 {
    let digest = blake3::hash(&magpie_catalog::path_to_bytes(path));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The shard (0..n) that `path` falls in. `n` must be at least 1.
pub fn shard_of(path: &Path, n: u32) -> u32 {
    assert!(n > 0, "a shard count must be at least 1");
    (path_hash(path) % u64::from(n)) as u32
}

/// The photo's id: the path hash with its top bit cleared, so it fits a positive `i64` (Milvus
/// primary keys and parquet `int64` are signed). The same path gets the same id on every host.
pub fn image_id(path: &Path) -> u64 {
    path_hash(path) & (u64::MAX >> 1)
}

/// The shards an id can be in: its path hash is the id with the top bit clear or set, so of `n`
/// shards it is one of (at most) these two. Used to find a thumbnail from an id alone.
pub(crate) fn shards_for_id(id: u64, n: u32) -> [u32; 2] {
    let n = u64::from(n.max(1));
    [(id % n) as u32, ((id | (1 << 63)) % n) as u32]
}

/// Shard `index` of `count`: what `--shard K/N` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSelection {
    pub index: u32,
    pub count: u32,
}

impl ShardSelection {
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::Selection {
                given: format!("{index}/{count}"),
            });
        }
        Ok(Self { index, count })
    }

    /// Whether `path` belongs to this shard.
    pub fn contains(&self, path: &Path) -> bool {
        shard_of(path, self.count) == self.index
    }
}

impl FromStr for ShardSelection {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        let invalid = || ShardError::Selection {
            given: text.to_string(),
        };
        let (index, count) = text.trim().split_once('/').ok_or_else(invalid)?;
        let index = index.trim().parse().map_err(|_| invalid())?;
        let count = count.trim().parse().map_err(|_| invalid())?;
        Self::new(index, count).map_err(|_| invalid())
    }
}

impl fmt::Display for ShardSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_same_path_always_lands_in_the_same_shard_with_the_same_id() {
        let path = Path::new("/photos/2024/IMG_0001.jpg");
        let first = (shard_of(path, 16), image_id(path));
        for _ in 0..3 {
            assert_eq!((shard_of(path, 16), image_id(path)), first);
        }
        // Pinned: another host (or another language) computing blake3 gets these numbers.
        let digest = blake3::hash(b"/photos/2024/IMG_0001.jpg");
        let hash = u64::from_le_bytes(digest.as_bytes()[..8].try_into().unwrap());
        assert_eq!(path_hash(path), hash);
        assert_eq!(image_id(path), hash & 0x7fff_ffff_ffff_ffff);
        assert_eq!(u64::from(shard_of(path, 16)), hash % 16);
        assert!(i64::try_from(image_id(path)).is_ok());
    }

    #[test]
    fn paths_spread_evenly_over_the_shards() {
        let n = 8u32;
        let mut counts = vec![0usize; n as usize];
        let files = 8000;
        for i in 0..files {
            let path = PathBuf::from(format!("/photos/{}/IMG_{i:05}.jpg", i % 37));
            counts[shard_of(&path, n) as usize] += 1;
        }
        let expected = files / n as usize;
        for (shard, count) in counts.iter().enumerate() {
            // ±15 % of 1000 is far outside chance (σ ≈ 30) for a hash that spreads.
            assert!(
                count.abs_diff(expected) < expected * 15 / 100,
                "shard {shard}: {count} of {files} ({counts:?})"
            );
        }
    }

    #[test]
    fn an_id_names_its_shard_among_two_candidates() {
        for i in 0..500 {
            let path = PathBuf::from(format!("/p/{i}.jpg"));
            for n in [1, 2, 3, 7, 16, 1000] {
                assert!(shards_for_id(image_id(&path), n).contains(&shard_of(&path, n)));
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_hash_by_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let raw = Path::new(std::ffi::OsStr::from_bytes(b"/p/caf\xe9.jpg"));
        let lossy = Path::new("/p/caf\u{fffd}.jpg");
        assert_ne!(image_id(raw), image_id(lossy));
    }

    #[test]
    fn selections_parse_and_refuse_what_is_not_k_of_n() {
        assert_eq!(
            "3/16".parse::<ShardSelection>().unwrap(),
            ShardSelection {
                index: 3,
                count: 16
            }
        );
        assert_eq!("0/1".parse::<ShardSelection>().unwrap().to_string(), "0/1");
        for bad in ["16/16", "1/0", "3", "-1/4", "a/b", "1/2/3", ""] {
            let err = bad.parse::<ShardSelection>().unwrap_err().to_string();
            assert!(err.contains("K/N"), "{bad}: {err}");
        }
        let selection = ShardSelection::new(1, 3).unwrap();
        let path = Path::new("/x.jpg");
        assert_eq!(selection.contains(path), shard_of(path, 3) == 1);
    }
}
