//! Merging a writer's small segments into larger ones.
//!
//! Crash safety rests on naming: the merged file `part-<rank>-<lo>-<hi>.parquet`
//! is renamed into place before any source is deleted, and every reader ignores a
//! segment whose range lies inside another's (see [`crate::layout`]). A crash
//! between the two steps leaves sources that readers skip and recovery deletes.

use std::path::{Path, PathBuf};

use crate::error::{StoreError, StoreResult};
use crate::layout::{metrics_dir, SegmentId};
use crate::schema::{point_schema, writer_properties, KEY_RANK, KEY_SEQ_HI, KEY_SEQ_LO};
use crate::segment::{read_points, write_parquet_atomic};

/// A segment of the writer's own rank, with its row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub id: SegmentId,
    pub path: PathBuf,
    pub rows: u64,
}

/// When segments are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// A segment with fewer rows than this is small.
    pub small_rows: u64,
    /// Merge as soon as this many consecutive small segments exist.
    pub fanin: usize,
    /// A merge stops adding segments once it holds this many rows.
    pub max_rows: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            small_rows: 64 * 1024,
            fanin: 8,
            max_rows: 4 * 1024 * 1024,
        }
    }
}

impl CompactionPolicy {
    /// The policy used at close: any two consecutive small segments are merged.
    pub fn at_close(self) -> Self {
        CompactionPolicy { fanin: 2, ..self }
    }

    /// The index range of the first run of consecutive small segments worth merging.
    ///
    /// `segments` must be sorted by sequence; only consecutive segments are
    /// merged, so a merged range never covers a segment it does not contain.
    pub fn plan(&self, segments: &[SegmentInfo]) -> Option<std::ops::Range<usize>> {
        let mut start = 0;
        while start < segments.len() {
            if segments[start].rows >= self.small_rows {
                start += 1;
                continue;
            }
            let mut end = start;
            let mut rows = 0;
            while end < segments.len()
                && segments[end].rows < self.small_rows
                && rows < self.max_rows
            {
                rows += segments[end].rows;
                end += 1;
            }
            if end - start >= self.fanin.max(2) {
                return Some(start..end);
            }
            start = end;
        }
        None
    }
}

/// Merges `sources` (consecutive segments of one rank) into one segment, then deletes them.
pub fn merge(run_dir: &Path, sources: &[SegmentInfo], sync: bool) -> StoreResult<SegmentInfo> {
    let (first, last) = match (sources.first(), sources.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => {
            return Err(StoreError::Format {
                path: run_dir.to_path_buf(),
                reason: "nothing to compact".into(),
            })
        }
    };
    let id = SegmentId {
        rank: first.id.rank,
        lo: first.id.lo,
        hi: last.id.hi,
    };
    let mut batches = Vec::new();
    for s in sources {
        batches.extend(read_points(&s.path)?);
    }
    let path = metrics_dir(run_dir).join(id.file_name());
    let props = writer_properties(&[
        (KEY_RANK, id.rank.to_string()),
        (KEY_SEQ_LO, id.lo.to_string()),
        (KEY_SEQ_HI, id.hi.to_string()),
    ]);
    write_parquet_atomic(&path, point_schema(), &batches, props, sync)?;
    for s in sources {
        std::fs::remove_file(&s.path)
            .map_err(|e| StoreError::io("remove compacted", &s.path, e))?;
    }
    Ok(SegmentInfo {
        id,
        path,
        rows: sources.iter().map(|s| s.rows).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u64, rows: u64) -> SegmentInfo {
        SegmentInfo {
            id: SegmentId::single(0, seq),
            path: PathBuf::new(),
            rows,
        }
    }

    #[test]
    fn plans_only_consecutive_small_segments() {
        let p = CompactionPolicy {
            small_rows: 10,
            fanin: 3,
            max_rows: 100,
        };
        let segs = vec![
            seg(1, 5),
            seg(2, 5),
            seg(3, 50),
            seg(4, 1),
            seg(5, 1),
            seg(6, 1),
            seg(7, 1),
        ];
        assert_eq!(p.plan(&segs), Some(3..7));
        assert_eq!(p.plan(&segs[..5]), None);
        assert_eq!(p.at_close().plan(&segs[..5]), Some(0..2));
    }

    #[test]
    fn a_merge_stops_at_max_rows() {
        let p = CompactionPolicy {
            small_rows: 10,
            fanin: 2,
            max_rows: 20,
        };
        let segs: Vec<_> = (1..=6).map(|s| seg(s, 9)).collect();
        assert_eq!(p.plan(&segs), Some(0..3));
    }
}
