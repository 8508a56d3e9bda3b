//! Event files back into columns: scalars (from `simple_value` and from scalar tensors
//! of the `scalars` plugin, as TF2 and newer writers store them), text summaries and
//! the HParams plugin's data. Damaged records are skipped and reported with their offset.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::Path;

use crate::hparams::{self, PluginData, SessionEnd, SessionStart};
use crate::record::{frame_at, records, Damage, Frame};
use crate::time::nanos;
use crate::wire::{fields, packed_varint, Field, WireError};

/// Scalar points in columns; `names[codes[i]]` is the tag of point `i`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scalars {
    pub names: Vec<String>,
    pub codes: Vec<u32>,
    pub steps: Vec<i64>,
    pub wall_ns: Vec<i64>,
    pub values: Vec<f64>,
}

impl Scalars {
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

/// One text summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub tag: String,
    pub step: i64,
    pub wall_ns: i64,
    pub text: String,
}

/// A damaged place in one of the files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDamage {
    /// Index of the file among those read, in reading order.
    pub file: usize,
    pub damage: Damage,
}

/// Everything read from the files of one run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decoded {
    pub scalars: Scalars,
    pub texts: Vec<Text>,
    /// The first session start (the one TensorBoard shows).
    pub session_start: Option<SessionStart>,
    /// The last session end (the latest word on how the run ended).
    pub session_end: Option<SessionEnd>,
    /// The first experiment summary.
    pub experiment: Option<hparams::Experiment>,
    /// The earliest and latest wall time of any event.
    pub first_wall_ns: Option<i64>,
    pub last_wall_ns: Option<i64>,
    /// Events read (good records).
    pub events: u64,
    pub damage: Vec<FileDamage>,
}

/// FxHash: tags are short and come from files the user chose to read, so a fast
/// non-keyed hash is fine here.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// What a tag holds, from the plugin named in its first metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plugin {
    Scalars,
    Text,
    HParams,
    Other,
}

/// What one value of a summary holds, decoded before anything is kept.
enum Item<'a> {
    Point(&'a [u8], f64),
    Text(&'a [u8], String),
    HParams(PluginData),
    Nothing,
}

/// Reads the files of one run in order (TensorBoard's order: by file name), keeping
/// what each tag is across files.
#[derive(Default)]
pub struct Reader {
    out: Decoded,
    codes: FxMap<Vec<u8>, u32>,
    plugins: FxMap<Vec<u8>, Plugin>,
    files: usize,
}

/// A tensor's numbers, enough for scalars and strings: the first value of each kind
/// (no allocation for a scalar), every string.
struct Tensor<'a> {
    dtype: i64,
    elements: i64,
    content: &'a [u8],
    float: Option<u32>,
    double: Option<u64>,
    int: Option<u64>,
    strings: Vec<&'a [u8]>,
}

/// The first value of a repeated fixed-size field, packed or not.
fn first_fixed<const N: usize>(field: Field<'_>) -> Option<u64> {
    match field {
        Field::Fixed32(v) if N == 4 => Some(u64::from(v)),
        Field::Fixed64(v) if N == 8 => Some(v),
        Field::Len(b) if b.len() >= N => {
            let mut w = [0u8; 8];
            w[..N].copy_from_slice(&b[..N]);
            Some(u64::from_le_bytes(w))
        }
        _ => None,
    }
}

fn tensor(data: &[u8]) -> Result<Tensor<'_>, WireError> {
    let mut t = Tensor {
        dtype: 0,
        elements: 1,
        content: &[],
        float: None,
        double: None,
        int: None,
        strings: Vec::new(),
    };
    for f in fields(data) {
        match f? {
            (1, Field::Varint(v)) => t.dtype = v as i64,
            (2, Field::Len(shape)) => {
                for g in fields(shape) {
                    if let (2, Field::Len(dim)) = g? {
                        let mut size = 0;
                        for h in fields(dim) {
                            if let (1, Field::Varint(v)) = h? {
                                size = v as i64;
                            }
                        }
                        t.elements = t.elements.saturating_mul(size);
                    }
                }
            }
            (4, Field::Len(b)) => t.content = b,
            (5, f) => t.float = t.float.or(first_fixed::<4>(f).map(|v| v as u32)),
            (6, f) => t.double = t.double.or(first_fixed::<8>(f)),
            // int_val (7), int64_val (10) and half_val (13, bits in an int32) are varints.
            (7 | 10 | 13, f) if t.int.is_none() => {
                let mut all = Vec::new();
                packed_varint(f, &mut all)?;
                t.int = all.first().copied();
            }
            (8, Field::Len(b)) => t.strings.push(b),
            _ => {}
        }
    }
    Ok(t)
}

