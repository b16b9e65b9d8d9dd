//! Outbound HTTP placeholder (filled in once the SDK outbound guest lands).
