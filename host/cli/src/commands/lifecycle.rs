//! `wharf rollback`, `wharf promote`, `wharf activate`, `wharf traffic` and
//! `wharf rm`: one admin call each, reporting what the service serves now.

use wharf_deploy::api::{ServiceStatus, TrafficRequest};

use crate::admin_client::{AdminClient, block_on};
use crate::cli::{ActivateArgs, ServiceArgs, TrafficArgs};

/// Runs `wharf rollback`.
pub fn rollback(args: ServiceArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    let status = block_on(client.rollback(&args.service))?;
    report(&status);
    Ok(())
}

/// Runs `wharf promote`.
pub fn promote(args: ServiceArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    let status = block_on(client.promote(&args.service))?;
    report(&status);
    Ok(())
}

/// Runs `wharf activate`.
pub fn activate(args: ActivateArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.target.admin)?;
    let status = block_on(client.activate(&args.target.service, &args.version))?;
    report(&status);
    Ok(())
}

/// Runs `wharf traffic`.
pub fn traffic(args: TrafficArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.target.admin)?;
    let request = TrafficRequest {
        canary_weight: args.canary_percent,
        sticky_header: args.sticky_header,
    };
    let status = block_on(client.traffic(&args.target.service, &request))?;
    report(&status);
    Ok(())
}

/// Runs `wharf rm`.
pub fn remove(args: ServiceArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    block_on(client.remove(&args.service))?;
    println!("Removed {}", args.service);
    Ok(())
}

fn report(status: &ServiceStatus) {
    let canary = match &status.canary {
        Some(c) => format!(", canary {} at {}%", c.version, c.weight),
        None => String::new(),
    };
    println!(
        "{}: serving {} ({}){canary}",
        status.name,
        status.version,
        status.digest.short()
    );
    if let Some(event) = &status.last_event {
        println!("  {event}");
    }
}
