//! `magpie serve`: the web UI and JSON API over a library, or over a Milvus collection and its
//! shards with `--backend milvus://…` (crate `magpie-web`).
//!
//! Safe to run while `magpie index` writes the same library: the server reads through a catalog
//! reader and switches to each newly committed generation on the next request. Loopback only by
//! default; any other address needs a token (`--token`, `MAGPIE_TOKEN` or the config's `token`).

use clap::Args;
use magpie_web::{AppState, ServerConfig, DEFAULT_BIND};

use super::common::LibraryTarget;
use super::Context;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub target: LibraryTarget,
    #[command(flatten)]
    pub backend: super::milvus::BackendArgs,
    /// Address to listen on. Anything but loopback requires a token.
    #[arg(long, default_value = DEFAULT_BIND)]
    pub bind: String,
    /// Access token every API request must carry (Authorization: Bearer, or the UI's cookie).
    /// A value given here is visible to every user of the machine in `ps`: prefer the
    /// MAGPIE_TOKEN environment variable or the config file's `token` key (this flag, then
    /// MAGPIE_TOKEN, then the config).
    #[arg(
        long,
        env = "MAGPIE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

pub fn run(args: ServeArgs, ctx: &Context) -> anyhow::Result<()> {
    let config = ServerConfig {
        bind: args.bind,
        token: args.token.or_else(|| ctx.config.token.clone()),
        ..ServerConfig::default()
    };
    // Refuse an exposed bind without a token before spending time loading the model.
    config.validate()?;
    let target = &args.target;
    let has_token = config.token.is_some();
    let state = match super::milvus::open_backend(ctx, &args.backend, target)? {
        Some((searcher, index)) => AppState::serving(
            std::sync::Arc::new(magpie_milvus::MilvusService::new(searcher, index)),
            config,
        ),
        None => AppState::new(target.open_search(ctx)?, config),
    };
    magpie_web::run(state, |addrs| {
        for addr in addrs {
            let hint = if has_token {
                " (open it with #token=… appended, or enter the token when asked)"
            } else {
                ""
            };
            // On stdout so scripts can wait for it; logs go to stderr.
            println!("Magpie is serving {}{hint}", magpie_web::url_of(addr));
        }
    })?;
    Ok(())
}
