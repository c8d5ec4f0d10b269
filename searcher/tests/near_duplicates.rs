//! Near-duplicates are grouped with their originals, best copy first.
//!
//! Copies are simulated in embedding space: an edited copy of a photo embeds close to it, a
//! resize or re-compression very close (noise 0.1 → cosine ≈ 0.995), a flip or light crop a bit
//! further (noise 0.25 → cosine ≈ 0.97). Unrelated random photos in 64 dimensions stay below
//! cosine ≈ 0.5.

mod common;

use common::memory_index::{record, Image, MemoryIndex};
use common::vectors::Rng;
use magpie_searcher::dupes::{DEFAULT_DUPE_NEIGHBOURS, DEFAULT_DUPE_THRESHOLD};
use magpie_searcher::engine::find_duplicates;

const DIM: usize = 64;

fn copy_of(original: &[f32], noise: f32, rng: &mut Rng) -> Vec<f32> {
    let direction = rng.unit_vector(original.len());
    let v: Vec<f32> = original
        .iter()
        .zip(direction)
        .map(|(o, d)| o + noise * d)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn image(id: u64, embedding: Vec<f32>, width: u32, height: u32) -> Image {
    Image {
        id,
        embedding,
        record: record(id, &format!("/lib/{id}.jpg"), width, height),
    }
}

#[test]
fn copies_are_grouped_with_their_originals() {
    let mut rng = Rng::new(7);
    let mut images = Vec::new();
    let mut expected_groups = Vec::new();
    for original in 0..300u64 {
        let embedding = rng.unit_vector(DIM);
        // Every tenth photo has copies: resized, re-compressed, flipped.
        if original.is_multiple_of(10) {
            let mut group = vec![original];
            for (n, (noise, width)) in [(0.1, 1000), (0.12, 3000), (0.25, 2000)].iter().enumerate()
            {
                let id = 1000 + original * 10 + n as u64;
                images.push(image(
                    id,
                    copy_of(&embedding, *noise, &mut rng),
                    *width,
                    *width * 3 / 4,
                ));
                group.push(id);
            }
            expected_groups.push(group);
        }
        images.push(image(original, embedding, 4000, 3000));
    }
    let index = MemoryIndex::new("random", images);
    let groups = find_duplicates(&index, DEFAULT_DUPE_THRESHOLD, DEFAULT_DUPE_NEIGHBOURS).unwrap();

    assert_eq!(groups.len(), expected_groups.len());
    for group in &groups {
        let original = group.members[0].id;
        assert!(original < 1000, "the full-resolution original comes first");
        let expected = expected_groups.iter().find(|g| g[0] == original).unwrap();
        let got: Vec<u64> = group.members.iter().map(|m| m.id).collect();
        // By resolution: original (4000), the 3000 copy, the 2000 copy, the 1000 copy.
        assert_eq!(
            got,
            vec![expected[0], expected[2], expected[3], expected[1]]
        );
        assert!(group.members[1..]
            .iter()
            .all(|m| m.similarity >= DEFAULT_DUPE_THRESHOLD));
    }
    let json = serde_json::to_string(&groups).unwrap();
    assert!(json.starts_with(r#"[{"members":[{"id":0,"pixels":12000000,"similarity":1.0}"#));
}

#[test]
fn groups_are_listed_largest_first() {
    let mut rng = Rng::new(8);
    let a = rng.unit_vector(DIM);
    let b = rng.unit_vector(DIM);
    let mut images = vec![image(1, a.clone(), 100, 100), image(2, b.clone(), 100, 100)];
    images.push(image(3, copy_of(&a, 0.05, &mut rng), 50, 50));
    for id in 4..7 {
        images.push(image(id, copy_of(&b, 0.05, &mut rng), 50, 50));
    }
    images.push(image(9, rng.unit_vector(DIM), 100, 100));
    let index = MemoryIndex::new("random", images);
    let groups = find_duplicates(&index, DEFAULT_DUPE_THRESHOLD, DEFAULT_DUPE_NEIGHBOURS).unwrap();
    let sizes: Vec<usize> = groups.iter().map(|g| g.members.len()).collect();
    assert_eq!(sizes, vec![4, 2]);
    assert_eq!(groups[0].members[0].id, 2);
}
