//! NLLB-CLIP (`nllb-clip-base-siglip__v1`, `…-large-siglip__mrl`, …): the NLLB-200 encoder as text
//! tower, a SigLIP image tower and a sigmoid. Its tokenizer puts a FLORES-200 language code first
//! (`eng_Latn ▁a ▁photo … </s>`); the model was trained with the code of the caption's language,
//! so a query must carry its own: from `--lang`, the config's `language`, the browser's language
//! in the web UI, else [`DEFAULT_LANGUAGE`] (and Magpie says which it used).
//!
//! Languages are accepted as FLORES-200 codes (`spa_Latn`) or as the language tags browsers and
//! people use (`es`, `es-MX`, `pt-BR`, `zh-Hans`); [`flores_code`] maps the latter with the table
//! Immich uses for its web client's languages, plus a few more.

use super::{Family, FamilyRules, PaddingRule, Similarity};
use crate::tokenize::TextClean;
use crate::tokenizer_kind::TokenizerKind;

pub const DEFAULT_LANGUAGE: &str = "eng_Latn";

pub const RULES: FamilyRules = FamilyRules {
    family: Family::Nllb,
    name: "nllb",
    title: "NLLB-CLIP (multilingual, SigLIP image tower)",
    tokenizers: &[TokenizerKind::Nllb],
    default_context: 77,
    context_is_position_count: false,
    padding: PaddingRule::TrimWhenUnchanged,
    pooling: "first token (the language code)",
    hf_clean: TextClean::Whitespace,
    similarity: Similarity::Sigmoid {
        logit_scale: super::siglip::DEFAULT_LOGIT_SCALE,
        logit_bias: super::siglip::DEFAULT_LOGIT_BIAS,
    },
    default_eos: "</s>",
    default_pad: "<pad>",
    needs_language: true,
};

/// Language tags → FLORES-200 codes (Immich's table for its web client, plus Bengali, Swahili,
/// Filipino, Catalan variants and the bare Chinese/Portuguese/Norwegian tags).
const TAGS: &[(&str, &str)] = &[
    ("af", "afr_Latn"),
    ("ar", "arb_Arab"),
    ("az", "azj_Latn"),
    ("be", "bel_Cyrl"),
    ("bg", "bul_Cyrl"),
    ("bn", "ben_Beng"),
    ("ca", "cat_Latn"),
    ("cs", "ces_Latn"),
    ("cy", "cym_Latn"),
    ("da", "dan_Latn"),
    ("de", "deu_Latn"),
    ("el", "ell_Grek"),
    ("en", "eng_Latn"),
    ("es", "spa_Latn"),
    ("et", "est_Latn"),
    ("eu", "eus_Latn"),
    ("fa", "pes_Arab"),
    ("fi", "fin_Latn"),
    ("fil", "tgl_Latn"),
    ("fr", "fra_Latn"),
    ("ga", "gle_Latn"),
    ("gl", "glg_Latn"),
    ("gu", "guj_Gujr"),
    ("he", "heb_Hebr"),
    ("hi", "hin_Deva"),
    ("hr", "hrv_Latn"),
    ("hu", "hun_Latn"),
    ("hy", "hye_Armn"),
    ("id", "ind_Latn"),
    ("is", "isl_Latn"),
    ("it", "ita_Latn"),
    ("ja", "jpn_Jpan"),
    ("ka", "kat_Geor"),
    ("kk", "kaz_Cyrl"),
    ("km", "khm_Khmr"),
    ("kmr", "kmr_Latn"),
    ("kn", "kan_Knda"),
    ("ko", "kor_Hang"),
    ("lb", "ltz_Latn"),
    ("lt", "lit_Latn"),
    ("lv", "lvs_Latn"),
    ("mfa", "zsm_Latn"),
    ("mk", "mkd_Cyrl"),
    ("ml", "mal_Mlym"),
    ("mn", "khk_Cyrl"),
    ("mr", "mar_Deva"),
    ("ms", "zsm_Latn"),
    ("my", "mya_Mymr"),
    ("nb", "nob_Latn"),
    ("nb-no", "nob_Latn"),
    ("ne", "npi_Deva"),
    ("nl", "nld_Latn"),
    ("nn", "nno_Latn"),
    ("no", "nob_Latn"),
    ("pa", "pan_Guru"),
    ("pl", "pol_Latn"),
    ("pt", "por_Latn"),
    ("pt-br", "por_Latn"),
    ("ro", "ron_Latn"),
    ("ru", "rus_Cyrl"),
    ("si", "sin_Sinh"),
    ("sk", "slk_Latn"),
    ("sl", "slv_Latn"),
    ("sq", "als_Latn"),
    ("sr", "srp_Cyrl"),
    ("sr-cyrl", "srp_Cyrl"),
    ("sv", "swe_Latn"),
    ("sw", "swh_Latn"),
    ("ta", "tam_Taml"),
    ("te", "tel_Telu"),
    ("th", "tha_Thai"),
    ("tl", "tgl_Latn"),
    ("tr", "tur_Latn"),
    ("uk", "ukr_Cyrl"),
    ("ur", "urd_Arab"),
    ("uz", "uzn_Latn"),
    ("vi", "vie_Latn"),
    ("zh", "zho_Hans"),
    ("zh-cn", "zho_Hans"),
    ("zh-hans", "zho_Hans"),
    ("zh-hant", "zho_Hant"),
    ("zh-hk", "zho_Hant"),
    ("zh-tw", "zho_Hant"),
];

/// Whether `text` has the shape of a FLORES-200 code (`spa_Latn`: three lower-case letters, an
/// underscore, a four-letter script with a capital).
pub fn is_flores_code(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 8
        && bytes[..3].iter().all(u8::is_ascii_lowercase)
        && bytes[3] == b'_'
        && bytes[4].is_ascii_uppercase()
        && bytes[5..].iter().all(u8::is_ascii_lowercase)
}

/// The FLORES-200 code for a language tag or code: a FLORES code is returned as is, a tag
/// (`es-MX`, `pt_BR`, `zh-Hans`) is looked up with its region, then without. `None` when the
/// language is unknown.
pub fn flores_code(language: &str) -> Option<String> {
    let language = language.trim();
    if is_flores_code(language) {
        return Some(language.to_string());
    }
    let tag = language.replace('_', "-").to_ascii_lowercase();
    let lookup = |key: &str| {
        TAGS.iter()
            .find(|(tag, _)| *tag == key)
            .map(|(_, code)| (*code).to_string())
    };
    lookup(&tag).or_else(|| lookup(tag.split('-').next().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_map_to_flores_codes() {
        assert_eq!(flores_code("es").as_deref(), Some("spa_Latn"));
        assert_eq!(flores_code("es-MX").as_deref(), Some("spa_Latn"));
        assert_eq!(flores_code("pt_BR").as_deref(), Some("por_Latn"));
        assert_eq!(flores_code("zh-Hant").as_deref(), Some("zho_Hant"));
        assert_eq!(flores_code("zh-CN").as_deref(), Some("zho_Hans"));
        assert_eq!(flores_code("hin_Deva").as_deref(), Some("hin_Deva"));
        assert_eq!(flores_code(" de ").as_deref(), Some("deu_Latn"));
        assert_eq!(flores_code("xx"), None);
        assert_eq!(flores_code(""), None);
        assert!(!is_flores_code("spa_latn"));
        assert!(!is_flores_code("spanish"));
    }
}
