//! `wharf ps`: the services of a running host, from its admin API; with
//! `--cluster`, every host of its cluster and what each one serves.

use wharf_deploy::api::{CanaryStatus, ClusterStatus};

use crate::admin_client::{AdminClient, block_on};
use crate::cli::PsArgs;

/// Runs `wharf ps`.
pub fn run(args: PsArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    if args.cluster {
        let cluster = block_on(client.cluster())?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&cluster)?);
        } else {
            print!("{}", cluster_table(&cluster));
        }
        return Ok(());
    }
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
        if let Some(error) = &s.error {
            println!("  cannot load {}: {}", error.version, error.error);
        }
    }
    Ok(())
}

/// `version`, or `version + canary N%`.
fn with_canary(version: &str, canary: Option<&CanaryStatus>) -> String {
    match canary {
        Some(c) => format!("{version} + {} {}%", c.version, c.weight),
        None => version.to_string(),
    }
}

/// The hosts, then one line per service and host.
fn cluster_table(cluster: &ClusterStatus) -> String {
    let mut out = format!(
        "Cluster {} (record revision {}), as host {} sees it\n\n",
        cluster.cluster, cluster.revision, cluster.host_id
    );
    out.push_str(&format!(
        "{:<18} {:<22} {:<22} {:>9}  {}\n",
        "HOST", "ADMIN", "HTTP", "REVISION", "LAST HEARTBEAT"
    ));
    for host in &cluster.hosts {
        out.push_str(&format!(
            "{:<18} {:<22} {:<22} {:>9}  {:.1}s ago\n",
            host.host_id,
            host.admin,
            host.http,
            host.revision,
            host.age_ms as f64 / 1000.0
        ));
    }
    if let Some(reason) = &cluster.refused_record {
        out.push_str(&format!(
            "\nREFUSED RECORD (host {}): {reason}\n",
            cluster.host_id
        ));
    }
    for host in &cluster.hosts {
        if let Some(reason) = &host.refused_record
            && host.host_id != cluster.host_id
        {
            out.push_str(&format!(
                "REFUSED RECORD (host {}): {reason}\n",
                host.host_id
            ));
        }
    }
    out.push_str(&format!(
        "\n{:<20} {:<24} {:<18} {:<24} STATE\n",
        "SERVICE", "DESIRED", "HOST", "ACTIVE"
    ));
    for service in &cluster.services {
        let desired = with_canary(&service.version, service.canary.as_ref());
        for host in &cluster.hosts {
            let (active, state) = match host.services.iter().find(|s| s.name == service.name) {
                Some(s) => {
                    let state = match &s.error {
                        Some(e) => format!("{} (cannot load {}: {})", s.state, e.version, e.error),
                        None => s.state.clone(),
                    };
                    let active = if s.state == "failed" {
                        "-".to_string()
                    } else {
                        with_canary(&s.version, s.canary.as_ref())
                    };
                    (active, state)
                }
                None => ("-".to_string(), "missing".to_string()),
            };
            out.push_str(&format!(
                "{:<20} {:<24} {:<18} {:<24} {}\n",
                service.name, desired, host.host_id, active, state
            ));
        }
    }
    out
}
