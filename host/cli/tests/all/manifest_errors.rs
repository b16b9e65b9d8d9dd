//! Manifest errors placeholder.
