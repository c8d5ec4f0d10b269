//! Near-duplicate grouping: resized, re-compressed, cropped or flipped copies of one photo.
//!
//! Input: for each image its k nearest neighbours with cosines (from the HNSW index). Any pair
//! at or above the threshold joins one group (union–find, so groups are the connected
//! components of the "near-identical" graph). Groups are listed largest first; within a group
//! the highest resolution comes first, as the copy to keep.
//!
//! The default threshold, [`DEFAULT_DUPE_THRESHOLD`] = 0.95, is for CLIP embeddings:
//! re-encoded and resized copies score ≈ 0.97–1.0, flips and light crops ≈ 0.93–0.97, while
//! different shots of the same scene usually stay below 0.93. Lower it (0.92) to catch heavier
//! crops at the price of merging bursts. Because groups are connected components, a chain
//! A≈B≈C groups A with C even if A·C is below the threshold; at 0.95 such chains are copies of
//! copies, which is what a user wants to see together.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub const DEFAULT_DUPE_THRESHOLD: f32 = 0.95;
/// Neighbours to look at per image: a group larger than this still connects through chains.
pub const DEFAULT_DUPE_NEIGHBOURS: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DupeMember {
    pub id: u64,
    /// Width × height, when known.
    pub pixels: Option<u64>,
    /// Cosine to the group's first member (the best copy); 1 for the first member itself.
    pub similarity: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DupeGroup {
    /// Highest resolution first.
    pub members: Vec<DupeMember>,
}

/// Groups images whose neighbour cosine is ≥ `threshold`. `neighbours` holds, per image id, its
/// nearest neighbours (the image itself may appear and is ignored); `pixels` and `cosine` look
/// up a member's resolution and the similarity of two members.
pub fn group_duplicates(
    neighbours: &[(u64, Vec<(u64, f32)>)],
    threshold: f32,
    pixels: impl Fn(u64) -> Option<u64>,
    cosine: impl Fn(u64, u64) -> Option<f32>,
) -> Vec<DupeGroup> {
    let mut sets = UnionFind::default();
    for (id, near) in neighbours {
        for &(other, similarity) in near {
            if other != *id && similarity >= threshold {
                sets.union(*id, other);
            }
        }
    }
    let mut groups: Vec<DupeGroup> = sets
        .groups()
        .into_iter()
        .filter(|ids| ids.len() > 1)
        .map(|ids| {
            let mut members: Vec<(u64, Option<u64>)> =
                ids.into_iter().map(|id| (id, pixels(id))).collect();
            members.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let first = members[0].0;
            DupeGroup {
                members: members
                    .into_iter()
                    .map(|(id, pixels)| DupeMember {
                        id,
                        pixels,
                        similarity: if id == first {
                            1.0
                        } else {
                            cosine(first, id).unwrap_or(f32::NAN)
                        },
                    })
                    .collect(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members[0].id.cmp(&b.members[0].id))
    });
    groups
}

/// Disjoint sets over arbitrary u64 ids, with path halving and union by size.
#[derive(Default)]
struct UnionFind {
    index: HashMap<u64, usize>,
    ids: Vec<u64>,
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn slot(&mut self, id: u64) -> usize {
        if let Some(&slot) = self.index.get(&id) {
            return slot;
        }
        let slot = self.ids.len();
        self.index.insert(id, slot);
        self.ids.push(id);
        self.parent.push(slot);
        self.size.push(1);
        slot
    }

    fn root(&mut self, mut slot: usize) -> usize {
        while self.parent[slot] != slot {
            self.parent[slot] = self.parent[self.parent[slot]];
            slot = self.parent[slot];
        }
        slot
    }

    fn union(&mut self, a: u64, b: u64) {
        let (a, b) = (self.slot(a), self.slot(b));
        let (mut ra, mut rb) = (self.root(a), self.root(b));
        if ra == rb {
            return;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
    }

    fn groups(&mut self) -> Vec<Vec<u64>> {
        let mut by_root: HashMap<usize, Vec<u64>> = HashMap::new();
        for slot in 0..self.ids.len() {
            let root = self.root(slot);
            by_root.entry(root).or_default().push(self.ids[slot]);
        }
        by_root.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(id: u64) -> Option<u64> {
        match id {
            1 => Some(100),
            2 => Some(400),
            3 => Some(200),
            9 => None,
            _ => Some(50),
        }
    }

    #[test]
    fn groups_pairs_above_threshold_largest_first() {
        let neighbours = vec![
            (1, vec![(1, 1.0), (2, 0.97), (5, 0.90)]),
            (2, vec![(2, 1.0), (1, 0.97)]),
            (3, vec![(2, 0.96)]),
            (5, vec![(6, 0.99), (1, 0.90)]),
            (7, vec![(8, 0.94)]),
        ];
        let groups = group_duplicates(&neighbours, 0.95, pixels, |_, _| Some(0.96));
        assert_eq!(groups.len(), 2);
        let first: Vec<u64> = groups[0].members.iter().map(|m| m.id).collect();
        // Ordered by resolution: 2 (400), 3 (200), 1 (100).
        assert_eq!(first, vec![2, 3, 1]);
        assert_eq!(groups[0].members[0].similarity, 1.0);
        assert_eq!(groups[0].members[1].similarity, 0.96);
        let second: Vec<u64> = groups[1].members.iter().map(|m| m.id).collect();
        assert_eq!(second, vec![5, 6]);
    }

    #[test]
    fn threshold_is_a_parameter_and_self_pairs_are_ignored() {
        let neighbours = vec![(7, vec![(7, 1.0), (8, 0.94)])];
        assert!(group_duplicates(&neighbours, 0.95, pixels, |_, _| None).is_empty());
        assert_eq!(
            group_duplicates(&neighbours, 0.93, pixels, |_, _| None).len(),
            1
        );
    }

    #[test]
    fn unknown_resolution_sorts_last() {
        let neighbours = vec![(9, vec![(4, 0.99)])];
        let groups = group_duplicates(&neighbours, 0.95, pixels, |_, _| Some(0.99));
        let ids: Vec<u64> = groups[0].members.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![4, 9]);
        assert!(serde_json::to_string(&groups)
            .unwrap()
            .contains(r#""pixels":null"#));
    }
}
