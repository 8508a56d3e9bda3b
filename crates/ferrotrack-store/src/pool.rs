//! A process-wide cache of empty point columns whose pages are already mapped.
//!
//! A fresh page costs the logging thread a page fault (≈ 2 µs on a VM, ≈ 20 ns a point).
//! Columns a flush has written, and the columns of a closed writer, come back here
//! instead of being freed, and the next buffer that grows, or the next spare, takes them.
//! The cache holds at most [`CAP_BYTES`]; beyond that, the oldest columns are freed.

use parking_lot::Mutex;

use crate::buffer::Columns;

/// Most bytes of columns the process-wide cache keeps.
pub const CAP_BYTES: usize = 64 << 20;

static POOL: Pool = Pool::new(CAP_BYTES);

/// Empty columns with room for `rows` points and at most a quarter more (see [`Pool::take`]).
pub fn take(rows: usize) -> Option<Columns> {
    POOL.take(rows)
}

/// Keeps `columns`, emptied, for a later [`take`] (see [`Pool::give`]).
pub fn give(columns: Columns) {
    POOL.give(columns);
}

/// Bytes the process-wide cache holds now.
pub fn held_bytes() -> usize {
    POOL.held_bytes()
}

/// Empty columns kept for reuse, up to a number of bytes.
#[derive(Debug)]
pub struct Pool {
    kept: Mutex<Vec<Columns>>,
    cap_bytes: usize,
}

impl Pool {
    /// An empty pool that keeps at most `cap_bytes`.
    pub const fn new(cap_bytes: usize) -> Self {
        Pool {
            kept: Mutex::new(Vec::new()),
            cap_bytes,
        }
    }

    /// Empty columns with room for `rows` points and at most a quarter more, the
    /// smallest such. Not much more: a writer's memory cap counts the room its columns
    /// reserve, and columns far larger than asked would make it flush early.
    pub fn take(&self, rows: usize) -> Option<Columns> {
        let most = rows.saturating_add(rows / 4);
        let mut kept = self.kept.lock();
        let best = kept
            .iter()
            .enumerate()
            .filter(|(_, c)| (rows..=most).contains(&c.capacity()))
            .min_by_key(|(_, c)| c.capacity())
            .map(|(i, _)| i)?;
        Some(kept.swap_remove(best))
    }

    /// Keeps `columns` (emptied), freeing the oldest kept ones if the pool would hold more
    /// than its cap: the newest are the likeliest to fit what comes next.
    pub fn give(&self, mut columns: Columns) {
        columns.clear();
        let bytes = columns.allocated_bytes();
        if bytes == 0 || bytes > self.cap_bytes {
            return;
        }
        let evicted = {
            let mut kept = self.kept.lock();
            let mut held = kept.iter().map(Columns::allocated_bytes).sum::<usize>() + bytes;
            let mut evicted = Vec::new();
            while held > self.cap_bytes {
                let oldest = kept.remove(0);
                held -= oldest.allocated_bytes();
                evicted.push(oldest);
            }
            kept.push(columns);
            evicted
        };
        drop(evicted); // freed outside the lock
    }

    /// Bytes the pool holds now.
    pub fn held_bytes(&self) -> usize {
        self.kept.lock().iter().map(Columns::allocated_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::BYTES_PER_POINT;

    #[test]
    fn gives_back_the_smallest_columns_that_fit_not_much_larger() {
        let pool = Pool::new(1 << 30);
        pool.give(Columns::with_capacity(1000));
        pool.give(Columns::with_capacity(1200));
        let mut full = Columns::with_capacity(5000);
        full.push(0, 1, 2, 3.0);
        pool.give(full);
        let got = pool.take(1000).expect("a fitting column set");
        assert_eq!(got.capacity(), 1000);
        assert!(
            pool.take(900).is_none(),
            "1,200 is more than a quarter above 900"
        );
        assert_eq!(pool.take(1100).map(|c| c.capacity()), Some(1200));
        let emptied = pool.take(5000).expect("the third");
        assert!(emptied.is_empty(), "kept columns hold no points");
        assert_eq!(pool.held_bytes(), 0);
    }

    #[test]
    fn past_the_cap_the_oldest_go_first() {
        let pool = Pool::new(3010 * BYTES_PER_POINT);
        pool.give(Columns::with_capacity(1000));
        pool.give(Columns::with_capacity(1001));
        pool.give(Columns::with_capacity(1002));
        pool.give(Columns::with_capacity(1003)); // evicts 1000
        assert!(pool.held_bytes() <= 3010 * BYTES_PER_POINT);
        assert!(pool.take(1000).is_some_and(|c| c.capacity() == 1001));
        assert!(pool.take(1003).is_some());
        pool.give(Columns::with_capacity(4000)); // larger than the cap: freed at once
        assert!(pool.take(4000).is_none());
    }
}
