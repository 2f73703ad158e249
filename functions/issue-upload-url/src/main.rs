//! Lambda entry point: configuration and clients are built once per container.

use issue_upload_url::{Config, Deps, handle};
use lambda_http::{Error, run, service_fn};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let config = Config::from_env(&ProcessEnv)?;
    let deps = Deps::from_aws(config, &shared::aws::load_config().await).await?;
    let deps = &deps;
    run(service_fn(move |request| handle(deps, request))).await
}
