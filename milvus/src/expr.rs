//! The metadata filters (`magpie_catalog::Filters`, their one definition) as a Milvus boolean
//! expression over the fields of [`crate::schema`], so Milvus filters inside its own vector
//! search. `milvus/tests/milvus.rs` holds each condition to `Filters::matches` on a real server.

use magpie_catalog::Filters;

use crate::error::MilvusError;
use crate::schema::{
    folder_prefix, CAMERA_WORDS, DATE, EXTENSION, FOLDER, ORIENTATION, PIXELS, TAGS,
};

/// The expression of `filters`; `None` when there is no condition.
pub fn expression(filters: &Filters) -> Result<Option<String>, MilvusError> {
    if filters.text.is_some() {
        return Err(MilvusError::UnsupportedFilter {
            key: "text",
            why: "the shards hold no text read in the images (OCR runs on a local library: magpie index --ocr)",
        });
    }
    if filters.has_text.is_some() {
        return Err(MilvusError::UnsupportedFilter {
            key: "has-text",
            why: "the shards hold no text read in the images (OCR runs on a local library: magpie index --ocr)",
        });
    }
    let mut parts = Vec::new();
    if let Some(components) = filters.folder_components() {
        let prefix = escape_like(&folder_prefix(&components));
        parts.push(format!("{FOLDER} like {}", literal(&format!("{prefix}%"))));
    }
    if let Some(after) = filters.taken_after {
        parts.push(format!("{DATE} >= {after}"));
    }
    if let Some(before) = filters.taken_before {
        parts.push(format!("{DATE} <= {before}"));
    }
    let camera = filters.camera_words();
    if !camera.is_empty() {
        parts.push(format!(
            "array_contains_all({CAMERA_WORDS}, {})",
            list(&camera)
        ));
    }
    let extensions = filters.extension_keys();
    if !extensions.is_empty() {
        parts.push(format!("{EXTENSION} in {}", list(&extensions)));
    }
    if let Some(min) = filters.min_pixels {
        parts.push(format!("{PIXELS} >= {}", min.min(i64::MAX as u64)));
    }
    if let Some(orientation) = filters.orientation {
        parts.push(format!(
            "{ORIENTATION} == {}",
            literal(orientation.as_str())
        ));
    }
    let tags = filters.tag_keys();
    if !tags.is_empty() {
        parts.push(format!("array_contains_all({TAGS}, {})", list(&tags)));
    }
    Ok((!parts.is_empty()).then(|| parts.join(" and ")))
}

/// `id in [..]`.
pub fn ids_in(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    format!("{} in [{}]", crate::schema::ID, ids.join(","))
}

/// A string literal of Milvus's expression language: double quotes, backslash escapes.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `like`'s wildcards taken literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn list(words: &[String]) -> String {
    let items: Vec<String> = words.iter().map(|w| literal(w)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let mut f = Filters::default();
        assert_eq!(expression(&f).unwrap(), None);
        f.set_pair("folder=/photos/2024_trip").unwrap();
        f.set_pair("camera=Canon EOS").unwrap();
        f.set_pair("type=JPG").unwrap();
        f.set_pair("orientation=portrait").unwrap();
        f.set_pair("min-pixels=100x100").unwrap();
        let e = expression(&f).unwrap().unwrap();
        assert_eq!(
            e,
            r#"folder like "photos/2024\\_trip/%" and array_contains_all(camera_words, ["canon", "eos"]) and extension in ["jpg"] and pixels >= 10000 and orientation == "portrait""#
        );
        let mut t = Filters::default();
        t.set_pair("text=receipt").unwrap();
        assert!(matches!(
            expression(&t),
            Err(MilvusError::UnsupportedFilter { key: "text", .. })
        ));
        assert_eq!(literal("a\"b\\c"), r#""a\"b\\c""#);
    }
}
