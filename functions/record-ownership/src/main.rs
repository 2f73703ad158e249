//! Lambda entry point: configuration and clients are built once per container.

use lambda_runtime::{Error, run, service_fn};
use record_ownership::{Config, Deps, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = Config::from_env(&ProcessEnv)?;
    let deps = Deps::from_aws(config, &shared::aws::load_config().await).await?;
    let deps = &deps;
    run(service_fn(move |event| handle(deps, event))).await
}
