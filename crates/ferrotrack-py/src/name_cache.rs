//! A direct-mapped cache from `str` objects to interned name ids.
//!
//! The same metric name is usually the same `str` object on every call (a literal
//! in the training loop), so its address finds its id without reading its UTF-8 or
//! hashing it. Each entry holds a reference to its `str`, so an address can never
//! be reused by a different name while it is cached.

use pyo3::prelude::*;
use pyo3::types::PyString;

const SLOTS_LOG2: u32 = 10;
const SLOTS: usize = 1 << SLOTS_LOG2;

/// Cached `(address, id, the str itself)` entries.
pub struct NameCache {
    slots: Vec<Option<(usize, u32, Py<PyString>)>>,
}

impl Default for NameCache {
    fn default() -> Self {
        NameCache {
            slots: (0..SLOTS).map(|_| None).collect(),
        }
    }
}

/// Fibonacci hashing of the address: objects a few bytes apart land far apart.
#[inline]
fn slot_of(addr: usize) -> usize {
    ((addr as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS_LOG2)) as usize
}

impl NameCache {
    /// The id cached for this exact `str` object.
    #[inline]
    pub fn get(&self, name: &Bound<'_, PyString>) -> Option<u32> {
        let addr = name.as_ptr() as usize;
        match &self.slots[slot_of(addr)] {
            Some((a, id, _)) if *a == addr => Some(*id),
            _ => None,
        }
    }

    /// Remembers the id of this `str` object, keeping it alive.
    #[inline]
    pub fn put(&mut self, name: &Bound<'_, PyString>, id: u32) {
        let addr = name.as_ptr() as usize;
        self.slots[slot_of(addr)] = Some((addr, id, name.clone().unbind()));
    }

    /// Drops every cached reference (call with the GIL held).
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }
}
