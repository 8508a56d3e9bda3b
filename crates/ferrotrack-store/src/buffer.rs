//! The in-memory columnar buffer that `log` appends to.

use std::sync::Arc;

use crate::clock::WallClock;
use crate::error::StoreResult;
use crate::interner::Interner;

/// Bytes one buffered point occupies: name id, step, timestamp, value.
pub const BYTES_PER_POINT: usize = 4 + 8 + 8 + 8;

/// Points in columnar form, in append order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Columns {
    pub name: Vec<u32>,
    pub step: Vec<i64>,
    pub timestamp: Vec<i64>,
    pub value: Vec<f64>,
}

impl Columns {
    /// Empty columns with room for `n` points.
    pub fn with_capacity(n: usize) -> Self {
        Columns {
            name: Vec::with_capacity(n),
            step: Vec::with_capacity(n),
            timestamp: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
        }
    }

    /// Empty columns with room for `n` points whose memory is already touched, so that
    /// filling them costs no page faults (prepared off the logging thread).
    pub fn prefaulted(n: usize) -> Self {
        let mut c = Columns::with_capacity(n);
        // A non-zero fill: zeroing a fresh allocation may be turned into `calloc`,
        // which maps pages without touching them.
        c.name.resize(n, 1);
        c.step.resize(n, 1);
        c.timestamp.resize(n, 1);
        c.value.resize(n, 1.0);
        c.name.clear();
        c.step.clear();
        c.timestamp.clear();
        c.value.clear();
        c
    }

    /// Points the columns hold room for.
    #[inline]
    pub fn capacity(&self) -> usize {
        // The four columns are always reserved together, so `value` speaks for all.
        self.value.capacity()
    }

    /// Drops every point, keeping the memory.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Points that fit before a column must grow.
    #[inline]
    fn room_left(&self) -> usize {
        // The four columns are always reserved together, so `value` speaks for all.
        self.value.capacity() - self.value.len()
    }

    /// Number of points.
    #[inline]
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Whether there is no point.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Appends one point.
    #[inline]
    pub fn push(&mut self, name: u32, step: i64, timestamp: i64, value: f64) {
        self.name.push(name);
        self.step.push(step);
        self.timestamp.push(timestamp);
        self.value.push(value);
    }

    /// Puts `earlier` in front of the points held now (used when a flush failed).
    pub fn prepend(&mut self, mut earlier: Columns) {
        earlier.name.append(&mut self.name);
        earlier.step.append(&mut self.step);
        earlier.timestamp.append(&mut self.timestamp);
        earlier.value.append(&mut self.value);
        *self = earlier;
    }

    /// Keeps the first `n` points.
    fn truncate(&mut self, n: usize) {
        self.name.truncate(n);
        self.step.truncate(n);
        self.timestamp.truncate(n);
        self.value.truncate(n);
    }

    /// Makes room for `n` more points in all four columns.
    fn reserve(&mut self, n: usize) {
        self.name.reserve(n);
        self.step.reserve(n);
        self.timestamp.reserve(n);
        self.value.reserve(n);
    }

    /// Moves every point into `other` (which has room for them), leaving self empty.
    fn move_into(&mut self, other: &mut Columns) {
        other.name.append(&mut self.name);
        other.step.append(&mut self.step);
        other.timestamp.append(&mut self.timestamp);
        other.value.append(&mut self.value);
    }

    /// Bytes reserved by the four columns.
    pub fn allocated_bytes(&self) -> usize {
        self.name.capacity() * 4
            + self.step.capacity() * 8
            + self.timestamp.capacity() * 8
            + self.value.capacity() * 8
    }
}

/// The writer's mutable front: names, the points not yet flushed, automatic steps, the clock.
#[derive(Debug, Default)]
pub struct Buffer {
    interner: Interner,
    columns: Columns,
    /// Empty, pre-faulted columns that the next flush (or growth) switches to, so that
    /// logging never waits on the kernel to map fresh memory. Offered by the flush thread.
    spare: Option<Columns>,
    /// The step the next automatic point of each name gets, indexed by name id.
    next_step: Vec<i64>,
    clock: WallClock,
}

