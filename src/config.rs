//! The user's config file, `config.toml`.
//!
//! Looked up at `--config` / `MAGPIE_CONFIG`, else `$XDG_CONFIG_HOME/magpie/config.toml`
//! (`~/.config/magpie/config.toml`). Every key is optional: command-line flags and environment
//! variables win over the file, and the file wins over built-in defaults. For example:
//! ```toml
//! library = "/srv/photos/library"
//! ort_lib = "~/venvs/ort"      # libonnxruntime.so, its folder, or a virtualenv with onnxruntime
//! token = "…"                  # for `magpie serve` beyond loopback (kept out of `ps`)
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path to `libonnxruntime.so` (or the folder holding it).
    pub ort_lib: Option<PathBuf>,
    /// Default library directory.
    pub library: Option<PathBuf>,
    /// Default model: a directory, or the name of a model in the model store.
    pub model: Option<String>,
    /// Where `magpie models pull` stores models.
    pub model_store: Option<PathBuf>,
    /// Default execution device (`auto`, `cpu`, `cuda[:N]`, `tensorrt[:N]`).
    pub device: Option<String>,
    /// Token required by `magpie serve` when bound to a non-loopback address.
    pub token: Option<String>,
    /// Prompt templates for short text queries (`{}` is replaced by the query).
    pub prompt_templates: Option<Vec<String>>,
    /// The language of queries for models that take one (NLLB): a tag such as `es` or a FLORES-200
    /// code such as `spa_Latn` (default: the model's, eng_Latn). `--lang` wins.
    pub language: Option<String>,
}

impl Config {
    /// Loads the config from an explicit path (which must exist) or the default location (which
    /// may be absent).
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<(Self, Option<PathBuf>)> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok((Self::default(), None)),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let cfg = toml::from_str(&text)
                    .with_context(|| format!("config file {} is not valid", path.display()))?;
                Ok((cfg, Some(path)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok((Self::default(), None))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
        }
    }
}

fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("magpie").join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_is_magpie_config_toml() {
        if let Some(path) = default_path() {
            assert!(path.ends_with("magpie/config.toml"), "{}", path.display());
        }
    }

    #[test]
    fn every_documented_key_is_understood() {
        let text = r#"
            library = "/srv/photos/library"
            ort_lib = "~/venvs/ort"
            token = "secret"
        "#;
        let config: Config = toml::from_str(text).unwrap();
        assert_eq!(config.ort_lib.as_deref(), Some(Path::new("~/venvs/ort")));
        assert_eq!(config.token.as_deref(), Some("secret"));
    }
}
