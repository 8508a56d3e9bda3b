//! One event file being appended to: each write is one `write` of whole records, all or
//! nothing. A write that fails part way is cut back to where it began, so that a retry
//! writes each event once; when even the cut-back fails the file may hold complete
//! records of the failed write, so it is poisoned and takes no more writes (a retry
//! would write those events twice).

use std::fs::File;
use std::io::{self, Write};

use crate::event::Encoder;

/// Why an append did not happen.
#[derive(Debug)]
pub enum AppendError {
    /// The encoder refused the input; nothing was written.
    Encode(String),
    /// The write failed and the file was cut back to where it was.
    Io(io::Error),
    /// The write failed and the file could not be cut back: the file is now poisoned.
    /// `why` says so, for this error and every later append.
    CutBack { write: io::Error, why: String },
    /// An earlier write could not be cut back; nothing was written. `errno` is that
    /// write's OS error.
    Poisoned { errno: Option<i32>, why: String },
}

/// An event file and the encoder that knows which tags it has described.
#[derive(Debug)]
pub struct Appender {
    file: File,
    encoder: Encoder,
    poisoned: Option<(Option<i32>, String)>,
}

impl Appender {
    pub fn new(file: File, encoder: Encoder) -> Self {
        Appender {
            file,
            encoder,
            poisoned: None,
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Whether a failed write could not be cut back (no more writes are taken).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Encodes with `f` and appends the bytes in one write; returns the bytes written.
    /// Assumes no other writer appends to the file.
    pub fn append(
        &mut self,
        f: impl FnOnce(&mut Encoder, &mut Vec<u8>) -> Result<(), String>,
    ) -> Result<usize, AppendError> {
        if let Some((errno, why)) = &self.poisoned {
            return Err(AppendError::Poisoned {
                errno: *errno,
                why: why.clone(),
            });
        }
        let mut out = Vec::new();
        self.encoder.mark();
        if let Err(e) = f(&mut self.encoder, &mut out) {
            self.encoder.undo();
            return Err(AppendError::Encode(e));
        }
        let start = self.file.metadata().map_err(AppendError::Io)?.len();
        if let Err(write) = self.file.write_all(&out) {
            self.encoder.undo();
            if let Err(cut) = self.file.set_len(start) {
                let why = format!(
                    "a write failed part way ({}) and the file could not be cut back to \
                     {start} bytes ({}), so it may hold events of that write; it takes no \
                     more writes so that none is written twice, and the next opening of \
                     the run starts a new event file",
                    reason(&write),
                    reason(&cut)
                );
                self.poisoned = Some((write.raw_os_error(), why.clone()));
                return Err(AppendError::CutBack { write, why });
            }
            return Err(AppendError::Io(write));
        }
        Ok(out.len())
    }
}

/// An I/O error's text without Rust's " (os error N)" tail.
pub fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ScalarKind;
    use std::fs::OpenOptions;

    fn version(enc: &mut Encoder, out: &mut Vec<u8>) -> Result<(), String> {
        enc.file_version(out, 1);
        Ok(())
    }

    #[test]
    fn a_good_write_appends_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events");
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .unwrap();
        let mut a = Appender::new(file, Encoder::new(ScalarKind::Float32));
        let n = a.append(version).unwrap();
        assert!(n > 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), n as u64);
        assert!(!a.is_poisoned());
    }

    /// /dev/full refuses every write (ENOSPC) and cannot be truncated (EINVAL): a real
    /// file whose failed write cannot be cut back.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_that_cannot_be_cut_back_poisons_the_file() {
        let file = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let mut a = Appender::new(file, Encoder::new(ScalarKind::Float32));
        match a.append(version) {
            Err(AppendError::CutBack { write, why }) => {
                assert_eq!(write.raw_os_error(), Some(28)); // ENOSPC
                assert!(why.contains("could not be cut back"), "{why}");
                assert!(why.contains("new event file"), "{why}");
            }
            other => panic!("expected a cut-back failure, got {other:?}"),
        }
        assert!(a.is_poisoned());
        let mut called = false;
        match a.append(|enc, out| {
            called = true;
            version(enc, out)
        }) {
            Err(AppendError::Poisoned { errno, why }) => {
                assert_eq!(errno, Some(28));
                assert!(why.contains("could not be cut back"), "{why}");
            }
            other => panic!("expected the poisoned file to refuse, got {other:?}"),
        }
        assert!(!called, "a poisoned file encodes nothing");
    }
}
