//! The collection's fields: the primary key (the shard row's id, a hash of the path), the
//! embedding, and the metadata every filter needs, each derived from the record by the
//! catalog's own definitions (`ImageRecord::folder`, `date`, `camera`, …), so a Milvus
//! expression decides what `Filters::matches` decides.

use magpie_catalog::{camera_words, path_components, tag_key, ImageRecord};
use serde_json::{json, Value};

pub const ID: &str = "id";
pub const EMBEDDING: &str = "embedding";
pub const PATH: &str = "path";
pub const SHARD: &str = "shard";
/// Path components of the folder joined by `/`, with a trailing `/`, so a folder filter is a
/// prefix match that cannot stop inside a name.
pub const FOLDER: &str = "folder";
/// Taken-at, else the file's mtime, Unix seconds (`ImageRecord::date`).
pub const DATE: &str = "date";
pub const CAMERA_WORDS: &str = "camera_words";
pub const EXTENSION: &str = "extension";
pub const PIXELS: &str = "pixels";
pub const ORIENTATION: &str = "orientation";
pub const TAGS: &str = "tags";

/// Collection properties: which model made the vectors, and the format of this schema.
pub const PROPERTY_MODEL: &str = "magpie.model";
pub const PROPERTY_DIMENSIONS: &str = "magpie.dimensions";
pub const PROPERTY_SCHEMA: &str = "magpie.schema";
/// Bumped when the fields change; a collection of another version is refused, not misread.
pub const SCHEMA_VERSION: &str = "1";

pub const MAX_PATH: u32 = 4096;
pub const MAX_WORD: u32 = 256;
pub const MAX_WORDS: u32 = 64;

/// The `folder` value of a record: its components joined by `/`, ending with `/`.
pub fn folder_key(record: &ImageRecord) -> String {
    folder_prefix(&path_components(record.folder()))
}

/// The `folder` prefix of a folder filter's components.
pub fn folder_prefix(components: &[String]) -> String {
    let mut key = components.join("/");
    key.push('/');
    key
}

/// Words beyond the field's capacity are dropped (a camera name has two or three).
fn capped(mut words: Vec<String>) -> Vec<String> {
    words.retain(|w| w.len() <= MAX_WORD as usize);
    words.truncate(MAX_WORDS as usize);
    words
}

/// One row of the collection.
pub fn row(record: &ImageRecord, embedding: &[f32], shard: u32) -> Value {
    let mut path = record.path.to_string_lossy().into_owned();
    if path.len() > MAX_PATH as usize {
        // Display only (the record on the serving host keeps the real path): cut on a char
        // boundary.
        let mut end = MAX_PATH as usize;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
    }
    json!({
        ID: record.id as i64,
        EMBEDDING: embedding,
        PATH: path,
        SHARD: shard as i32,
        FOLDER: folder_key(record),
        DATE: record.date(),
        CAMERA_WORDS: capped(camera_words(&record.camera())),
        EXTENSION: record.extension(),
        PIXELS: record.pixel_count() as i64,
        ORIENTATION: record.orientation().as_str(),
        TAGS: capped(record.tags.iter().map(|t| tag_key(t)).collect()),
    })
}
