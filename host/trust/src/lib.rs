//! Trust policy (placeholder; being written).
