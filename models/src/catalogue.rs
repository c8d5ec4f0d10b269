//! The built-in catalogue of known-good exports, and the default model.
//!
//! `magpie models list --available` prints it, `models pull` uses it to say what a repo is, and a
//! new library without `--model` pulls [`DEFAULT_MODEL`]. Each entry names its family, languages,
//! image size, embedding size, a download size, and a published quality figure with its source:
//! Immich's documentation ("Searching › CLIP models") ranks its exports by zero-shot retrieval on
//! Crossmodal-3600 (the mean of recall@1, @5 and @10) and times them on a CPU (Ryzen 7800X3D,
//! f32, ms per inference). Hugging Face exports of the same weights get the same figure, marked
//! as such.
//!
//! Download sizes are approximate (parameters × 4 bytes for fp32 towers, rounded), except where
//! marked exact; `models pull` shows the exact size from the hub's listing before it starts.
//!
//! Why the default is `immich-app/ViT-B-16-SigLIP2__webli`: it is the best quality per CPU
//! second in that table. At 5.81 ms it scores 75.19 % (English), 0.54 points below the best model
//! (ViT-H-14-378, 108 ms: 19× the CPU time); the next better export costs 16× its time for 0.25
//! points, and the next cheaper one (ViT-B-32-SigLIP2-256, 3.31 ms) gives up two points. It is
//! also multilingual enough for European languages (Immich: 61–80 % on Dutch, Danish, Czech),
//! where OpenAI's ViT-B-32 scores 59.37 % even in English. Its cost is the download and memory:
//! Gemma's 256 k-token vocabulary makes the text tower ≈ 1.1 GB.

use crate::family::Family;
use crate::model_dir::Variant;

/// The repo `scripts/run` and a new library without `--model` pull.
pub const DEFAULT_MODEL: &str = "immich-app/ViT-B-16-SigLIP2__webli";

/// Where the quality figures come from.
pub const IMMICH_TABLE: &str = "Immich docs, Searching › CLIP models: Crossmodal-3600 zero-shot \
    retrieval, mean of recall@1/5/10; CPU ms per inference on a Ryzen 7800X3D, f32";

/// A published quality figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Recall in per cent, English queries.
    pub recall_en: f32,
    /// Recall for another language where the model is multilingual: (language, per cent).
    pub recall_other: Option<(&'static str, f32)>,
    /// CPU time per inference in the same table, milliseconds.
    pub cpu_ms: f32,
    /// Source (always [`IMMICH_TABLE`] here), plus a remark when the figure is for an identical
    /// export under another name.
    pub source: &'static str,
    pub remark: Option<&'static str>,
}

/// One known-good export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownModel {
    pub repo: &'static str,
    pub family: Family,
    pub languages: &'static str,
    pub image_size: u32,
    pub dim: usize,
    /// Download size of the fp32 towers and files, megabytes.
    pub download_mb: u32,
    pub download_exact: bool,
    /// Variants the repo publishes as ONNX.
    pub variants: &'static [Variant],
    pub quality: Option<Quality>,
}

const FP32: &[Variant] = &[Variant::Fp32];
const ALL_VARIANTS: &[Variant] = &[Variant::Fp32, Variant::Fp16, Variant::Int8];

