//! The ferrotrack metric store.
//!
//! Points `(name, step, timestamp, value)` are appended to an in-memory columnar
//! [`Buffer`](buffer::Buffer), turned into Parquet segment files by a background
//! flush thread, summarised per metric, compacted, and recovered after a crash.
//! The on-disk format is specified in `docs/format.md`; this crate is its only writer.

pub mod buffer;
pub mod catalog;
pub mod claim;
pub mod clock;
pub mod compaction;
pub mod durability;
pub mod error;
pub mod interner;
pub mod layout;
pub mod meta;
pub mod pool;
pub mod reader;
pub mod recovery;
pub mod schema;
pub mod segment;
pub mod summary;
pub mod writer;

pub use buffer::{Buffer, Columns};
pub use durability::Durability;
pub use error::{StoreError, StoreResult};
pub use summary::{MetricSummary, Summary};
pub use writer::{Front, MetricWriter, WriterConfig, WriterStats};

/// Version of the on-disk format written into every file's key-value metadata.
pub const FORMAT_VERSION: u32 = 1;

/// Longest metric name accepted, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 1024;
