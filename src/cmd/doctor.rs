//! `magpie doctor`: is ONNX Runtime found, which providers does it have, and what does a model
//! actually run on? The first thing to ask a user whose search is slow or failing, so it reports
//! facts (paths, versions, the reason each provider failed) rather than a verdict.

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
    println!(
        "model {} ({} layout) at {}",
        spec.name,
        spec.layout,
        spec.dir.display()
    );
    let image = ImageEncoder::open(&spec, &config)?;
    print_tower(
        "image tower",
        &spec.image.file.display().to_string(),
        image.dim(),
        image.provider_report(),
    );
    let text = TextEncoder::open(&spec, &config)?;
    print_tower(
        "text tower",
        &spec.text.file.display().to_string(),
        text.dim(),
        text.provider_report(),
    );
    println!(
        "    short texts: {}",
        if text.trims_padding() {
            "run without their padding (causal tower, variable length)"
        } else {
            "padded to the full context (the model needs it, or takes a fixed length)"
        }
    );
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

fn print_tower(label: &str, file: &str, dim: usize, report: &ProviderReport) {
    println!("  {label}: {file}");
    println!(
        "    runs on: {} (asked for {})",
        report.active, report.requested_device
    );
    println!("    output dimension: {dim}");
    for failure in &report.failed {
        println!("    {} not used: {}", failure.provider, failure.reason);
    }
}
