//! `magpie doctor`: is ONNX Runtime found, which providers does it have, and what does a model
//! actually run on and expect? The first thing to ask a user whose search is slow or failing, so
//! it reports facts (paths, versions, the reason each provider failed, each tower's inputs and
//! outputs as the graph declares them, the model family's tokenizer, context, padding, pooling
//! and scoring) rather than a verdict.

use clap::Args;
use magpie_models::{ImageEncoder, ProviderReport, TextEncoder};

use super::models::{resolve_model, session_config, start_runtime};
use super::Context;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Model directory or store name to check (default: the config's `model`).
    #[arg(long)]
    pub model: Option<String>,
    /// Device to check: auto, cpu, cuda[:N], tensorrt[:N].
    #[arg(long)]
    pub device: Option<String>,
}

pub fn run(args: DoctorArgs, ctx: &Context) -> anyhow::Result<()> {
    let info = start_runtime(ctx)?;
    match &ctx.config_path {
        Some(path) => println!("config file {}", path.display()),
        None => println!("config file: none (built-in defaults)"),
    }
    println!("ONNX Runtime {}", info.version);
    println!("  library:   {}", info.library_path.display());
    println!("  found via: {}", info.source);
    println!(
        "  providers compiled in: {}",
        info.available_providers.join(", ")
    );

    let Some(spec) = resolve_model(ctx, args.model.as_deref())? else {
        println!("no model given (--model DIR or `model` in the config): skipping the model check");
        return Ok(());
    };
    let config = session_config(ctx, args.device.as_deref(), &spec)?;
    let rules = spec.family.rules();
    println!(
        "model {} ({} layout, {} variant) at {}",
        spec.name,
        spec.layout,
        spec.variant,
        spec.dir.display()
    );
    println!("  family: {} — {}", spec.family, rules.title);
    let image = ImageEncoder::open(&spec, &config)?;
    print_tower(
        "image tower",
        &spec.image.file.display().to_string(),
        image.provider_report(),
    );
    let (input, input_type) = image.input();
    let p = &spec.image.preprocess;
    println!(
        "    input: {input} {input_type} [{}, 3, {}, {}] ({}; {:?} resize to {}, {:?}, mean {:?}, std {:?})",
        batch(image.fixed_batch()),
        p.size,
        p.size,
        if p.resize == magpie_models::model_dir::ResizeMode::Squash { "squashed to the square" } else { "shortest side, then centre crop" },
        p.resize,
        p.size,
        p.interpolation,
        p.mean,
        p.std
    );
    let (output, output_type) = image.output();
    println!(
        "    output: {output} {output_type}, dimension {}",
        image.dim()
    );

    let text = TextEncoder::open(&spec, &config)?;
    print_tower(
        "text tower",
        &spec.text.file.display().to_string(),
        text.provider_report(),
    );
    let t = &spec.text;
    println!(
        "    tokenizer: {} — {}",
        t.tokenizer.display(),
        t.tokenizer_kind
    );
    println!("    text clean-up: {}", t.clean.describe());
    println!(
        "    context length: {} tokens (pad id {}, end-of-text id {})",
        t.context_length, t.pad_id, t.eot_id
    );
    println!(
        "    padding rule: {} — {}",
        t.padding,
        if text.trims_padding() {
            "short texts run without their padding"
        } else {
            "every text is padded to the full context"
        }
    );
    println!("    pooling: {}", rules.pooling);
    let ((ids, ids_type), mask) = text.inputs();
    let sequence = text
        .fixed_length()
        .map_or_else(|| "sequence".to_string(), |n| n.to_string());
    match mask {
        Some((mask, mask_type)) => println!(
            "    inputs: {ids} {ids_type} [{}, {sequence}], {mask} {mask_type} [{}, {sequence}]",
            batch(text.fixed_batch()),
            batch(text.fixed_batch())
        ),
        None => println!(
            "    inputs: {ids} {ids_type} [{}, {sequence}] (no attention mask)",
            batch(text.fixed_batch())
        ),
    }
    let (output, output_type) = text.output();
    println!(
        "    output: {output} {output_type}, dimension {}",
        text.dim()
    );
    if let Some(language) = text.language() {
        println!(
            "    language: {language} by default (FLORES-200; --lang or the config's `language` to change)"
        );
    }
    println!("  zero-shot tags: {}", spec.similarity);
    if image.dim() != text.dim() {
        anyhow::bail!(
            "the towers disagree on the embedding dimension ({} vs {})",
            image.dim(),
            text.dim()
        );
    }
    println!("embedding dimension: {}", image.dim());
    Ok(())
}

fn batch(fixed: Option<usize>) -> String {
    fixed.map_or_else(|| "batch".to_string(), |n| n.to_string())
}

fn print_tower(label: &str, file: &str, report: &ProviderReport) {
    println!("  {label}: {file}");
    println!(
        "    runs on: {} (asked for {})",
        report.active, report.requested_device
    );
    for failure in &report.failed {
        println!("    {} not used: {}", failure.provider, failure.reason);
    }
}
