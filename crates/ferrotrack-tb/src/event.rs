//! Events as TensorBoard reads them (tensorboard/compat/proto/event.proto, summary.proto,
//! tensor.proto), encoded straight from columns into framed records.
//!
//! Fields written: `Event { wall_time = 1 (double); step = 2; file_version = 3;
//! summary = 5 }`, `Summary { value = 1 }`, `Summary.Value { tag = 1; simple_value = 2
//! (float); metadata = 9; tensor = 8 }`, `SummaryMetadata { plugin_data = 1 { plugin_name
//! = 1; content = 2 }; data_class = 4 }`, `TensorProto { dtype = 1; tensor_shape = 2;
//! double_val = 6 (packed); string_val = 8 }`, `TensorShapeProto { dim = 2 { size = 1 } }`.

use std::collections::HashSet;

use crate::hparams::{self, PluginData};
use crate::record::{reserve_header, seal_record};
use crate::time::seconds;
use crate::wire::{
    key, put_bytes, put_double, put_int, put_key, put_message, put_varint, varint_len, FIXED32, LEN,
};

/// The first event of every file: TensorBoard takes "brain.Event:2" to mean that restarts
/// are marked by SessionLog events (which ferrotrack never writes), so it never drops
/// points whose step goes back.
pub const FILE_VERSION: &str = "brain.Event:2";

/// `DataType` values of tensor.proto used here.
pub const DT_FLOAT: i64 = 1;
pub const DT_DOUBLE: i64 = 2;
pub const DT_STRING: i64 = 7;
/// `DataClass` of summary.proto.
const DATA_CLASS_SCALAR: i64 = 1;
const DATA_CLASS_TENSOR: i64 = 2;

/// How a scalar is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// `Summary.Value.simple_value`, a float32: what every TensorBoard reader takes
    /// (`EventAccumulator.Scalars`, tbparse's scalars); values are rounded to float32.
    Float32,
    /// A float64 scalar tensor with the `scalars` plugin's metadata: TensorBoard's
    /// dashboard and `EventAccumulator.Tensors` read it; values are exact.
    Float64,
}

/// Columns given a code out of the names' range, or of unequal lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnError(pub String);

impl std::fmt::Display for ColumnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ColumnError {}

/// `SummaryMetadata` naming a plugin, with its (empty: version 0) content.
fn put_metadata(out: &mut Vec<u8>, plugin: &str, content: &[u8], data_class: i64) {
    put_message(out, 9, |m| {
        put_message(m, 1, |p| {
            put_bytes(p, 1, plugin.as_bytes());
            if !content.is_empty() {
                put_bytes(p, 2, content);
            }
        });
        put_int(m, 4, data_class);
    });
}

/// Encodes the events of one event file; remembers which tags it described, since
/// TensorBoard takes a tag's plugin metadata from its first event (in each file, as
/// TensorFlow's writers do).
#[derive(Debug)]
pub struct Encoder {
    kind: ScalarKind,
    described: HashSet<String>,
    /// Tags described since [`Encoder::mark`], for [`Encoder::undo`].
    journal: Vec<String>,
}

impl Encoder {
    pub fn new(kind: ScalarKind) -> Self {
        Encoder {
            kind,
            described: HashSet::new(),
            journal: Vec::new(),
        }
    }

    pub fn kind(&self) -> ScalarKind {
        self.kind
    }

    /// Starts a write that may be undone (the bytes did not reach the file).
    pub fn mark(&mut self) {
        self.journal.clear();
    }

    /// Forgets the tags described since [`mark`](Self::mark): their metadata must be
    /// written again with the retry.
    pub fn undo(&mut self) {
        for tag in self.journal.drain(..) {
            self.described.remove(&tag);
        }
    }

    /// Whether this is the first event of `tag` in the file (and notes that it no
    /// longer is).
    fn first_of(&mut self, tag: &str) -> bool {
        if self.described.contains(tag) {
            return false;
        }
        self.described.insert(tag.to_owned());
        self.journal.push(tag.to_owned());
        true
    }

    /// The `file_version` event that starts a file.
    pub fn file_version(&self, out: &mut Vec<u8>, wall_ns: i64) {
        let at = reserve_header(out);
        put_double(out, 1, seconds(wall_ns));
        put_bytes(out, 3, FILE_VERSION.as_bytes());
        seal_record(out, at);
    }

