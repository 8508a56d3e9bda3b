//! Names and places of the files in a run folder.
//!
//! ```text
//! <run>/metrics/part-<rank>-<seq>.parquet          one flush of one writer
//! <run>/metrics/part-<rank>-<lo>-<hi>.parquet      a compaction of flushes lo..=hi
//! <run>/metrics/.<final name>.tmp                  a file being written
//! <run>/summary.parquet, summary-<rank>.parquet    per-metric summary of rank 0 / others
//! <run>/.quarantine/                               leftovers set aside by recovery
//! ```
//! A segment whose sequence range lies inside another segment's range of the same
//! rank has been compacted into it and is ignored by readers (and deleted by recovery).

use std::path::{Path, PathBuf};

use crate::error::{StoreError, StoreResult};

/// The folder holding the segments of a run.
pub fn metrics_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("metrics")
}

/// The folder where recovery sets aside what it cannot use.
pub fn quarantine_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(".quarantine")
}

/// The summary file of a rank.
pub fn summary_path(run_dir: &Path, rank: u32) -> PathBuf {
    if rank == 0 {
        run_dir.join("summary.parquet")
    } else {
        run_dir.join(format!("summary-{rank}.parquet"))
    }
}

/// The rank whose summary a file name holds (`summary.parquet` is rank 0); `None` for any
/// other file. The inverse of [`summary_path`].
pub fn summary_rank(name: &str) -> Option<u32> {
    match name {
        "summary.parquet" => Some(0),
        _ => name
            .strip_prefix("summary-")?
            .strip_suffix(".parquet")?
            .parse()
            .ok(),
    }
}

/// The summary files of a run folder with their ranks, sorted by rank.
pub fn summary_files(run_dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((summary_rank(e.file_name().to_str()?)?, e.path())))
        .collect();
    out.sort();
    out
}

/// The temporary name a file is written under before it is renamed to `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Whether a file name is a temporary leftover.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// The identity of a segment: who wrote it and which flushes it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId {
    pub rank: u32,
    pub lo: u64,
    pub hi: u64,
}

impl SegmentId {
    /// A segment of one flush.
    pub fn single(rank: u32, seq: u64) -> Self {
        SegmentId {
            rank,
            lo: seq,
            hi: seq,
        }
    }

    /// The file name of this segment.
    pub fn file_name(&self) -> String {
        if self.lo == self.hi {
            format!("part-{:05}-{:010}.parquet", self.rank, self.lo)
        } else {
            format!(
                "part-{:05}-{:010}-{:010}.parquet",
                self.rank, self.lo, self.hi
            )
        }
    }

    /// Parses a segment file name; `None` for any other file.
    pub fn parse(name: &str) -> Option<Self> {
        let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let mut parts = stem.split('-');
        let rank = parts.next()?.parse().ok()?;
        let lo = parts.next()?.parse().ok()?;
        let hi = match parts.next() {
            Some(hi) => hi.parse().ok()?,
            None => lo,
        };
        if parts.next().is_some() || hi < lo {
            return None;
        }
        Some(SegmentId { rank, lo, hi })
    }

    /// Whether this segment's flushes are all inside `other`'s, and `other` is larger.
    pub fn covered_by(&self, other: &SegmentId) -> bool {
        self.rank == other.rank && other.lo <= self.lo && self.hi <= other.hi && self != other
    }
}

/// A segment file found in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub id: SegmentId,
    pub path: PathBuf,
}

/// Every segment file in a metrics folder (covered ones included), sorted by rank and sequence.
pub fn list_all_segments(metrics_dir: &Path) -> StoreResult<Vec<SegmentFile>> {
    let entries = match std::fs::read_dir(metrics_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", metrics_dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", metrics_dir, e))?;
        let name = entry.file_name();
        if let Some(id) = name.to_str().and_then(SegmentId::parse) {
            out.push(SegmentFile {
                id,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| (s.id.rank, s.id.lo, std::cmp::Reverse(s.id.hi)));
    Ok(out)
}

/// Splits segments into the live ones and those covered by a compaction.
pub fn split_covered(all: Vec<SegmentFile>) -> (Vec<SegmentFile>, Vec<SegmentFile>) {
    // Sorted by (rank, lo, hi descending): a covering segment comes before what it covers.
    let mut live: Vec<SegmentFile> = Vec::with_capacity(all.len());
    let mut covered = Vec::new();
    for seg in all {
        match live.last() {
            Some(prev) if seg.id.covered_by(&prev.id) => covered.push(seg),
            _ => live.push(seg),
        }
    }
    (live, covered)
}

/// The segments a reader should read: every point exactly once.
pub fn live_segments(metrics_dir: &Path) -> StoreResult<Vec<SegmentFile>> {
    Ok(split_covered(list_all_segments(metrics_dir)?).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for id in [
            SegmentId::single(0, 7),
            SegmentId {
                rank: 3,
                lo: 2,
                hi: 90,
            },
        ] {
            assert_eq!(SegmentId::parse(&id.file_name()), Some(id));
        }
        assert_eq!(SegmentId::parse("part-1-2-1.parquet"), None);
        assert_eq!(SegmentId::parse(".part-00000-0000000001.parquet.tmp"), None);
        assert_eq!(SegmentId::parse("summary.parquet"), None);
    }

    #[test]
    fn compacted_segments_hide_what_they_cover() {
        let mk = |rank, lo, hi| SegmentFile {
            id: SegmentId { rank, lo, hi },
            path: PathBuf::new(),
        };
        let mut all = vec![
            mk(0, 1, 1),
            mk(0, 2, 2),
            mk(0, 1, 2),
            mk(0, 3, 3),
            mk(1, 1, 1),
        ];
        all.sort_by_key(|s| (s.id.rank, s.id.lo, std::cmp::Reverse(s.id.hi)));
        let (live, covered) = split_covered(all);
        let live: Vec<_> = live.iter().map(|s| (s.id.rank, s.id.lo, s.id.hi)).collect();
        assert_eq!(live, vec![(0, 1, 2), (0, 3, 3), (1, 1, 1)]);
        assert_eq!(covered.len(), 2);
    }
}
