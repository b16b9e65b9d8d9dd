//! The one error type of this crate.

use std::fmt;
use std::path::PathBuf;

use crate::MANIFEST_FILE_NAME;

/// Why a manifest could not be loaded.
///
/// Callers branch on it: [`Io`](Self::Io) and [`NotFound`](Self::NotFound) are
/// about finding and reading the file, while [`Invalid`](Self::Invalid) and
/// [`Multiple`](Self::Multiple) mean the user has something to fix in it (an
/// admin API would answer those with `400 Bad Request`). Every message is
/// meant to be shown to the user as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A file could not be read, or a path could not be resolved.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path as the caller gave it.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The directory given to [`Manifest::load`](crate::Manifest::load) has no
    /// `wharf.toml`.
    #[error("no {MANIFEST_FILE_NAME} in {}", path.display())]
    NotFound {
        /// The directory that was searched.
        path: PathBuf,
    },

    /// One problem in the manifest, with its position.
    ///
    /// Displays as `{file}:{line}:{column}: {key}: {message}`, the shape
    /// compilers use, so editors and terminals can jump to it.
    #[error("{}:{line}:{column}: {key}: {message}", file.display())]
    Invalid {
        /// The manifest file, as the caller named it.
        file: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column (in characters) of the offending key or value.
        column: usize,
        /// Dotted key path of the offending key or value, e.g.
        /// `service.hello.routes[1]`; `(syntax)` for a TOML syntax error,
        /// which has no key yet.
        key: String,
        /// What is wrong, without the position.
        message: String,
    },

    /// Two or more problems, each an [`Invalid`](Self::Invalid), in file
    /// order, so the user can fix them all in one go.
    ///
    /// Displays one problem per line.
    #[error("{}", DisplayLines(.0))]
    Multiple(Vec<ManifestError>),
}

impl ManifestError {
    /// The individual problems: the error itself, or the contents of
    /// [`Multiple`](Self::Multiple).
    pub fn problems(&self) -> &[ManifestError] {
        match self {
            ManifestError::Multiple(all) => all,
            single => std::slice::from_ref(single),
        }
    }
}

/// Writes errors one per line.
struct DisplayLines<'a>(&'a [ManifestError]);

impl fmt::Display for DisplayLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}
