//! Where each file of a shard folder lives: clip-retrieval's layout (`img_emb/`, `metadata/`),
//! plus Magpie's thumbnails and the manifests that say which shards are complete.
//!
//! ```text
//! DIR/img_emb/img_emb_K.npy                 rows × dims embeddings (<f2 or <f4)
//! DIR/metadata/metadata_K.parquet           one row per embedding, same order
//! DIR/thumbs/shard_K/<id:016x>.grid.jpg     the pipeline's thumbnails, by image id
//! DIR/thumbs/shard_K/<id:016x>.preview.jpg
//! DIR/shards/shard_K.json                   the manifest, written last: the shard is complete
//! ```

use std::path::{Path, PathBuf};

use magpie_catalog::ThumbKind;

/// The paths of a shard folder.
#[derive(Debug, Clone)]
pub struct ShardLayout {
    root: PathBuf,
}

impl ShardLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `img_emb/img_emb_K.npy`, relative to the folder (as the manifest records it).
    pub fn embeddings_name(shard: u32) -> String {
        format!("img_emb/img_emb_{shard}.npy")
    }

    /// `metadata/metadata_K.parquet`, relative to the folder.
    pub fn metadata_name(shard: u32) -> String {
        format!("metadata/metadata_{shard}.parquet")
    }

    pub fn embeddings(&self, shard: u32) -> PathBuf {
        self.root.join(Self::embeddings_name(shard))
    }

    pub fn metadata(&self, shard: u32) -> PathBuf {
        self.root.join(Self::metadata_name(shard))
    }

    pub fn manifests(&self) -> PathBuf {
        self.root.join("shards")
    }

    pub fn manifest(&self, shard: u32) -> PathBuf {
        self.manifests().join(format!("shard_{shard}.json"))
    }

    /// The shard number of a manifest's file name (`shard_12.json` → 12), `None` for any other
    /// file (temporaries, notes someone left there).
    pub fn manifest_shard(name: &str) -> Option<u32> {
        let number = name.strip_prefix("shard_")?.strip_suffix(".json")?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        number.parse().ok()
    }

    pub fn thumbnails(&self, shard: u32) -> PathBuf {
        self.root.join("thumbs").join(format!("shard_{shard}"))
    }

    /// Where a run writes the thumbnails before they replace the shard's (hidden, so a reader
    /// listing `thumbs/` never mistakes it for a shard).
    pub(crate) fn thumbnails_staging(&self, shard: u32) -> PathBuf {
        self.root
            .join("thumbs")
            .join(format!(".shard_{shard}.partial"))
    }

    /// Where the previous thumbnails wait while the new ones are moved in.
    pub(crate) fn thumbnails_retired(&self, shard: u32) -> PathBuf {
        self.root.join("thumbs").join(format!(".shard_{shard}.old"))
    }

    /// `<id as 16 hex digits>.grid.jpg` / `.preview.jpg`.
    pub fn thumbnail_name(id: u64, kind: ThumbKind) -> String {
        let suffix = match kind {
            ThumbKind::Grid => "grid",
            ThumbKind::Preview => "preview",
        };
        format!("{id:016x}.{suffix}.jpg")
    }

    pub fn thumbnail(&self, shard: u32, id: u64, kind: ThumbKind) -> PathBuf {
        self.thumbnails(shard).join(Self::thumbnail_name(id, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_clip_retrieval() {
        let layout = ShardLayout::new("/out");
        assert_eq!(
            layout.embeddings(3),
            Path::new("/out/img_emb/img_emb_3.npy")
        );
        assert_eq!(
            layout.metadata(3),
            Path::new("/out/metadata/metadata_3.parquet")
        );
        assert_eq!(layout.manifest(3), Path::new("/out/shards/shard_3.json"));
        assert_eq!(
            layout.thumbnail(3, 0xab, ThumbKind::Grid),
            Path::new("/out/thumbs/shard_3/00000000000000ab.grid.jpg")
        );
        assert_eq!(
            ShardLayout::thumbnail_name(u64::MAX >> 1, ThumbKind::Preview),
            "7fffffffffffffff.preview.jpg"
        );
    }

    #[test]
    fn only_manifest_names_are_manifests() {
        assert_eq!(ShardLayout::manifest_shard("shard_12.json"), Some(12));
        for other in [
            ".shard_1.json.tmp",
            "shard_.json",
            "shard_x.json",
            "notes.json",
            "shard_1.json.bak",
        ] {
            assert_eq!(ShardLayout::manifest_shard(other), None, "{other}");
        }
    }
}