/// An IEEE half (binary16) as f64.
fn half(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1F);
    let frac = f64::from(bits & 0x3FF);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

impl Tensor<'_> {
    /// The value of a tensor of one element, of a numeric type; `None` otherwise.
    fn scalar(&self) -> Option<f64> {
        if self.elements != 1 {
            return None;
        }
        let c = self.content;
        Some(match self.dtype {
            // DT_FLOAT
            1 => match c.get(..4) {
                Some(b) => f64::from(f32::from_le_bytes(b.try_into().ok()?)),
                None => f64::from(f32::from_bits(self.float.unwrap_or(0))),
            },
            // DT_DOUBLE
            2 => match c.get(..8) {
                Some(b) => f64::from_le_bytes(b.try_into().ok()?),
                None => f64::from_bits(self.double.unwrap_or(0)),
            },
            // DT_INT32, DT_INT64
            3 => match c.get(..4) {
                Some(b) => f64::from(i32::from_le_bytes(b.try_into().ok()?)),
                None => f64::from(self.int.unwrap_or(0) as i32),
            },
            9 => match c.get(..8) {
                Some(b) => i64::from_le_bytes(b.try_into().ok()?) as f64,
                None => self.int.unwrap_or(0) as i64 as f64,
            },
            // DT_HALF, DT_BFLOAT16
            19 | 14 => {
                let bits = match c.get(..2) {
                    Some(b) => u16::from_le_bytes(b.try_into().ok()?),
                    None => self.int.unwrap_or(0) as u16,
                };
                if self.dtype == 19 {
                    half(bits)
                } else {
                    f64::from(f32::from_bits(u32::from(bits) << 16))
                }
            }
            _ => return None,
        })
    }
}

fn plugin_of(name: &[u8]) -> Plugin {
    match name {
        b"scalars" => Plugin::Scalars,
        b"text" => Plugin::Text,
        b"hparams" => Plugin::HParams,
        _ => Plugin::Other,
    }
}

