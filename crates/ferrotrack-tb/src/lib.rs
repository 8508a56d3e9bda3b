//! TensorBoard event files for ferrotrack, with no TensorFlow and no protobuf library:
//! the few messages an event file needs are encoded by hand, straight from columns.
//!
//! - [`append`]: all-or-nothing appends to one event file;
//! - [`crc`]: CRC-32C and TensorFlow's mask;
//! - [`record`]: TFRecord framing, and a reader that skips damaged records;
//! - [`wire`]: the protobuf wire format;
//! - [`event`]: `Event`/`Summary` encoding (scalars, text, HParams data);
//! - [`hparams`]: the HParams plugin's messages;
//! - [`read`]: files back into columns;
//! - [`time`]: nanoseconds against TensorBoard's double seconds.

pub mod append;
pub mod crc;
pub mod event;
pub mod hparams;
pub mod read;
pub mod record;
pub mod time;
pub mod wire;

pub use append::{AppendError, Appender};
pub use event::{Encoder, ScalarKind, FILE_VERSION};
pub use read::{read_files, Decoded, Reader, Scalars, Text};
