//! The keyword and metadata index (tantivy), derived from sled.
//!
//! Every document carries the whole [`ImageRecord`] as a stored field, so a reader in another
//! process (the web server while `magpie index` runs) can show results without opening sled, which
//! allows only one process at a time. Each commit's payload is the sled generation it reflects.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, QueryParser, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    Facet, Field, IndexRecordOption, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT,
};
use tantivy::{
    doc, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::error::{CatalogError, Result};
use crate::filters::{path_components, tag_key, Filters};
use crate::record::{ImageId, ImageRecord};
use crate::words::{text_words, word_parts, TextQuery};

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    id: Field,
    path: Field,
    name: Field,
    folder: Field,
    camera: Field,
    ext: Field,
    tags: Field,
    tag: Field,
    exif: Field,
    date: Field,
    pixels: Field,
    orientation: Field,
    record: Field,
    /// The words read in the image (OCR), with positions for "quoted phrases".
    ocr: Field,
    /// Parts of run-together OCR words, one raw term each ([`crate::words::word_parts`]).
    ocr_parts: Field,
    /// What OCR made of the image: [`TEXT_FOUND`], [`TEXT_NONE`] or [`TEXT_UNREAD`].
    text_state: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | FAST | STORED),
        path: b.add_text_field("path", TEXT),
        name: b.add_text_field("name", TEXT),
        folder: b.add_facet_field("folder", INDEXED),
        camera: b.add_text_field("camera", TEXT),
        ext: b.add_text_field("ext", STRING),
        tags: b.add_text_field("tags", TEXT),
        tag: b.add_text_field("tag", STRING),
        exif: b.add_text_field("exif", TEXT),
        date: b.add_i64_field("date", INDEXED | FAST),
        pixels: b.add_u64_field("pixels", INDEXED | FAST),
        orientation: b.add_text_field("orientation", STRING),
        record: b.add_bytes_field("record", STORED),
        ocr: b.add_text_field("ocr", TEXT),
        ocr_parts: b.add_text_field("ocr_parts", STRING),
        text_state: b.add_text_field("text_state", STRING),
    };
    (b.build(), fields)
}

/// Path components as a tantivy facet (`/home/ann/Pictures`), so a folder filter matches every
/// image below it.
fn folder_facet(folder: &Path) -> Facet {
    Facet::from_path(path_components(folder))
}

/// How much a part of a run-together word counts against a whole word: enough to find
/// "COMETZEPHYRSPARROW" for "zephyr", little enough that an image where the word stands on its own
/// ranks above it.
const PART_WEIGHT: f32 = 0.3;
/// How much a quoted phrase of image text counts against one word.
const PHRASE_WEIGHT: f32 = 2.0;

/// `text_state` values.
const TEXT_FOUND: &str = "found";
const TEXT_NONE: &str = "none";
const TEXT_UNREAD: &str = "unread";

fn text_state(record: &ImageRecord) -> &'static str {
    match &record.text {
        None => TEXT_UNREAD,
        Some(t) if t.is_empty() => TEXT_NONE,
        Some(_) => TEXT_FOUND,
    }
}

pub(crate) struct TextIndex {
    dir: PathBuf,
    index: Index,
    fields: Fields,
}

