//! `magpie embed`: print the CLIP embeddings of texts and images.
//!
//! For checking a model by hand and for scripting (`--json` gives one JSON object per line, the
//! same vectors the index and the searcher use: L2-normalised, preprocessed and tokenized exactly
//! as at index/search time).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use magpie_models::{ImageEncoder, TextEncoder};

use super::models::{resolve_model, session_config, start_runtime};
use super::Context;

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Model directory or store name (default: the config's `model`).
    #[arg(long)]
    pub model: Option<String>,
    /// Device: auto, cpu, cuda[:N], tensorrt[:N].
    #[arg(long)]
    pub device: Option<String>,
    /// One JSON object per input on stdout.
    #[arg(long)]
    pub json: bool,
    /// A text to embed (repeatable).
    #[arg(long = "text", value_name = "TEXT")]
    pub texts: Vec<String>,
    /// An image file to embed (repeatable).
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// Text language for models that take one (NLLB): `es`, `zh-Hans`, `spa_Latn`, …
    #[arg(long = "lang", value_name = "LANG")]
    pub lang: Option<String>,
}

pub fn run(args: EmbedArgs, ctx: &Context) -> anyhow::Result<()> {
    if args.texts.is_empty() && args.images.is_empty() {
        anyhow::bail!("nothing to embed: give --text TEXT and/or --image FILE");
    }
    start_runtime(ctx)?;
    let spec = resolve_model(ctx, args.model.as_deref())?
        .context("no model: pass --model DIR (or a model name from `magpie models list`)")?;
    let config = session_config(ctx, args.device.as_deref(), &spec)?;

    if !args.texts.is_empty() {
        // Only the towers that are needed are loaded: an image tower can be a gigabyte.
        let mut encoder = TextEncoder::open(&spec, &config)?;
        if let Some(lang) = args.lang.as_deref().or(ctx.config.language.as_deref()) {
            encoder.set_language(lang)?;
        } else if let Some(code) = encoder.language() {
            eprintln!("text language: {code} (this model's default; --lang LANG for another)");
        }
        let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
        let embeddings = encoder.embed_texts(&texts)?;
        for (text, embedding) in texts.iter().zip(&embeddings) {
            print_embedding(text, "text", embedding, args.json)?;
        }
    }
    if !args.images.is_empty() {
        let encoder = ImageEncoder::open(&spec, &config)?;
        for path in &args.images {
            let embedding = encoder.embed_image_file(path)?;
            print_embedding(&path.display().to_string(), "image", &embedding, args.json)?;
        }
    }
    Ok(())
}

fn print_embedding(input: &str, kind: &str, embedding: &[f32], json: bool) -> anyhow::Result<()> {
    if json {
        let object = serde_json::json!({
            "input": input,
            "kind": kind,
            "dim": embedding.len(),
            "embedding": embedding,
        });
        println!("{}", serde_json::to_string(&object)?);
    } else {
        let head: Vec<String> = embedding
            .iter()
            .take(6)
            .map(|v| format!("{v:+.4}"))
            .collect();
        let more = if embedding.len() > 6 { ", …" } else { "" };
        println!(
            "{kind:<5} dim={} [{}{more}]  {input}",
            embedding.len(),
            head.join(", ")
        );
    }
    Ok(())
}
