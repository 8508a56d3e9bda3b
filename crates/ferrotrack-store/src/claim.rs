//! Claiming a rank: one writer per (run, rank), found without a coordinator.
//!
//! A writer holds an exclusive `flock` on `<run>/.locks/rank-<r>` for as long as it is
//! open. The kernel drops the lock when the process dies, so a crashed writer never
//! blocks its successor. The lock file is opened read-only: an open lock file must not
//! keep the file system from being remounted read-only.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{StoreError, StoreResult};

/// The highest rank a writer may claim (ranks run from 0 to this, inclusive).
pub const MAX_RANK: u32 = (1 << 20) - 1;

/// The folder of the lock files of a run.
pub fn locks_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(".locks")
}

/// The lock file of one rank.
pub fn lock_path(run_dir: &Path, rank: u32) -> PathBuf {
    locks_dir(run_dir).join(format!("rank-{rank}"))
}

/// An exclusive claim on one rank of a run, given back when dropped (or the process dies).
#[derive(Debug)]
pub struct RankClaim {
    rank: u32,
    _file: File,
}

impl RankClaim {
    /// The rank claimed.
    pub fn rank(&self) -> u32 {
        self.rank
    }
}

/// Refuses a rank outside `0..=MAX_RANK`.
pub fn check_rank(rank: i64) -> StoreResult<u32> {
    match u32::try_from(rank) {
        Ok(r) if r <= MAX_RANK => Ok(r),
        _ => Err(StoreError::InvalidRank { rank }),
    }
}

/// Opens the lock file of `rank` read-only, creating it (and its folder) if needed.
fn open_lock(run_dir: &Path, rank: u32) -> StoreResult<File> {
    let path = lock_path(run_dir, rank);
    match File::open(&path) {
        Ok(f) => return Ok(f),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(StoreError::io("open lock", &path, e))
        }
        Err(_) => {}
    }
    let dir = locks_dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
    // Creating needs write access; the descriptor kept is read-only.
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StoreError::io("create lock", &path, e))?;
    File::open(&path).map_err(|e| StoreError::io("open lock", &path, e))
}

/// Claims `rank` if no live process holds it; `None` when one does.
pub fn try_claim(run_dir: &Path, rank: u32) -> StoreResult<Option<RankClaim>> {
    if rank > MAX_RANK {
        return Err(StoreError::InvalidRank { rank: rank.into() });
    }
    let file = open_lock(run_dir, rank)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(RankClaim { rank, _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io("lock", lock_path(run_dir, rank), e)),
    }
}

/// The name a run folder is known by in messages.
fn run_name(run_dir: &Path) -> String {
    run_dir.file_name().map_or_else(
        || run_dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Claims `rank`, or fails with [`StoreError::RankInUse`] if a live process writes it.
pub fn claim(run_dir: &Path, rank: u32) -> StoreResult<RankClaim> {
    try_claim(run_dir, rank)?.ok_or_else(|| StoreError::RankInUse {
        rank,
        run: run_name(run_dir),
    })
}

/// Claims the lowest free rank from `from` on.
pub fn claim_free(run_dir: &Path, from: u32) -> StoreResult<RankClaim> {
    for rank in from..=MAX_RANK {
        if let Some(claim) = try_claim(run_dir, rank)? {
            return Ok(claim);
        }
    }
    Err(StoreError::NoFreeRank {
        run: run_name(run_dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_rank_is_refused_until_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = claim(dir.path(), 0).unwrap();
        let err = claim(dir.path(), 0).unwrap_err();
        assert!(
            matches!(err, StoreError::RankInUse { rank: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("RANK or LOCAL_RANK"), "{err}");
        assert_eq!(claim_free(dir.path(), 0).unwrap().rank(), 1);
        let second = claim_free(dir.path(), 1).unwrap();
        assert_eq!(second.rank(), 1, "the free rank above was given back");
        drop(first);
        assert_eq!(claim(dir.path(), 0).unwrap().rank(), 0);
    }

    #[test]
    fn ranks_outside_the_range_are_refused() {
        for bad in [-1, i64::from(MAX_RANK) + 1, i64::MAX, i64::MIN] {
            let err = check_rank(bad).unwrap_err();
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
            assert!(err.to_string().contains("1048575"), "{err}");
        }
        assert_eq!(check_rank(0).unwrap(), 0);
        assert_eq!(check_rank(MAX_RANK.into()).unwrap(), MAX_RANK);
    }
}