const fn immich(
    recall_en: f32,
    cpu_ms: f32,
    recall_other: Option<(&'static str, f32)>,
) -> Option<Quality> {
    Some(Quality {
        recall_en,
        recall_other,
        cpu_ms,
        source: IMMICH_TABLE,
        remark: None,
    })
}

const fn same_weights(recall_en: f32, cpu_ms: f32, remark: &'static str) -> Option<Quality> {
    Some(Quality {
        recall_en,
        recall_other: None,
        cpu_ms,
        source: IMMICH_TABLE,
        remark: Some(remark),
    })
}

const CATALOGUE: &[KnownModel] = &[
    KnownModel {
        repo: "immich-app/ViT-B-16-SigLIP2__webli",
        family: Family::Siglip2,
        languages: "multilingual (English best)",
        image_size: 224,
        dim: 768,
        download_mb: 1500,
        download_exact: false,
        variants: FP32,
        quality: immich(75.19, 5.81, Some(("Dutch", 75.33))),
    },
    KnownModel {
        repo: "immich-app/ViT-B-32-SigLIP2-256__webli",
        family: Family::Siglip2,
        languages: "multilingual (English best)",
        image_size: 256,
        dim: 768,
        download_mb: 1500,
        download_exact: false,
        variants: FP32,
        quality: immich(73.15, 3.31, Some(("Dutch", 72.72))),
    },
    KnownModel {
        repo: "immich-app/ViT-L-16-SigLIP2-256__webli",
        family: Family::Siglip2,
        languages: "multilingual (English best)",
        image_size: 256,
        dim: 1024,
        download_mb: 3500,
        download_exact: false,
        variants: FP32,
        quality: immich(74.26, 23.77, Some(("Dutch", 78.0))),
    },
    KnownModel {
        repo: "immich-app/ViT-B-16-SigLIP__webli",
        family: Family::Siglip,
        languages: "English",
        image_size: 224,
        dim: 768,
        download_mb: 810,
        download_exact: false,
        variants: FP32,
        quality: immich(71.64, 5.77, None),
    },
    KnownModel {
        repo: "immich-app/ViT-B-16-SigLIP-384__webli",
        family: Family::Siglip,
        languages: "English",
        image_size: 384,
        dim: 768,
        download_mb: 815,
        download_exact: false,
        variants: FP32,
        quality: immich(72.45, 13.53, None),
    },
    KnownModel {
        repo: "immich-app/ViT-SO400M-14-SigLIP-384__webli",
        family: Family::Siglip,
        languages: "English",
        image_size: 384,
        dim: 1152,
        download_mb: 3500,
        download_exact: false,
        variants: FP32,
        quality: immich(72.58, 72.19, None),
    },
    KnownModel {
        repo: "immich-app/ViT-B-32__openai",
        family: Family::Clip,
        languages: "English",
        image_size: 224,
        dim: 512,
        download_mb: 606,
        download_exact: true,
        variants: FP32,
        quality: immich(59.37, 2.26, None),
    },
    KnownModel {
        repo: "immich-app/ViT-B-32__laion2b-s34b-b79k",
        family: Family::Clip,
        languages: "English",
        image_size: 224,
        dim: 512,
        download_mb: 606,
        download_exact: false,
        variants: FP32,
        quality: immich(68.78, 2.29, None),
    },
    KnownModel {
        repo: "immich-app/ViT-L-14-quickgelu__dfn2b",
        family: Family::Clip,
        languages: "English",
        image_size: 224,
        dim: 768,
        download_mb: 1710,
        download_exact: false,
        variants: FP32,
        quality: immich(72.78, 20.49, None),
    },
    KnownModel {
        repo: "immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
        family: Family::XlmRoberta,
        languages: "100 (XLM-RoBERTa)",
        image_size: 224,
        dim: 512,
        download_mb: 1460,
        download_exact: false,
        variants: FP32,
        quality: immich(68.33, 3.2, Some(("Chinese", 72.52))),
    },
    KnownModel {
        repo: "immich-app/nllb-clip-base-siglip__v1",
        family: Family::Nllb,
        languages: "200 (FLORES-200 codes)",
        image_size: 384,
        dim: 768,
        download_mb: 2000,
        download_exact: false,
        variants: FP32,
        quality: immich(68.41, 15.17, Some(("Chinese", 72.65))),
    },
    KnownModel {
        repo: "immich-app/nllb-clip-large-siglip__v1",
        family: Family::Nllb,
        languages: "200 (FLORES-200 codes)",
        image_size: 384,
        dim: 1152,
        download_mb: 4000,
        download_exact: false,
        variants: FP32,
        quality: immich(71.19, 75.05, Some(("Chinese", 77.49))),
    },
    KnownModel {
        repo: "immich-app/XLM-Roberta-Large-Vit-B-32",
        family: Family::Mclip,
        languages: "48 (M-CLIP)",
        image_size: 224,
        dim: 512,
        download_mb: 2600,
        download_exact: false,
        variants: FP32,
        quality: None,
    },
    KnownModel {
        repo: "Xenova/clip-vit-base-patch32",
        family: Family::Clip,
        languages: "English",
        image_size: 224,
        dim: 512,
        download_mb: 606,
        download_exact: true,
        variants: ALL_VARIANTS,
        quality: same_weights(
            59.37,
            2.26,
            "Immich's figure for the same OpenAI weights (ViT-B-32__openai)",
        ),
    },
    KnownModel {
        repo: "Xenova/siglip-base-patch16-224",
        family: Family::Siglip,
        languages: "English",
        image_size: 224,
        dim: 768,
        download_mb: 810,
        download_exact: false,
        variants: ALL_VARIANTS,
        quality: same_weights(
            71.64,
            5.77,
            "Immich's figure for the same weights (ViT-B-16-SigLIP__webli)",
        ),
    },
    KnownModel {
        repo: "onnx-community/siglip2-base-patch16-224-ONNX",
        family: Family::Siglip2,
        languages: "multilingual (English best)",
        image_size: 224,
        dim: 768,
        download_mb: 1500,
        download_exact: false,
        variants: ALL_VARIANTS,
        quality: same_weights(
            75.19,
            5.81,
            "Immich's figure for the same weights (ViT-B-16-SigLIP2__webli)",
        ),
    },
];

/// Every known-good export, the default first.
pub fn catalogue() -> &'static [KnownModel] {
    CATALOGUE
}

