//! Bringing a run folder back to a consistent state after a crash.
//!
//! Readable segments are kept; temporary leftovers and unreadable files are moved
//! to `.quarantine/`; segments already merged by a compaction are deleted; a
//! summary older than the segments is rebuilt from them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::compaction::SegmentInfo;
use crate::error::{StoreError, StoreResult};
use crate::layout::{
    is_temp_name, list_all_segments, metrics_dir, quarantine_dir, split_covered, summary_files,
    summary_path, summary_rank, SegmentId,
};
use crate::segment::{parquet_footer, read_points};
use crate::summary::Summary;

/// What is wrong with a file, in one line, without its path (for a report that names it).
pub fn reason(err: &StoreError) -> String {
    let text = match err {
        StoreError::Io { action, source, .. } => format!("cannot {action} it: {source}"),
        StoreError::Parquet { message, .. } => format!("not readable as Parquet: {message}"),
        StoreError::Format { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every live segment and summary file of a run that cannot be read, with what is wrong
/// (one line each), in the order segments then summaries. Segments are checked by their
/// footer only (fast, whatever their size); summaries, a few rows each, are decoded.
/// Reads only: safe while the run is written (a file compacted away meanwhile is skipped).
pub fn verify_run(run_dir: &Path) -> StoreResult<Vec<(PathBuf, String)>> {
    let gone = |e: &StoreError| matches!(e, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
    let mut problems = Vec::new();
    for seg in list_all_segments(&metrics_dir(run_dir))
        .map(split_covered)?
        .0
    {
        if let Err(e) = parquet_footer(&seg.path) {
            if !gone(&e) {
                problems.push((seg.path, reason(&e)));
            }
        }
    }
    for (_, path) in summary_files(run_dir) {
        if let Err(e) = Summary::read(&path) {
            if !gone(&e) {
                problems.push((path, reason(&e)));
            }
        }
    }
    Ok(problems)
}

/// What recovery found and did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RecoveryReport {
    /// Files moved to `.quarantine/` (temporary leftovers, unreadable segments).
    pub quarantined: Vec<PathBuf>,
    /// Segments deleted because a compacted segment already holds their points.
    pub removed_covered: Vec<PathBuf>,
    /// Ranks whose summary was rebuilt from the segments.
    pub rebuilt_summaries: Vec<u32>,
}

impl RecoveryReport {
    /// Whether recovery changed nothing.
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty()
            && self.removed_covered.is_empty()
            && self.rebuilt_summaries.is_empty()
    }
}

/// The state of one rank after recovery: its segments, its summary, its next flush number.
#[derive(Debug, Clone, Default)]
pub struct RankState {
    pub segments: Vec<SegmentInfo>,
    pub summary: Summary,
    pub next_seq: u64,
}

/// The rank a file belongs to, from its (final or temporary) name.
fn rank_of(name: &str) -> Option<u32> {
    let inner = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .unwrap_or(name);
    if let Some(id) = SegmentId::parse(inner) {
        return Some(id.rank);
    }
    match inner {
        "run.json" => Some(0),
        _ => summary_rank(inner),
    }
}

fn quarantine(run_dir: &Path, path: &Path) -> StoreResult<PathBuf> {
    let dir = quarantine_dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = dir.join(name.trim_start_matches('.'));
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{}.{n}", name.trim_start_matches('.')));
        n += 1;
    }
    std::fs::rename(path, &target).map_err(|e| StoreError::io("set aside", path, e))?;
    Ok(target)
}

fn temp_leftovers(dir: &Path, rank: Option<u32>) -> StoreResult<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_name(&name) && (rank.is_none() || rank_of(&name) == rank) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Recovers the files of one rank and returns its state. Safe while other ranks write.
pub fn recover_rank(run_dir: &Path, rank: u32) -> StoreResult<(RankState, RecoveryReport)> {
    recover(run_dir, Some(rank)).map(|(mut states, report)| {
        let state = states.pop().map(|(_, s)| s).unwrap_or_default();
        (state, report)
    })
}

/// Recovers every rank of a run. Only safe when no process writes to it.
pub fn recover_run(run_dir: &Path) -> StoreResult<RecoveryReport> {
    recover(run_dir, None).map(|(_, report)| report)
}

fn recover(
    run_dir: &Path,
    only: Option<u32>,
) -> StoreResult<(Vec<(u32, RankState)>, RecoveryReport)> {
    let mdir = metrics_dir(run_dir);
    let mut report = RecoveryReport::default();
    for dir in [run_dir, mdir.as_path()] {
        for leftover in temp_leftovers(dir, only)? {
            report.quarantined.push(quarantine(run_dir, &leftover)?);
        }
    }
    let all: Vec<_> = list_all_segments(&mdir)?
        .into_iter()
        .filter(|s| only.is_none_or(|r| r == s.id.rank))
        .collect();
    let (live, covered) = split_covered(all);
    for seg in covered {
        std::fs::remove_file(&seg.path)
            .map_err(|e| StoreError::io("remove compacted", &seg.path, e))?;
        report.removed_covered.push(seg.path);
    }
    let mut ranks: BTreeSet<u32> = live.iter().map(|s| s.id.rank).collect();
    ranks.extend(only);
    if only.is_none() {
        ranks.extend(summary_ranks(run_dir));
    }
    let mut states = Vec::new();
    for rank in ranks {
        let mut segments = Vec::new();
        let mut lost = false;
        for seg in live.iter().filter(|s| s.id.rank == rank) {
            match parquet_footer(&seg.path) {
                Ok((rows, _)) => segments.push(SegmentInfo {
                    id: seg.id,
                    path: seg.path.clone(),
                    rows,
                }),
                Err(_) => {
                    report.quarantined.push(quarantine(run_dir, &seg.path)?);
                    lost = true;
                }
            }
        }
        // A summary that counted points of a segment set aside no longer tells the truth.
        if lost {
            let _ = std::fs::remove_file(summary_path(run_dir, rank));
        }
        let (summary, rebuilt) = load_or_rebuild_summary(run_dir, rank, &segments)?;
        if rebuilt {
            report.rebuilt_summaries.push(rank);
        }
        let next_seq = segments
            .iter()
            .map(|s| s.id.hi + 1)
            .max()
            .unwrap_or(1)
            .max(summary.max_seq + 1);
        states.push((
            rank,
            RankState {
                segments,
                summary,
                next_seq,
            },
        ));
    }
    Ok((states, report))
}

fn summary_ranks(run_dir: &Path) -> Vec<u32> {
    summary_files(run_dir)
        .into_iter()
        .map(|(rank, _)| rank)
        .collect()
}

/// The summary of a rank: read from its file when it accounts for every segment,
/// rebuilt (and rewritten) from the segments otherwise. Returns whether it was rebuilt.
pub fn load_or_rebuild_summary(
    run_dir: &Path,
    rank: u32,
    segments: &[SegmentInfo],
) -> StoreResult<(Summary, bool)> {
    let path = summary_path(run_dir, rank);
    let max_seq = segments.iter().map(|s| s.id.hi).max().unwrap_or(0);
    if path.exists() {
        if let Ok(summary) = Summary::read(&path) {
            if summary.max_seq == max_seq {
                return Ok((summary, false));
            }
        }
    } else if segments.is_empty() {
        return Ok((Summary::new(), false));
    }
    let mut summary = Summary::new();
    for seg in segments {
        for batch in read_points(&seg.path)? {
            summary.update_batch(&batch)?;
        }
    }
    summary.max_seq = max_seq;
    summary.write(&path, false)?;
    Ok((summary, true))
}
