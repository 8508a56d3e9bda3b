//! Run metadata (`run.json`) kept by the writer, so that the heartbeat written by
//! the flush thread and the status written by the caller never race.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::clock::system_now_ns;
use crate::error::{StoreError, StoreResult};
use crate::layout::temp_path;

/// A JSON object written atomically to one path, with a `heartbeat` field refreshed on demand.
#[derive(Debug)]
pub struct RunMeta {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl RunMeta {
    /// Starts from the JSON object text `json`, to be written at `path`.
    pub fn new(path: PathBuf, json: &str) -> StoreResult<Self> {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(doc)) => Ok(RunMeta { path, doc }),
            Ok(_) => Err(StoreError::Meta(
                "run metadata must be a JSON object".into(),
            )),
            Err(e) => Err(StoreError::Meta(e.to_string())),
        }
    }

    /// Replaces the document (keeping nothing of the old one).
    pub fn replace(&mut self, json: &str) -> StoreResult<()> {
        *self = RunMeta::new(self.path.clone(), json)?;
        Ok(())
    }

    /// Sets `heartbeat` to now (ns since the epoch) and writes the file atomically.
    pub fn beat_and_write(&mut self, sync: bool) -> StoreResult<()> {
        self.doc
            .insert("heartbeat".into(), Value::from(system_now_ns()));
        write_json_atomic(&self.path, &Value::Object(self.doc.clone()), sync)
    }
}

/// Writes a JSON value to `path` through a temporary file and a rename.
pub fn write_json_atomic(path: &Path, value: &Value, sync: bool) -> StoreResult<()> {
    let tmp = temp_path(path);
    let text = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Meta(e.to_string()))?;
    let result = (|| {
        std::fs::write(&tmp, &text).map_err(|e| StoreError::io("write", &tmp, e))?;
        if sync {
            crate::durability::sync_file(&tmp)?;
        }
        std::fs::rename(&tmp, path).map_err(|e| StoreError::io("rename", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
