//! Metric names interned to dense integer ids.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{StoreError, StoreResult};
use crate::MAX_NAME_BYTES;

/// Maps metric names to ids `0..len` in first-seen order.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

/// Checks that a metric name is acceptable: non-empty, no NUL, at most [`MAX_NAME_BYTES`].
pub fn validate_name(name: &str) -> StoreResult<()> {
    if name.is_empty() {
        return Err(StoreError::InvalidName {
            name: name.to_owned(),
            reason: "a metric name must not be empty".into(),
        });
    }
    if name.contains('\0') {
        return Err(StoreError::InvalidName {
            name: name.escape_debug().to_string(),
            reason: "a metric name must not contain a NUL character".into(),
        });
    }
    if name.len() > MAX_NAME_BYTES {
        let shown: String = name.chars().take(40).collect();
        return Err(StoreError::InvalidName {
            name: format!("{shown}…"),
            reason: format!(
                "a metric name must be at most {MAX_NAME_BYTES} bytes of UTF-8, got {}",
                name.len()
            ),
        });
    }
    Ok(())
}

impl Interner {
    /// The id of `name`, assigning the next id to a name not seen before.
    pub fn intern(&mut self, name: &str) -> StoreResult<u32> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        validate_name(name)?;
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        Ok(id)
    }

    /// The id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// All names, indexed by id.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
