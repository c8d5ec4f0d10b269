//! The Milvus backend as something `magpie serve` serves ([`MilvusService`]): the searcher of
//! the collection's model and the opened [`MilvusIndex`], whose records and thumbnails come from
//! the shard folders. The collection has no generations (it changes only by `magpie milvus
//! load`, which a running server does not see), so its view is the index itself.

use std::path::PathBuf;
use std::sync::Arc;

use magpie_catalog::{ImageRecord, ThumbKind};
use magpie_searcher::{Collection, SearchIndex, SearchService, Searcher, ServedModel};

use crate::index::MilvusIndex;

/// A collection and the searcher of its model, served.
pub struct MilvusService {
    searcher: Searcher,
    index: Arc<MilvusIndex>,
}

impl MilvusService {
    pub fn new(searcher: Searcher, index: MilvusIndex) -> Self {
        Self {
            searcher,
            index: Arc::new(index),
        }
    }
}

impl SearchService for MilvusService {
    fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    fn collection(&self) -> Arc<dyn Collection> {
        self.index.clone()
    }

    fn model(&self) -> ServedModel {
        ServedModel {
            name: self.index.model_name().to_string(),
            dim: self.index.dimensions(),
        }
    }

    fn failures(&self) -> u64 {
        self.index.failures() as u64
    }

    fn library_dir(&self) -> Option<PathBuf> {
        None
    }
}

impl Collection for MilvusIndex {
    fn index(&self) -> &dyn SearchIndex {
        self
    }

    fn generation(&self) -> u64 {
        // One view for the server's lifetime: facets and near-duplicate groups are computed once.
        1
    }

    fn for_each_record(&self, f: &mut dyn FnMut(&ImageRecord)) {
        for record in self.records() {
            f(&record);
        }
    }

    fn thumbnail_path(&self, record: &ImageRecord, kind: ThumbKind) -> Option<PathBuf> {
        self.thumbnail(record.id, kind)
    }
}