/// The catalogue entry of a repo (case-insensitive), if it has one.
pub fn find(repo: &str) -> Option<&'static KnownModel> {
    CATALOGUE
        .iter()
        .find(|m| m.repo.eq_ignore_ascii_case(repo.trim()))
}

/// The default model's entry.
pub fn default_model() -> &'static KnownModel {
    find(DEFAULT_MODEL).expect("the default model is in the catalogue")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_in_the_catalogue_and_listed_first() {
        assert_eq!(catalogue()[0].repo, DEFAULT_MODEL);
        assert_eq!(default_model().family, Family::Siglip2);
        assert!(find("IMMICH-APP/vit-b-32__openai").is_some());
        assert!(find("nobody/nothing").is_none());
    }

    #[test]
    fn every_family_has_an_entry_and_repos_are_unique() {
        for family in Family::ALL {
            assert!(catalogue().iter().any(|m| m.family == family), "{family}");
        }
        let mut repos: Vec<&str> = catalogue().iter().map(|m| m.repo).collect();
        repos.sort_unstable();
        repos.dedup();
        assert_eq!(repos.len(), catalogue().len());
    }

    #[test]
    fn the_default_is_the_best_recall_per_cpu_second_among_exports_within_two_points_of_the_top() {
        // The README's argument, checked against the table: among entries within two points of
        // the best English recall, the default is the cheapest.
        let best = catalogue()
            .iter()
            .filter_map(|m| m.quality)
            .map(|q| q.recall_en)
            .fold(0.0f32, f32::max);
        let cheapest = catalogue()
            .iter()
            .filter(|m| {
                m.quality
                    .is_some_and(|q| q.recall_en >= best - 2.0 && q.remark.is_none())
            })
            .min_by(|a, b| {
                let (qa, qb) = (a.quality.unwrap(), b.quality.unwrap());
                qa.cpu_ms.total_cmp(&qb.cpu_ms)
            })
            .unwrap();
        assert_eq!(cheapest.repo, DEFAULT_MODEL);
    }
}