impl Drop for Buffer {
    /// The columns go to the process-wide pool, mapped pages and all, for the next writer.
    fn drop(&mut self) {
        crate::pool::give(std::mem::take(&mut self.columns));
        if let Some(spare) = self.spare.take() {
            crate::pool::give(spare);
        }
    }
}

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of a metric name, interning it (and validating it) on first sight.
    #[inline]
    pub fn intern(&mut self, name: &str) -> StoreResult<u32> {
        let id = self.interner.intern(name)?;
        if id as usize >= self.next_step.len() {
            self.next_step.resize(id as usize + 1, 0);
        }
        Ok(id)
    }

    /// Makes automatic steps of `id` continue after `last_step` (used on resume).
    pub fn continue_steps_after(&mut self, id: u32, last_step: i64) {
        let slot = &mut self.next_step[id as usize];
        *slot = (*slot).max(last_step.saturating_add(1));
    }

    /// Appends a point of an interned name; `None` step or timestamp take the automatic ones.
    #[inline]
    pub fn push(&mut self, id: u32, value: f64, step: Option<i64>, timestamp: Option<i64>) {
        let next = &mut self.next_step[id as usize];
        let step = match step {
            Some(s) => s,
            None => *next,
        };
        *next = step.saturating_add(1);
        let timestamp = match timestamp {
            Some(t) => t,
            None => self.clock.now_ns(),
        };
        self.make_room(1);
        self.columns.push(id, step, timestamp, value);
    }

    /// Makes sure `n` more points fit without a column reallocating in the middle.
    #[inline]
    fn make_room(&mut self, n: usize) {
        if self.columns.room_left() < n {
            self.grow(n);
        }
    }

    /// Switches to the spare columns when they hold the points and `n` more; otherwise
    /// to columns from the process-wide [`pool`](crate::pool) with room to spare, or else
    /// grows the columns as vectors do.
    #[cold]
    fn grow(&mut self, n: usize) {
        let needed = self.columns.len() + n;
        match self.spare.take() {
            Some(mut spare) if spare.value.capacity() >= needed => {
                self.columns.move_into(&mut spare);
                self.columns = spare;
            }
            spare => {
                self.spare = spare;
                let more = n.max(self.columns.value.capacity().max(1024));
                match crate::pool::take(self.columns.len() + more) {
                    Some(mut recycled) => {
                        self.columns.move_into(&mut recycled);
                        let old = std::mem::replace(&mut self.columns, recycled);
                        crate::pool::give(old);
                    }
                    None => self.columns.reserve(more),
                }
            }
        }
    }

    /// Starts with these (empty) columns instead of unallocated ones.
    pub fn start_with(&mut self, columns: Columns) {
        debug_assert!(self.columns.is_empty() && columns.is_empty());
        self.columns = columns;
    }

    /// Whether the flush thread should prepare spare columns.
    pub fn wants_spare(&self) -> bool {
        self.spare.is_none()
    }

    /// Takes pre-faulted empty columns for later use (see [`Buffer::take`]).
    pub fn offer_spare(&mut self, spare: Columns) {
        debug_assert!(spare.is_empty());
        if self.spare.is_none() {
            self.spare = Some(spare);
        }
    }

    /// Appends points of several names logged together: one timestamp, one step.
    #[inline]
    pub fn push_row(&mut self, points: &[(u32, f64)], step: Option<i64>) {
        let (mark, now) = self.begin_row(points.len());
        for &(id, value) in points {
            self.push_in_row(id, value, step, now);
        }
        self.end_row(mark);
    }

    /// Starts a row of about `n` points logged together: makes room for them and gives
    /// the mark to end or abandon the row at, and the row's timestamp.
    #[inline]
    pub fn begin_row(&mut self, n: usize) -> (usize, i64) {
        self.make_room(n);
        (self.columns.len(), self.clock.now_ns())
    }

    /// Appends one point of the row begun last (one point per name in a row); its
    /// automatic step is settled by [`end_row`](Self::end_row).
    #[inline]
    pub fn push_in_row(&mut self, id: u32, value: f64, step: Option<i64>, now: i64) {
        let step = match step {
            Some(s) => s,
            None => self.next_step[id as usize],
        };
        self.columns.push(id, step, now, value);
    }

    /// Keeps the row begun at `mark`: automatic steps of its names continue after it.
    #[inline]
    pub fn end_row(&mut self, mark: usize) {
        let c = &self.columns;
        for (&id, &step) in c.name[mark..].iter().zip(&c.step[mark..]) {
            self.next_step[id as usize] = step.saturating_add(1);
        }
    }

    /// Drops the points of the row begun at `mark`, as if it had never started.
    pub fn abandon_row(&mut self, mark: usize) {
        self.columns.truncate(mark);
    }

    /// Appends many points of one name; `steps` and `timestamps` (ns since the epoch), when
    /// given, must match `values` in length. Without `timestamps` the points share the time
    /// of the call; with them (an import keeping the source's times) each point has its own.
    pub fn push_array(
        &mut self,
        id: u32,
        values: &[f64],
        steps: Option<&[i64]>,
        timestamps: Option<&[i64]>,
    ) {
        let n = values.len();
        debug_assert!(steps.is_none_or(|s| s.len() == n));
        debug_assert!(timestamps.is_none_or(|t| t.len() == n));
        let now = match timestamps {
            Some(_) => 0,
            None => self.clock.now_ns(),
        };
        self.make_room(n);
        let c = &mut self.columns;
        c.name.extend(std::iter::repeat_n(id, n));
        match timestamps {
            Some(t) => c.timestamp.extend_from_slice(t),
            None => c.timestamp.extend(std::iter::repeat_n(now, n)),
        }
        c.value.extend_from_slice(values);
        let next = &mut self.next_step[id as usize];
        match steps {
            Some(steps) => {
                c.step.extend_from_slice(steps);
                if let Some(&last) = steps.last() {
                    *next = last.saturating_add(1);
                }
            }
            None => {
                let start = *next;
                c.step.extend(start..start + n as i64);
                *next = start + n as i64;
            }
        }
    }

    /// Number of points not yet flushed.
    #[inline]
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether no point is waiting.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Bytes the waiting points occupy.
    #[inline]
    pub fn used_bytes(&self) -> usize {
        self.columns.len() * BYTES_PER_POINT
    }

    /// Bytes the columns hold allocated (at least [`used_bytes`](Self::used_bytes)).
    #[inline]
    pub fn allocated_bytes(&self) -> usize {
        self.columns.value.capacity() * BYTES_PER_POINT
    }

    /// Takes the waiting points out, leaving the spare columns in their place, or else
    /// room for up to `reserve` new points.
    pub fn take(&mut self, reserve: usize) -> Columns {
        let n = self.columns.len();
        self.clock.reanchor();
        let next = match self.spare.take() {
            Some(spare) => spare,
            None => {
                let rows = n.min(reserve);
                crate::pool::take(rows.max(1)).unwrap_or_else(|| Columns::with_capacity(rows))
            }
        };
        std::mem::replace(&mut self.columns, next)
    }

    /// Puts points whose flush failed back in front, so that nothing is lost.
    pub fn restore(&mut self, earlier: Columns) {
        self.columns.prepend(earlier);
    }

    /// The points waiting, without taking them.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// The interned names, indexed by id.
    pub fn names(&self) -> &[Arc<str>] {
        self.interner.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_steps_count_per_metric_and_follow_explicit_ones() {
        let mut b = Buffer::new();
        let a = b.intern("a").unwrap();
        let c = b.intern("c").unwrap();
        b.push(a, 1.0, None, None);
        b.push(a, 1.0, None, None);
        b.push(c, 1.0, None, None);
        b.push(a, 1.0, Some(10), None);
        b.push(a, 1.0, None, None);
        assert_eq!(b.columns().step, vec![0, 1, 0, 10, 11]);
    }

    #[test]
    fn an_abandoned_row_leaves_no_trace() {
        let mut b = Buffer::new();
        let a = b.intern("a").unwrap();
        let c = b.intern("c").unwrap();
        b.push_row(&[(a, 1.0), (c, 2.0)], None);
        let (mark, now) = b.begin_row(2);
        b.push_in_row(a, 3.0, None, now);
        b.push_in_row(c, 4.0, Some(50), now);
        b.abandon_row(mark);
        b.push_row(&[(c, 5.0), (a, 6.0)], None);
        assert_eq!(b.columns().value, vec![1.0, 2.0, 5.0, 6.0]);
        assert_eq!(b.columns().step, vec![0, 0, 1, 1]);
        b.push_row(&[(a, 7.0)], Some(9));
        b.push(a, 8.0, None, None);
        assert_eq!(b.columns().step[4..], [9, 10]);
    }

    #[test]
    fn timestamps_never_go_backwards() {
        let mut b = Buffer::new();
        let a = b.intern("a").unwrap();
        for _ in 0..1000 {
            b.push(a, 0.0, None, None);
        }
        let ts = &b.columns().timestamp;
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn an_array_keeps_its_own_timestamps() {
        let mut b = Buffer::new();
        let a = b.intern("a").unwrap();
        b.push_array(a, &[1.0, 2.0, 3.0], Some(&[5, 6, 9]), Some(&[30, 10, 20]));
        // The buffer's own clock never goes back, so the stamped point lies between
        // a reading taken just before the push and one taken just after.
        let before = b.clock.now_ns();
        b.push_array(a, &[4.0], None, None);
        let after = b.clock.now_ns();
        let c = b.columns();
        assert_eq!(c.timestamp[..3], [30, 10, 20]);
        assert!(
            (before..=after).contains(&c.timestamp[3]),
            "{before} <= {} <= {after}",
            c.timestamp[3]
        );
        assert_eq!(c.step, vec![5, 6, 9, 10]);
    }

    #[test]
    fn spare_columns_take_over_without_losing_points() {
        let mut b = Buffer::new();
        let a = b.intern("a").unwrap();
        b.push_array(a, &[1.0; 1000], None, None);
        let spare = Columns::prefaulted(5000);
        let spare_at = spare.value.as_ptr();
        b.offer_spare(spare);
        assert!(!b.wants_spare());
        // Growing past the capacity moves the points into the spare.
        b.push_array(a, &[2.0; 2000], None, None);
        assert_eq!(b.columns().value.as_ptr(), spare_at);
        assert_eq!(b.len(), 3000);
        assert_eq!(b.columns().step, (0..3000).collect::<Vec<i64>>());
        assert!(b.wants_spare());
        // A spare too small for what is waiting is kept for the next flush.
        b.offer_spare(Columns::prefaulted(10));
        b.push_array(a, &[3.0; 5000], None, None);
        assert_eq!(b.len(), 8000);
        assert!(!b.wants_spare());
        let taken = b.take(1 << 20);
        assert_eq!(taken.len(), 8000);
        assert_eq!(
            b.columns().value.capacity(),
            10,
            "the spare is what takes its place"
        );
        assert!(b.wants_spare());
    }

    #[test]
    fn restore_puts_failed_points_first() {
        let mut b = Buffer::new();
        let a = b.intern("a").unwrap();
        b.push(a, 1.0, Some(1), Some(1));
        let taken = b.take(16);
        b.push(a, 2.0, Some(2), Some(2));
        b.restore(taken);
        assert_eq!(b.columns().value, vec![1.0, 2.0]);
    }
}
