//! When written files are forced to stable storage.

use std::fs::File;
use std::path::Path;

use crate::error::{StoreError, StoreResult};

/// The fsync policy of a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Never fsync: the OS decides. Survives a process crash, not a power loss.
    None,
    /// fsync every file written, and the folders, once at close.
    #[default]
    OnClose,
    /// fsync each segment and its folder before the flush returns.
    EveryFlush,
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Durability::None),
            "on_close" => Ok(Durability::OnClose),
            "every_flush" => Ok(Durability::EveryFlush),
            other => Err(format!(
                "unknown durability {other:?}: expected 'none', 'on_close' or 'every_flush'"
            )),
        }
    }
}

/// fsyncs a file's contents.
pub fn sync_file(path: &Path) -> StoreResult<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io("fsync", path, e))
}

/// fsyncs a folder, so that renames and new names inside it are durable.
pub fn sync_dir(path: &Path) -> StoreResult<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io("fsync folder", path, e))
}
