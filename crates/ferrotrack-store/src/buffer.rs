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
    /// The step the next automatic point of each name gets, indexed by name id.
    next_step: Vec<i64>,
    clock: WallClock,
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
        self.columns.push(id, step, timestamp, value);
    }

    /// Appends points of several names logged together: one timestamp, one step.
    #[inline]
    pub fn push_row(&mut self, points: &[(u32, f64)], step: Option<i64>) {
        let now = self.clock.now_ns();
        for &(id, value) in points {
            self.push(id, value, step, Some(now));
        }
    }

    /// Appends many points of one name sharing a timestamp; `steps` must match `values` in length.
    pub fn push_array(&mut self, id: u32, values: &[f64], steps: Option<&[i64]>) {
        let now = self.clock.now_ns();
        let n = values.len();
        let c = &mut self.columns;
        c.name.reserve(n);
        c.step.reserve(n);
        c.timestamp.reserve(n);
        c.value.reserve(n);
        c.name.extend(std::iter::repeat_n(id, n));
        c.timestamp.extend(std::iter::repeat_n(now, n));
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

    /// Takes the waiting points out, leaving room for up to `reserve` new ones.
    pub fn take(&mut self, reserve: usize) -> Columns {
        let n = self.columns.len();
        self.clock.reanchor();
        std::mem::replace(&mut self.columns, Columns::with_capacity(n.min(reserve)))
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
