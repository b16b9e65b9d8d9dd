//! `wharf ps`: the services of a running host, from its admin API.

use crate::admin_client::{AdminClient, block_on};
use crate::cli::PsArgs;

/// Runs `wharf ps`.
pub fn run(args: PsArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    let services = block_on(client.services())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&services)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<14} {:<20} {:<12} {:>8} {:>5}  ROUTES",
        "SERVICE", "VERSION", "CANARY", "DIGEST", "REQ/S", "LIVE"
    );
    for s in services {
        let canary = match &s.canary {
            Some(c) => format!(
                "{} {}%{}",
                c.version,
                c.weight,
                if c.auto_rollback { " auto" } else { "" }
            ),
            None => "-".to_string(),
        };
        println!(
            "{:<20} {:<14} {:<20} {:<12} {:>8.1} {:>5}  {}",
            s.name,
            s.version,
            canary,
            s.digest.short(),
            s.requests_per_second,
            s.live_instances,
            s.routes.join(" ")
        );
    }
    Ok(())
}