impl Reader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one whole file (its bytes); damage is noted against this file's index.
    pub fn read_file(&mut self, data: &[u8]) {
        let file = self.files;
        self.files += 1;
        self.read_bytes_at(file, 0, data);
    }

    /// Reads the file at `path` in chunks (a few MiB of memory, however large the file),
    /// exactly as [`read_file`](Self::read_file) would read its bytes.
    pub fn read_path(&mut self, path: &Path) -> std::io::Result<()> {
        const CHUNK: u64 = 8 << 20;
        let mut f = std::fs::File::open(path)?;
        let file = self.files;
        self.files += 1;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK as usize);
        let mut base = 0u64; // the file offset of buf[0]
        loop {
            let got = f.by_ref().take(CHUNK).read_to_end(&mut buf)?;
            let eof = (got as u64) < CHUNK;
            let mut pos = 0;
            while pos < buf.len() {
                match frame_at(&buf, pos) {
                    Frame::Good(body, next) => {
                        self.event_at(file, base + pos as u64, body);
                        pos = next;
                    }
                    Frame::Truncated(_) if !eof => break, // the rest comes with the next chunk
                    _ => {
                        // Damage: the rest of the file goes to the whole-bytes reader, which
                        // reports it and scans for the next good record.
                        let mut rest = buf.split_off(pos);
                        f.read_to_end(&mut rest)?;
                        self.read_bytes_at(file, base + pos as u64, &rest);
                        return Ok(());
                    }
                }
            }
            if eof && pos == buf.len() {
                return Ok(());
            }
            buf.drain(..pos);
            base += pos as u64;
        }
    }

    fn read_bytes_at(&mut self, file: usize, base: u64, data: &[u8]) {
        let mut recs = records(data);
        for (offset, event) in recs.by_ref() {
            self.event_at(file, base + offset, event);
        }
        self.out
            .damage
            .extend(recs.damage.into_iter().map(|mut damage| {
                damage.offset += base;
                FileDamage { file, damage }
            }));
    }

    #[inline]
    fn event_at(&mut self, file: usize, offset: u64, event: &[u8]) {
        if let Err(e) = self.event(event) {
            self.out.damage.push(FileDamage {
                file,
                damage: Damage {
                    offset,
                    what: format!("an event that does not decode ({e})"),
                    skipped: 0,
                },
            });
        }
    }

    /// Everything read.
    pub fn finish(self) -> Decoded {
        self.out
    }

    fn event(&mut self, data: &[u8]) -> Result<(), WireError> {
        let (mut wall, mut step, mut summary) = (0.0, 0i64, None);
        for f in fields(data) {
            match f? {
                (1, f) => wall = f.as_f64().unwrap_or(0.0),
                (2, f) => step = f.as_i64().unwrap_or(0),
                (5, Field::Len(b)) => summary = Some(b),
                _ => {}
            }
        }
        let wall_ns = nanos(wall);
        // Decode and check every value of the summary before keeping anything: an event
        // that fails part way yields no point and is not counted. `first` and `rest`
        // allocate nothing for the usual summary of one value.
        let mut metadata = Vec::new();
        let (mut first, mut rest) = (None, Vec::new());
        if let Some(summary) = summary {
            for f in fields(summary) {
                if let (1, Field::Len(value)) = f? {
                    let item = self.value(value, &mut metadata)?;
                    if first.is_none() {
                        first = Some(item);
                    } else {
                        rest.push(item);
                    }
                }
            }
        }
        for (tag, plugin) in metadata {
            // TensorBoard keeps the first metadata of a tag.
            self.plugins.entry(tag.to_vec()).or_insert(plugin);
        }
        for item in first.into_iter().chain(rest) {
            self.keep(item, step, wall_ns);
        }
        self.out.events += 1;
        let o = &mut self.out;
        o.first_wall_ns = Some(o.first_wall_ns.map_or(wall_ns, |w| w.min(wall_ns)));
        o.last_wall_ns = Some(o.last_wall_ns.map_or(wall_ns, |w| w.max(wall_ns)));
        Ok(())
    }

    /// What `tag` holds: its first metadata, from the files read so far or else from
    /// this event's `metadata` (not yet kept).
    fn plugin(&self, tag: &[u8], metadata: &[(&[u8], Plugin)]) -> Option<Plugin> {
        self.plugins.get(tag).copied().or_else(|| {
            metadata
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|&(_, plugin)| plugin)
        })
    }

    /// Decodes one value of a summary, keeping nothing; the metadata it carries for a
    /// tag not yet described is added to `metadata`.
    fn value<'a>(
        &self,
        data: &'a [u8],
        metadata: &mut Vec<(&'a [u8], Plugin)>,
    ) -> Result<Item<'a>, WireError> {
        let (mut tag, mut simple, mut tensor_bytes, mut meta) = (&[][..], None, None, None);
        for f in fields(data) {
            match f? {
                (1, Field::Len(b)) => tag = b,
                (2, Field::Fixed32(v)) => simple = Some(f64::from(f32::from_bits(v))),
                (8, Field::Len(b)) => tensor_bytes = Some(b),
                (9, Field::Len(b)) => meta = Some(b),
                _ => {}
            }
        }
        if let Some(v) = simple {
            return Ok(Item::Point(tag, v));
        }
        let mut content = None;
        if let Some(meta) = meta {
            for f in fields(meta) {
                if let (1, Field::Len(pd)) = f? {
                    let mut name = &[][..];
                    for g in fields(pd) {
                        match g? {
                            (1, Field::Len(b)) => name = b,
                            (2, Field::Len(b)) => content = Some(b),
                            _ => {}
                        }
                    }
                    if self.plugin(tag, metadata).is_none() {
                        metadata.push((tag, plugin_of(name)));
                    }
                }
            }
        }
        Ok(match self.plugin(tag, metadata).unwrap_or(Plugin::Other) {
            Plugin::Scalars => match tensor(tensor_bytes.unwrap_or(&[]))?.scalar() {
                Some(v) => Item::Point(tag, v),
                None => Item::Nothing,
            },
            Plugin::Text => {
                let t = tensor(tensor_bytes.unwrap_or(&[]))?;
                let text = t
                    .strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s))
                    .collect::<Vec<_>>()
                    .join("\n");
                Item::Text(tag, text)
            }
            Plugin::HParams => match content.map(PluginData::decode).transpose()?.flatten() {
                Some(data) => Item::HParams(data),
                None => Item::Nothing,
            },
            Plugin::Other => Item::Nothing,
        })
    }

    /// Keeps what one value of a good event holds.
    fn keep(&mut self, item: Item<'_>, step: i64, wall_ns: i64) {
        let o = &mut self.out;
        match item {
            Item::Point(tag, v) => self.point(tag, step, wall_ns, v),
            Item::Text(tag, text) => o.texts.push(Text {
                tag: String::from_utf8_lossy(tag).into_owned(),
                step,
                wall_ns,
                text,
            }),
            Item::HParams(PluginData::SessionStart(s)) => {
                o.session_start.get_or_insert(s);
            }
            Item::HParams(PluginData::SessionEnd(e)) => o.session_end = Some(e),
            Item::HParams(PluginData::Experiment(e)) => {
                o.experiment.get_or_insert(e);
            }
            Item::Nothing => {}
        }
    }

    #[inline]
    fn point(&mut self, tag: &[u8], step: i64, wall_ns: i64, value: f64) {
        let code = match self.codes.get(tag) {
            Some(&c) => c,
            None => {
                let c = self.out.scalars.names.len() as u32;
                self.out
                    .scalars
                    .names
                    .push(String::from_utf8_lossy(tag).into_owned());
                self.codes.insert(tag.to_vec(), c);
                c
            }
        };
        let s = &mut self.out.scalars;
        s.codes.push(code);
        s.steps.push(step);
        s.wall_ns.push(wall_ns);
        s.values.push(value);
    }
}

