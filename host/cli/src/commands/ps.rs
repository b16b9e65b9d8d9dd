//! `wharf ps`: the services of a running host, from its admin API.

use anyhow::{Context as _, bail};
use wharf_admin::ServiceStatus;

use crate::cli::PsArgs;
use crate::token;

/// Runs `wharf ps`.
pub fn run(args: PsArgs) -> anyhow::Result<()> {
    let token = token::read(&args.state_dir)?;
    let url = format!("{}/v1/services", args.admin.trim_end_matches('/'));
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let services: Vec<ServiceStatus> = tokio.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .with_context(|| {
                format!("cannot reach the admin API at {url}: is `wharf up` running?")
            })?;
        match response.status().as_u16() {
            200 => response
                .json()
                .await
                .context("the admin API answered something that is not a service list"),
            401 => bail!("the admin API refused the token (set WHARF_ADMIN_TOKEN or --state-dir)"),
            status => bail!("the admin API answered {status}"),
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&services)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<8} {:>6} {:>10}  ROUTES",
        "SERVICE", "VERSION", "STATE", "LIVE", "REQUESTS"
    );
    for s in services {
        println!(
            "{:<20} {:<12} {:<8} {:>6} {:>10}  {}",
            s.name,
            s.version,
            s.state,
            s.live_instances,
            s.requests_total,
            s.routes.join(" ")
        );
    }
    Ok(())
}
