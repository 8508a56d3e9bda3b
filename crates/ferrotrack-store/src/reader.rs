//! Reading the points of a run back, each exactly once.

use std::path::Path;

use arrow_array::RecordBatch;

use crate::error::{StoreError, StoreResult};
use crate::layout::{live_segments, metrics_dir};
use crate::segment::read_points;

/// Reads every point of a run (of one rank, or all), ordered by rank then flush.
///
/// A compaction may delete a segment between listing and reading it; the listing
/// is then taken again, so the result never misses or repeats a point.
pub fn read_run(run_dir: &Path, rank: Option<u32>) -> StoreResult<Vec<RecordBatch>> {
    let dir = metrics_dir(run_dir);
    let mut attempts = 0;
    'again: loop {
        attempts += 1;
        let mut out = Vec::new();
        for seg in live_segments(&dir)? {
            if rank.is_some_and(|r| r != seg.id.rank) {
                continue;
            }
            match read_points(&seg.path) {
                Ok(batches) => out.extend(batches),
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempts < 10 =>
                {
                    continue 'again
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(out);
    }
}