impl TextIndex {
    /// Opens the index at `dir`, creating it when `create` is set.
    pub fn open(dir: &Path, create: bool) -> Result<Self> {
        let (schema, fields) = schema();
        let index = if dir.join("meta.json").exists() {
            Index::open_in_dir(dir).map_err(CatalogError::text(dir))?
        } else if create {
            std::fs::create_dir_all(dir).map_err(CatalogError::io(dir))?;
            Index::create_in_dir(dir, schema).map_err(CatalogError::text(dir))?
        } else {
            return Err(CatalogError::Corrupt {
                path: dir.to_path_buf(),
                reason: "the keyword index is missing (the writer rebuilds it: run `magpie library rebuild`)".into(),
            });
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            index,
            fields,
        })
    }

    /// The sled generation of the last commit, from the commit payload.
    pub fn generation(&self) -> Result<u64> {
        let metas = self
            .index
            .load_metas()
            .map_err(CatalogError::text(&self.dir))?;
        Ok(metas
            .payload
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0))
    }

    pub fn writer(&self) -> Result<TextWriter> {
        let writer = self
            .index
            .writer_with_num_threads(1, 64_000_000)
            .map_err(CatalogError::text(&self.dir))?;
        Ok(TextWriter {
            dir: self.dir.clone(),
            writer,
            fields: self.fields,
        })
    }

    pub fn reader(&self) -> Result<IndexReader> {
        self.index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(CatalogError::text(&self.dir))
    }

    pub fn fields(&self) -> Fields {
        self.fields
    }

    /// A snapshot of the last commit, for the writer's own read-side questions.
    pub fn snapshot(&self) -> Result<TextSnapshot> {
        Ok(TextSnapshot {
            searcher: self.reader()?.searcher(),
            fields: self.fields,
            index: self.index.clone(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

pub(crate) struct TextWriter {
    dir: PathBuf,
    writer: IndexWriter,
    fields: Fields,
}

impl TextWriter {
    pub fn delete(&mut self, id: ImageId) {
        self.writer
            .delete_term(Term::from_field_u64(self.fields.id, id));
    }

    pub fn delete_all(&mut self) -> Result<()> {
        self.writer
            .delete_all_documents()
            .map_err(CatalogError::text(&self.dir))?;
        Ok(())
    }

    pub fn upsert(&mut self, record: &ImageRecord) -> Result<()> {
        self.delete(record.id);
        let f = &self.fields;
        let exif = [
            record.exif.lens.as_deref(),
            record.exif.make.as_deref(),
            record.exif.model.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let mut document = doc!(
            f.id => record.id,
            f.path => record.path.to_string_lossy().into_owned(),
            f.name => record.file_name(),
            f.folder => folder_facet(record.folder()),
            f.camera => record.camera(),
            f.ext => record.extension(),
            f.tags => record.tags.join(" "),
            f.exif => exif,
            f.date => record.date(),
            f.pixels => record.pixel_count(),
            f.orientation => record.orientation().as_str(),
            f.record => serde_json::to_vec(record).unwrap_or_default(),
        );
        for tag in &record.tags {
            document.add_text(f.tag, tag_key(tag));
        }
        document.add_text(f.text_state, text_state(record));
        if let Some(text) = record.text.as_ref().filter(|t| !t.is_empty()) {
            let joined = text.joined();
            let mut parts: Vec<String> = text_words(&joined)
                .iter()
                .flat_map(|w| word_parts(w))
                .collect();
            parts.sort();
            parts.dedup();
            for part in parts {
                document.add_text(f.ocr_parts, part);
            }
            document.add_text(f.ocr, joined);
        }
        self.writer
            .add_document(document)
            .map_err(CatalogError::text(&self.dir))?;
        Ok(())
    }

    /// Commits with the sled generation as payload.
    pub fn commit(&mut self, generation: u64) -> Result<()> {
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(CatalogError::text(&self.dir))?;
        prepared.set_payload(&generation.to_string());
        prepared.commit().map_err(CatalogError::text(&self.dir))?;
        Ok(())
    }
}

/// Read-side queries over one searcher snapshot.
pub(crate) struct TextSnapshot {
    pub searcher: Searcher,
    pub fields: Fields,
    pub index: Index,
}

impl TextSnapshot {
    fn record_of(&self, doc: &TantivyDocument) -> Option<ImageRecord> {
        let bytes = doc.get_first(self.fields.record)?.as_bytes()?;
        serde_json::from_slice(bytes).ok()
    }

    pub fn get(&self, id: ImageId) -> Option<ImageRecord> {
        let query = TermQuery::new(
            Term::from_field_u64(self.fields.id, id),
            IndexRecordOption::Basic,
        );
        let top = self
            .searcher
            .search(&query, &TopDocs::with_limit(1).order_by_score())
            .ok()?;
        let (_, address) = top.first()?;
        let doc: TantivyDocument = self.searcher.doc(*address).ok()?;
        self.record_of(&doc)
    }

    pub fn len(&self) -> u64 {
        self.searcher.num_docs()
    }

    /// All records, by id (for exact scans, dupes, tagging, verify).
    pub fn all(&self) -> Vec<ImageRecord> {
        let mut out = Vec::with_capacity(self.len() as usize);
        self.for_each(|r| out.push(r));
        out.sort_by_key(|r| r.id);
        out
    }

    /// Every live record, in storage order, without holding them all: each segment's document
    /// store is read front to back, so each compressed block is decompressed once (fetching
    /// documents by address in hash order decompressed a block per document: 10 s at 1 M).
    ///
    /// The pass maps every stored record into memory; searches read only a few, so the store's
    /// pages are released from the resident set afterwards (at 1 M images they are ~150 MB).
    pub fn for_each(&self, mut each: impl FnMut(ImageRecord)) {
        let mut stores = std::collections::HashSet::new();
        for segment in self.searcher.segment_readers() {
            stores.insert(format!("{}.store", segment.segment_id().uuid_string()));
            let Ok(store) = segment.get_store_reader(1) else {
                continue;
            };
            for doc in store.iter::<TantivyDocument>(segment.alive_bitset()) {
                if let Some(record) = doc.ok().and_then(|d| self.record_of(&d)) {
                    each(record);
                }
            }
        }
        crate::fsutil::release_mapped_pages(&stores);
    }

    /// How many images OCR has read, and in how many of them it found text.
    pub fn text_counts(&self) -> (u64, u64) {
        let count = |state: &str| {
            let query = TermQuery::new(
                Term::from_field_text(self.fields.text_state, state),
                IndexRecordOption::Basic,
            );
            self.searcher.search(&query, &Count).unwrap_or(0) as u64
        };
        let found = count(TEXT_FOUND);
        (found + count(TEXT_NONE), found)
    }

    /// The tantivy form of [`Filters`]; each condition comes from the accessor that
    /// [`Filters::matches`] uses too, so the index and plain records decide alike.
    fn filter_query(&self, filters: &Filters) -> Box<dyn Query> {
        let f = &self.fields;
        let term_query = |term: Term| -> Box<dyn Query> {
            Box::new(TermQuery::new(term, IndexRecordOption::Basic))
        };
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(AllQuery))];
        if let Some(components) = filters.folder_components() {
            let facet = Facet::from_path(components);
            must.push((Occur::Must, term_query(Term::from_facet(f.folder, &facet))));
        }
        if filters.taken_after.is_some() || filters.taken_before.is_some() {
            let lo = filters.taken_after.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(f.date, t))
            });
            let hi = filters.taken_before.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(f.date, t))
            });
            must.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        // The camera field is tokenized by tantivy's default analyzer, whose words
        // `camera_words` returns: each filter word must be one of them.
        for word in filters.camera_words() {
            must.push((
                Occur::Must,
                term_query(Term::from_field_text(f.camera, &word)),
            ));
        }
        let extensions = filters.extension_keys();
        if !extensions.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = extensions
                .iter()
                .map(|e| (Occur::Should, term_query(Term::from_field_text(f.ext, e))))
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if let Some(min) = filters.min_pixels {
            let lo = Bound::Included(Term::from_field_u64(f.pixels, min));
            must.push((Occur::Must, Box::new(RangeQuery::new(lo, Bound::Unbounded))));
        }
        if let Some(o) = filters.orientation {
            must.push((
                Occur::Must,
                term_query(Term::from_field_text(f.orientation, o.as_str())),
            ));
        }
        for tag in filters.tag_keys() {
            must.push((Occur::Must, term_query(Term::from_field_text(f.tag, &tag))));
        }
        if let Some(wanted) = filters.has_text {
            let found = term_query(Term::from_field_text(f.text_state, TEXT_FOUND));
            must.push((if wanted { Occur::Must } else { Occur::MustNot }, found));
        }
        for word in filters.text_words() {
            must.push((Occur::Must, self.image_word_query(&word, 1.0)));
        }
        Box::new(BooleanQuery::new(must))
    }

    /// One word of image text: the whole word, or (weighing [`PART_WEIGHT`] as much) a part of
    /// a run-together word.
    fn image_word_query(&self, word: &str, weight: f32) -> Box<dyn Query> {
        let f = &self.fields;
        let whole = TermQuery::new(
            Term::from_field_text(f.ocr, word),
            IndexRecordOption::WithFreqs,
        );
        let part = TermQuery::new(
            Term::from_field_text(f.ocr_parts, word),
            IndexRecordOption::Basic,
        );
        Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(whole), weight)),
            ),
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(part), weight * PART_WEIGHT)),
            ),
        ]))
    }

    /// A quoted phrase of image text: its words in order, in one line or across lines.
    fn image_phrase_query(&self, phrase: &str) -> Option<Box<dyn Query>> {
        let words = text_words(phrase);
        match words.len() {
            0 => None,
            1 => Some(self.image_word_query(&words[0], PHRASE_WEIGHT)),
            _ => {
                let terms = words
                    .iter()
                    .map(|w| Term::from_field_text(self.fields.ocr, w))
                    .collect();
                Some(Box::new(BoostQuery::new(
                    Box::new(PhraseQuery::new(terms)),
                    PHRASE_WEIGHT,
                )))
            }
        }
    }

    /// Images whose text (OCR) matches `query`, restricted by `filters`, best first (BM25 over
    /// the words; parts of run-together words weigh less, phrases more). The flag says whether
    /// the image holds *every* word and phrase of the query — the strong evidence a search ranks
    /// first.
    pub fn image_text_search(
        &self,
        query: &TextQuery,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<(ImageId, f32, bool)>, String> {
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut all: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in &query.words {
            any.push((Occur::Should, self.image_word_query(word, 1.0)));
            all.push((Occur::Must, self.image_word_query(word, 1.0)));
        }
        for phrase in &query.phrases {
            if let Some(q) = self.image_phrase_query(phrase) {
                any.push((Occur::Should, q.box_clone()));
                all.push((Occur::Must, q));
            }
        }
        if any.is_empty() {
            return Ok(Vec::new());
        }
        let restricted = |q: Vec<(Occur, Box<dyn Query>)>| {
            BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(q)) as Box<dyn Query>,
                ),
                (Occur::Must, self.filter_query(filters)),
            ])
        };
        let collector = TopDocs::with_limit(limit.max(1)).order_by_score();
        let ranked = self
            .searcher
            .search(&restricted(any), &collector)
            .map_err(|e| e.to_string())?;
        let complete: HashSet<tantivy::DocAddress> = self
            .searcher
            .search(&restricted(all), &DocSetCollector)
            .map_err(|e| e.to_string())?;
        let ids = self.ids_of(ranked.iter().map(|(_, a)| *a));
        Ok(ids
            .into_iter()
            .zip(ranked.iter())
            .map(|(id, (score, address))| (id, *score, complete.contains(address)))
            .collect())
    }

    fn ids_of(&self, addresses: impl IntoIterator<Item = tantivy::DocAddress>) -> Vec<ImageId> {
        let readers = self.searcher.segment_readers();
        let columns: Vec<_> = readers
            .iter()
            .map(|r| r.fast_fields().u64("id").ok())
            .collect();
        addresses
            .into_iter()
            .filter_map(|a| {
                columns
                    .get(a.segment_ord as usize)?
                    .as_ref()?
                    .first(a.doc_id)
            })
            .collect()
    }

    /// The ids matching `filters`.
    pub fn filter_ids(&self, filters: &Filters) -> Result<HashSet<ImageId>, String> {
        let query = self.filter_query(filters);
        let set = self
            .searcher
            .search(&query, &DocSetCollector)
            .map_err(|e| e.to_string())?;
        Ok(self.ids_of(set).into_iter().collect())
    }

    /// BM25 over file name, path, camera, tags and EXIF text, restricted by `filters`.
    pub fn keyword_search(
        &self,
        text: &str,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<(ImageId, f32)>, String> {
        let f = &self.fields;
        let mut parser =
            QueryParser::for_index(&self.index, vec![f.name, f.path, f.camera, f.tags, f.exif]);
        parser.set_field_boost(f.name, 3.0);
        parser.set_field_boost(f.tags, 2.0);
        let (text_query, _) = parser.parse_query_lenient(&escape(text));
        let query = BooleanQuery::new(vec![
            (Occur::Must, text_query),
            (Occur::Must, self.filter_query(filters)),
        ]);
        let top = self
            .searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(|e| e.to_string())?;
        let ids = self.ids_of(top.iter().map(|(_, a)| *a));
        Ok(ids.into_iter().zip(top.iter().map(|(s, _)| *s)).collect())
    }
}

/// Keyword queries are user text, not tantivy syntax: strip the operators so "IMG_2041 (copy)"
/// cannot be a syntax error.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect()
}
