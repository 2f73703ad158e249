//! Lambda entry point: configuration, clients and the signing key are loaded once per
//! container.

use issue_view_url::{Config, Deps, handle};
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
