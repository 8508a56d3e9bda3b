//! The protobuf wire format, by hand: the few messages of an event file need only
//! varints, fixed 32/64-bit numbers and length-delimited fields.

/// Wire types.
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// The key of a field: its number and wire type (for field numbers below 16, one byte).
#[inline]
pub const fn key(field: u32, wire: u8) -> u32 {
    (field << 3) | wire as u32
}

/// Appends a varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes a varint of `v` takes.
#[inline]
pub const fn varint_len(v: u64) -> usize {
    // 1 byte per started 7 bits; 0 takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
pub fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, u64::from(key(field, wire)));
}

/// A varint field (int32, int64 and enums as protobuf encodes them: negative numbers
/// as their 64-bit two's complement).
#[inline]
pub fn put_int(out: &mut Vec<u8>, field: u32, v: i64) {
    put_key(out, field, VARINT);
    put_varint(out, v as u64);
}

#[inline]
pub fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_float(out: &mut Vec<u8>, field: u32, v: f32) {
    put_key(out, field, FIXED32);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length-delimited field (bytes, string or a message already encoded).
#[inline]
pub fn put_bytes(out: &mut Vec<u8>, field: u32, v: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

/// A message field whose body `f` writes: the body goes straight into `out`, then is
/// moved right by the length of its varint length (no temporary buffer).
pub fn put_message(out: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    put_key(out, field, LEN);
    let start = out.len();
    f(out);
    let len = out.len() - start;
    let mut head = Vec::with_capacity(10);
    put_varint(&mut head, len as u64);
    out.splice(start..start, head);
}

/// One field as read from a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl Field<'_> {
    /// A double field (fixed64), or `None` for another wire type.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Field::Fixed64(v) => Some(f64::from_bits(v)),
            _ => None,
        }
    }

    /// An int field (varint) as protobuf's int64, or `None` for another wire type.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Field::Varint(v) => Some(v as i64),
            _ => None,
        }
    }
}

/// Something a message's bytes do not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The fields of one message, in the order they are stored.
pub struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Iterates over the fields of `data`, one message.
pub fn fields(data: &[u8]) -> Fields<'_> {
    Fields { data, pos: 0 }
}

#[inline]
fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = data.get(*pos) else {
            return Err(WireError("a varint runs past the end of its message"));
        };
        *pos += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(WireError("a varint longer than 10 bytes"))
}

fn take<'a>(data: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], WireError> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= data.len())
        .ok_or(WireError("a field runs past the end of its message"))?;
    let bytes = &data[*pos..end];
    *pos = end;
    Ok(bytes)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let item = (|| {
            let k = read_varint(self.data, &mut self.pos)?;
            let number =
                u32::try_from(k >> 3).map_err(|_| WireError("a field number too large"))?;
            let field = match (k & 7) as u8 {
                VARINT => Field::Varint(read_varint(self.data, &mut self.pos)?),
                FIXED64 => {
                    let b = take(self.data, &mut self.pos, 8)?;
                    Field::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
                }
                LEN => {
                    let n = read_varint(self.data, &mut self.pos)?;
                    let n = usize::try_from(n).map_err(|_| WireError("a length too large"))?;
                    Field::Len(take(self.data, &mut self.pos, n)?)
                }
                FIXED32 => {
                    let b = take(self.data, &mut self.pos, 4)?;
                    Field::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
                }
                _ => return Err(WireError("a group or an unknown wire type")),
            };
            Ok((number, field))
        })();
        if item.is_err() {
            self.pos = self.data.len(); // stop after an error
        }
        Some(item)
    }
}

/// The values of a repeated fixed-size field that may be packed or not: one field
/// occurrence adds one value (unpacked) or many (packed).
pub fn packed_fixed64(field: Field<'_>, out: &mut Vec<u64>) {
    match field {
        Field::Fixed64(v) => out.push(v),
        Field::Len(b) => out.extend(
            b.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
        ),
        _ => {}
    }
}

/// Like [`packed_fixed64`], for 32-bit values.
pub fn packed_fixed32(field: Field<'_>, out: &mut Vec<u32>) {
    match field {
        Field::Fixed32(v) => out.push(v),
        Field::Len(b) => out.extend(
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))),
        ),
        _ => {}
    }
}

/// Like [`packed_fixed64`], for varints.
pub fn packed_varint(field: Field<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match field {
        Field::Varint(v) => out.push(v),
        Field::Len(b) => {
            let mut pos = 0;
            while pos < b.len() {
                out.push(read_varint(b, &mut pos)?);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX, (-1i64) as u64] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
        // The example of the protobuf documentation: 150 is 96 01.
        let mut out = Vec::new();
        put_int(&mut out, 1, 150);
        assert_eq!(out, [0x08, 0x96, 0x01]);
    }

    #[test]
    fn messages_nest_with_their_lengths() {
        let mut out = Vec::new();
        put_message(&mut out, 5, |m| {
            put_bytes(m, 1, &[7u8; 200]);
            put_double(m, 2, 1.5);
        });
        let (n, f) = fields(&out).next().unwrap().unwrap();
        assert_eq!(n, 5);
        let Field::Len(body) = f else { panic!() };
        let inner: Vec<_> = fields(body).map(Result::unwrap).collect();
        assert_eq!(inner[0], (1, Field::Len(&[7u8; 200])));
        assert_eq!(inner[1].1.as_f64(), Some(1.5));
    }

    #[test]
    fn truncated_messages_are_errors_not_panics() {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, b"hello");
        put_double(&mut out, 2, 2.0);
        for cut in 0..out.len() {
            let _ = fields(&out[..cut]).collect::<Vec<_>>();
        }
        assert!(fields(&out[..3]).any(|f| f.is_err()));
    }
}
