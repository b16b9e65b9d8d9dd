//! Deployments (placeholder; being written).
