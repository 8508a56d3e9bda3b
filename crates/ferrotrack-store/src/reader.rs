//! Reading the points of a run back, each exactly once.
//!
//! Every reader here may run while a writer flushes and compacts: a compaction deletes
//! the segments it merged, perhaps between a reader's listing and its reading. A reader
//! that finds a listed file gone lists again and starts over; since a merged segment
//! holds exactly the points of its sources, in order, the result neither misses nor
//! repeats a point.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};

use crate::error::{StoreError, StoreResult};
use crate::layout::{live_segments, metrics_dir};
use crate::schema::point_schema;
use crate::segment::read_points;

/// How many times a read starts over after a file vanished under it.
const ATTEMPTS: usize = 20;

/// Whether an error says that a file was not there (a compaction deleted it).
fn vanished(err: &StoreError) -> bool {
    matches!(err, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// Runs `read` again (listing the segments afresh) while a file it listed has vanished.
fn retrying<T>(mut read: impl FnMut() -> StoreResult<T>) -> StoreResult<T> {
    let mut attempt = 1;
    loop {
        match read() {
            Err(e) if vanished(&e) && attempt < ATTEMPTS => {
                attempt += 1;
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}

/// Reads every point of a run (of one rank, or all), ordered by rank then flush.
///
/// A compaction may delete a segment between listing and reading it; the listing
/// is then taken again, so the result never misses or repeats a point.
pub fn read_run(run_dir: &Path, rank: Option<u32>) -> StoreResult<Vec<RecordBatch>> {
    let dir = metrics_dir(run_dir);
    retrying(|| {
        let mut out = Vec::new();
        for seg in live_segments(&dir)? {
            if rank.is_none_or(|r| r == seg.id.rank) {
                out.extend(read_points(&seg.path)?);
            }
        }
        Ok(out)
    })
}

/// The points of `rank` from row `start` (its index among the rank's points, in logging
/// order), at most `limit` of them (all that follow with `None`).
///
/// Only the segments that overlap the range are decoded, and of those only the row
/// groups that do, so memory is bounded by the range plus one row group, whatever the
/// size of the rank. Segments before the range cost the read of their footer.
pub fn read_range(
    run_dir: &Path,
    rank: u32,
    start: u64,
    limit: Option<u64>,
) -> StoreResult<Vec<RecordBatch>> {
    let end = limit.map_or(u64::MAX, |l| start.saturating_add(l));
    let dir = metrics_dir(run_dir);
    retrying(|| {
        let mut out = Vec::new();
        if start >= end {
            return Ok(out);
        }
        let mut first = 0u64; // the row index of the segment's first point
        for seg in live_segments(&dir)?.iter().filter(|s| s.id.rank == rank) {
            let file = File::open(&seg.path).map_err(|e| StoreError::io("open", &seg.path, e))?;
            let options = ArrowReaderOptions::new().with_schema(point_schema());
            let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
                .map_err(|e| StoreError::parquet(&seg.path, e))?;
            let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
            let (lo, hi) = (first, first + rows);
            first = hi;
            if hi <= start {
                continue;
            }
            if lo >= end {
                break;
            }
            let (from, to) = (start.saturating_sub(lo), end.min(hi) - lo);
            let group_rows: Vec<u64> = builder
                .metadata()
                .row_groups()
                .iter()
                .map(|g| g.num_rows().max(0) as u64)
                .collect();
            let (groups, selection) = select_rows(&group_rows, from, to);
            let reader = builder
                .with_row_groups(groups)
                .with_row_selection(selection)
                .with_batch_size(1 << 16)
                .build()
                .map_err(|e| StoreError::parquet(&seg.path, e))?;
            for batch in reader {
                out.push(batch.map_err(|e| StoreError::parquet(&seg.path, e))?);
            }
        }
        Ok(out)
    })
}

/// The row groups (given their sizes) that hold rows `from..to` of a file, and the
/// selection of those rows among the rows of the chosen groups.
fn select_rows(group_rows: &[u64], from: u64, to: u64) -> (Vec<usize>, RowSelection) {
    let mut groups = Vec::new();
    let mut selectors = Vec::new();
    let mut lo = 0u64;
    for (i, &n) in group_rows.iter().enumerate() {
        let hi = lo + n;
        if hi > from && lo < to {
            groups.push(i);
            let (a, b) = (from.max(lo), to.min(hi));
            for (rows, keep) in [(a - lo, false), (b - a, true), (hi - b, false)] {
                if rows > 0 {
                    let rows = rows as usize;
                    selectors.push(if keep {
                        RowSelector::select(rows)
                    } else {
                        RowSelector::skip(rows)
                    });
                }
            }
        }
        lo = hi;
    }
    (groups, RowSelection::from(selectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_pick_the_groups_and_rows_of_a_range() {
        let groups = [10, 10, 10];
        let (g, s) = select_rows(&groups, 12, 15);
        assert_eq!(g, vec![1]);
        assert_eq!(
            Vec::<RowSelector>::from(s),
            vec![
                RowSelector::skip(2),
                RowSelector::select(3),
                RowSelector::skip(5)
            ]
        );
        let (g, s) = select_rows(&groups, 5, 25);
        assert_eq!(g, vec![0, 1, 2]);
        assert_eq!(s.row_count(), 20);
        assert_eq!(s.skipped_row_count(), 10);
        let (g, _) = select_rows(&groups, 10, 20);
        assert_eq!(g, vec![1], "a range on group bounds takes no neighbour");
    }
}