/// Reads the files of one run, in the order given.
pub fn read_files<'a>(files: impl IntoIterator<Item = &'a [u8]>) -> Decoded {
    let mut r = Reader::new();
    for f in files {
        r.read_file(f);
    }
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::put_record;
    use crate::wire::{put_bytes, put_double, put_float, put_int, put_message};

    /// An event at `wall` seconds and `step` whose summary holds `values` (each a
    /// Summary.Value message's bytes).
    fn event(wall: f64, step: i64, values: &[Vec<u8>]) -> Vec<u8> {
        let mut e = Vec::new();
        put_double(&mut e, 1, wall);
        put_int(&mut e, 2, step);
        put_message(&mut e, 5, |s| {
            for v in values {
                put_bytes(s, 1, v);
            }
        });
        e
    }

    fn simple(tag: &str, v: f32) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, tag.as_bytes());
        put_float(&mut out, 2, v);
        out
    }

    #[test]
    fn an_event_whose_second_value_is_malformed_yields_nothing() {
        // A tag, then a varint key with no varint after it.
        let mut bad = Vec::new();
        put_bytes(&mut bad, 1, b"b");
        bad.push(0x10);
        let mut file = Vec::new();
        put_record(&mut file, &event(10.0, 1, &[simple("a", 1.0), bad]));
        put_record(&mut file, &event(20.0, 2, &[simple("c", 2.0)]));
        let d = read_files([file.as_slice()]);

        assert_eq!(d.damage.len(), 1, "{:?}", d.damage);
        assert_eq!(d.damage[0].damage.offset, 0);
        assert!(d.damage[0].damage.what.contains("does not decode"));
        // Only the good event's point, and only it counted.
        assert_eq!(d.scalars.names, vec!["c".to_owned()]);
        assert_eq!(d.scalars.values, vec![2.0]);
        assert_eq!(d.scalars.steps, vec![2]);
        assert_eq!(d.events, 1);
        assert_eq!(d.first_wall_ns, Some(20_000_000_000));
        assert_eq!(d.last_wall_ns, Some(20_000_000_000));
    }
}
