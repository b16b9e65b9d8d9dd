//! Trace context and span export (in progress).