    /// One event per point: `names[codes[i]]` at `steps[i]`, `wall_ns[i]`, `values[i]`.
    pub fn scalars(
        &mut self,
        out: &mut Vec<u8>,
        names: &[&str],
        codes: &[u32],
        steps: &[i64],
        wall_ns: &[i64],
        values: &[f64],
    ) -> Result<(), ColumnError> {
        let n = codes.len();
        if steps.len() != n || wall_ns.len() != n || values.len() != n {
            return Err(ColumnError(format!(
                "columns of unequal lengths: names {n}, steps {}, timestamps {}, values {}",
                steps.len(),
                wall_ns.len(),
                values.len()
            )));
        }
        if let Some(&bad) = codes.iter().find(|&&c| c as usize >= names.len()) {
            return Err(ColumnError(format!(
                "name code {bad} out of range of {} names",
                names.len()
            )));
        }
        // Per name, the Summary.Value bytes before the value: its tag, and for the
        // float64 kind on the tag's first event the scalars plugin's metadata.
        let plain: Vec<Vec<u8>> = names
            .iter()
            .map(|t| {
                let mut p = Vec::with_capacity(t.len() + 3);
                put_bytes(&mut p, 1, t.as_bytes());
                p
            })
            .collect();
        let mut described: Vec<Option<Vec<u8>>> = vec![None; names.len()];
        if self.kind == ScalarKind::Float64 {
            let mut seen = vec![false; names.len()];
            for &c in codes {
                let c = c as usize;
                if !seen[c] {
                    seen[c] = true;
                    if self.first_of(names[c]) {
                        let mut p = plain[c].clone();
                        put_metadata(&mut p, "scalars", &[], DATA_CLASS_SCALAR);
                        described[c] = Some(p);
                    }
                }
            }
        }
        out.reserve(n * (48 + plain.iter().map(Vec::len).max().unwrap_or(0)));
        for i in 0..n {
            let c = codes[i] as usize;
            let at = self.event_head(out, wall_ns[i], steps[i]);
            match described[c].take() {
                Some(first) => self.scalar_value(out, &first, values[i]),
                None => self.scalar_value(out, &plain[c], values[i]),
            }
            seal_record(out, at);
        }
        Ok(())
    }

    #[inline]
    fn event_head(&self, out: &mut Vec<u8>, wall_ns: i64, step: i64) -> usize {
        let at = reserve_header(out);
        put_double(out, 1, seconds(wall_ns));
        put_int(out, 2, step);
        at
    }

    /// `summary { value { <prefix> <the value> } }`, lengths computed up front.
    #[inline]
    fn scalar_value(&self, out: &mut Vec<u8>, prefix: &[u8], v: f64) {
        // tensor { dtype: DT_DOUBLE  tensor_shape {}  double_val: [v] } is 14 bytes.
        const TENSOR: usize = 2 + 2 + 2 + 8;
        let value_len = prefix.len()
            + match self.kind {
                ScalarKind::Float32 => 5,
                ScalarKind::Float64 => 2 + TENSOR,
            };
        let summary_len = 1 + varint_len(value_len as u64) + value_len;
        put_key(out, 5, LEN);
        put_varint(out, summary_len as u64);
        put_key(out, 1, LEN);
        put_varint(out, value_len as u64);
        out.extend_from_slice(prefix);
        match self.kind {
            ScalarKind::Float32 => {
                out.push(key(2, FIXED32) as u8);
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
            ScalarKind::Float64 => {
                out.extend_from_slice(&[
                    key(8, LEN) as u8,
                    TENSOR as u8,
                    key(1, 0) as u8,
                    DT_DOUBLE as u8,
                    key(2, LEN) as u8,
                    0,
                    key(6, LEN) as u8,
                    8,
                ]);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// A text summary (the `text` plugin: a string tensor), shown in TensorBoard's Text tab.
    pub fn text(&mut self, out: &mut Vec<u8>, tag: &str, step: i64, wall_ns: i64, text: &str) {
        let at = self.event_head(out, wall_ns, step);
        put_message(out, 5, |s| {
            put_message(s, 1, |v| {
                put_bytes(v, 1, tag.as_bytes());
                put_metadata(v, "text", &[], DATA_CLASS_TENSOR);
                put_message(v, 8, |t| {
                    put_int(t, 1, DT_STRING);
                    put_message(t, 2, |_| {});
                    put_bytes(t, 8, text.as_bytes());
                });
            });
        });
        seal_record(out, at);
    }

    /// An HParams plugin summary: the experiment, a session's start or its end, under
    /// the tag TensorBoard looks for, with the empty float tensor it expects.
    pub fn hparams(&mut self, out: &mut Vec<u8>, data: &PluginData, wall_ns: i64) {
        let tag = match data {
            PluginData::Experiment(_) => hparams::EXPERIMENT_TAG,
            PluginData::SessionStart(_) => hparams::SESSION_START_TAG,
            PluginData::SessionEnd(_) => hparams::SESSION_END_TAG,
        };
        let content = data.encode();
        let at = self.event_head(out, wall_ns, 0);
        put_message(out, 5, |s| {
            put_message(s, 1, |v| {
                put_bytes(v, 1, tag.as_bytes());
                put_metadata(v, hparams::PLUGIN, &content, DATA_CLASS_TENSOR);
                put_message(v, 8, |t| {
                    put_int(t, 1, DT_FLOAT);
                    put_message(t, 2, |shape| put_message(shape, 2, |d| put_int(d, 1, 0)));
                });
            });
        });
        seal_record(out, at);
    }
}
