//! Run metadata (`run.json`) kept by the writer, so that the heartbeat written by
//! the flush thread and the status written by the caller never race.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::clock::system_now_ns;
use crate::durability::sync_dir;
use crate::error::{StoreError, StoreResult};

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

/// Writes a JSON value to `path` atomically (see [`write_file_atomic`]).
pub fn write_json_atomic(path: &Path, value: &Value, sync: bool) -> StoreResult<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| StoreError::Meta(e.to_string()))?;
    write_file_atomic(path, &text, sync)
}

/// Writes `data` to `path` through a temporary file in the same folder and a rename, so
/// that readers see the old contents or the new, never a part. With `sync`, the file is
/// fsynced before the rename and the folder after it. The temporary's name
/// (`.<name>.<pid>.<n>.tmp`) is unique to the process and the call, so that processes or
/// threads writing one file at once never write into each other's temporary. On failure
/// no temporary is left behind.
pub fn write_file_atomic(path: &Path, data: &[u8], sync: bool) -> StoreResult<()> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| StoreError::io("write", path, e))?;
        file.write_all(data)
            .map_err(|e| StoreError::io("write", path, e))?;
        if sync {
            file.sync_all()
                .map_err(|e| StoreError::io("fsync", path, e))?;
        }
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| StoreError::io("write", path, e))?;
        if sync {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                sync_dir(dir)?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_file_atomic(&path, b"one", false).unwrap();
        write_file_atomic(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary left");
        let err = write_file_atomic(&dir.path().join("no/such/folder"), b"x", false).unwrap_err();
        assert!(
            matches!(&err, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
    }

    #[test]
    fn concurrent_writers_of_one_file_never_mix_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = &path;
                s.spawn(move || {
                    let data = vec![b'a' + t; 64 * 1024];
                    for _ in 0..50 {
                        write_file_atomic(path, &data, false).unwrap();
                        let back = std::fs::read(path).unwrap();
                        assert_eq!(back.len(), data.len());
                        assert!(back.iter().all(|b| *b == back[0]), "one writer's contents");
                    }
                });
            }
        });
    }
}
