//! The one error type of the store.

use std::path::PathBuf;

/// Everything that can go wrong in the store, each naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A metric name was empty or too long.
    #[error("invalid metric name '{name}': {reason}")]
    InvalidName { name: String, reason: String },
    /// The writer was closed before this call.
    #[error("the metric writer for {dir} is closed; start or resume a run to log more")]
    Closed { dir: PathBuf },
    /// Reading or writing a file failed (full disk, read-only folder, ...).
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Encoding or decoding Parquet failed.
    #[error("parquet error on {path}: {message}")]
    Parquet { path: PathBuf, message: String },
    /// A file that should hold ferrotrack data does not.
    #[error("{path} is not a valid ferrotrack file: {reason}")]
    Format { path: PathBuf, reason: String },
    /// Another live process holds this rank of the run.
    #[error("rank {rank} of run {run} is being written by another process; give each process its own rank (rank=, RANK or LOCAL_RANK)")]
    RankInUse { rank: u32, run: String },
    /// Every rank of the run is held by a live process.
    #[error("no free rank in run {run}: every rank up to {max} is being written", max = crate::claim::MAX_RANK)]
    NoFreeRank { run: String },
    /// A rank outside the ranks a run can have.
    #[error("rank {rank}: expected a rank from 0 to {max}", max = crate::claim::MAX_RANK)]
    InvalidRank { rank: i64 },
    /// Run metadata could not be encoded or decoded as JSON.
    #[error("invalid run metadata: {0}")]
    Meta(String),
}

/// Result alias of the store.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Wraps an I/O error with the action and path it concerned.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Wraps a Parquet or Arrow error with the path it concerned.
    pub fn parquet(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        StoreError::Parquet {
            path: path.into(),
            message: err.to_string(),
        }
    }
}
