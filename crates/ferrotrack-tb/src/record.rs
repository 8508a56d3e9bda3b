//! TFRecord framing: `length (u64 LE) | masked CRC of length | data | masked CRC of data`.

use crate::crc::masked_crc32c;

/// Bytes of framing around each record's data.
pub const FRAME_BYTES: usize = 8 + 4 + 4;

/// Appends one framed record holding `data`.
#[inline]
pub fn put_record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// Frames a record whose data was written into `out` from `start` on, with 12 bytes
/// reserved in front of it (see [`reserve_header`]): no copy of the data.
#[inline]
pub fn seal_record(out: &mut Vec<u8>, header_at: usize) {
    let data_at = header_at + 12;
    let len = ((out.len() - data_at) as u64).to_le_bytes();
    let crc = masked_crc32c(&out[data_at..]).to_le_bytes();
    out[header_at..header_at + 8].copy_from_slice(&len);
    out[header_at + 8..data_at].copy_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(&crc);
}

/// Reserves the 12 header bytes of a record whose data comes next; returns where they
/// are, for [`seal_record`].
#[inline]
pub fn reserve_header(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0u8; 12]);
    at
}

/// Something wrong in a file of records, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where the damaged record starts.
    pub offset: u64,
    /// What is wrong there.
    pub what: String,
    /// Bytes skipped to reach the next good record (or the end of the file).
    pub skipped: u64,
}

/// The records of a file, in order, skipping damaged ones (each reported once in
/// [`Records::damage`]).
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    /// Every damaged place met so far.
    pub damage: Vec<Damage>,
}

/// Reads the records of `data` (a whole file).
pub fn records(data: &[u8]) -> Records<'_> {
    Records {
        data,
        pos: 0,
        damage: Vec::new(),
    }
}

/// What is at `pos`: a whole good record (its data and the offset after it) or why not.
pub(crate) enum Frame<'a> {
    Good(&'a [u8], usize),
    Truncated(&'static str),
    Bad(&'static str),
}

pub(crate) fn frame_at(data: &[u8], pos: usize) -> Frame<'_> {
    let rest = &data[pos..];
    if rest.len() < 12 {
        return Frame::Truncated("a record header cut short");
    }
    let len_bytes: [u8; 8] = rest[..8].try_into().expect("8 bytes");
    let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
    if masked_crc32c(&len_bytes) != crc {
        return Frame::Bad("the CRC of the record length does not match");
    }
    let len = u64::from_le_bytes(len_bytes);
    let Some(end) = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add(FRAME_BYTES))
        .filter(|&n| n <= rest.len())
    else {
        return Frame::Truncated("a record cut short (the file ends inside it)");
    };
    let body = &rest[12..end - 4];
    let crc = u32::from_le_bytes(rest[end - 4..end].try_into().expect("4 bytes"));
    if masked_crc32c(body) != crc {
        return Frame::Bad("the CRC of the record data does not match");
    }
    Frame::Good(body, pos + end)
}

impl<'a> Records<'a> {
    /// The offset of the next record to read.
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// From a damaged place at `from`: the next offset where a whole good record starts
    /// (a scan, byte by byte), or the end.
    fn resync(&self, from: usize) -> usize {
        (from + 1..self.data.len())
            .find(|&p| matches!(frame_at(self.data, p), Frame::Good(..)))
            .unwrap_or(self.data.len())
    }
}

impl<'a> Iterator for Records<'a> {
    /// `(offset, data)` of each good record.
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.data.len() {
            let at = self.pos;
            match frame_at(self.data, at) {
                Frame::Good(body, next) => {
                    self.pos = next;
                    return Some((at as u64, body));
                }
                Frame::Truncated(what) => {
                    self.damage.push(Damage {
                        offset: at as u64,
                        what: what.into(),
                        skipped: (self.data.len() - at) as u64,
                    });
                    self.pos = self.data.len();
                }
                Frame::Bad(what) => {
                    let next = self.resync(at);
                    self.damage.push(Damage {
                        offset: at as u64,
                        what: what.into(),
                        skipped: (next - at) as u64,
                    });
                    self.pos = next;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            put_record(&mut out, r);
        }
        out
    }

    #[test]
    fn sealed_and_put_records_are_the_same_bytes() {
        let mut a = Vec::new();
        put_record(&mut a, b"hello event");
        let mut b = Vec::new();
        let at = reserve_header(&mut b);
        b.extend_from_slice(b"hello event");
        seal_record(&mut b, at);
        assert_eq!(a, b);
        assert_eq!(a.len(), 11 + FRAME_BYTES);
    }

    #[test]
    fn records_read_back_in_order() {
        let data = file(&[b"one", b"", b"three"]);
        let got: Vec<_> = records(&data).map(|(_, r)| r.to_vec()).collect();
        assert_eq!(got, [b"one".to_vec(), vec![], b"three".to_vec()]);
    }

    #[test]
    fn a_truncated_tail_keeps_the_records_before_it() {
        let data = file(&[b"one", b"two"]);
        for cut in 20..data.len() {
            let mut r = records(&data[..cut]);
            assert_eq!(r.next().map(|(_, d)| d), Some(&b"one"[..]));
            assert_eq!(r.next(), None);
            assert_eq!(r.damage.len(), 1, "cut {cut}");
            assert_eq!(r.damage[0].offset, 19);
        }
    }

    #[test]
    fn a_corrupt_record_is_skipped_and_the_next_ones_kept() {
        let mut data = file(&[b"one", b"two", b"three"]);
        data[19 + 13] ^= 0x40; // inside the data of "two"
        let mut r = records(&data);
        let got: Vec<_> = r.by_ref().map(|(_, d)| d.to_vec()).collect();
        assert_eq!(got, [b"one".to_vec(), b"three".to_vec()]);
        assert_eq!(r.damage[0].offset, 19);
        assert_eq!(r.damage[0].skipped, 19);
        // A damaged length: found again by scanning.
        let mut data = file(&[b"one", b"two", b"three"]);
        data[19] ^= 0x01;
        let got: Vec<_> = records(&data).map(|(_, d)| d.to_vec()).collect();
        assert_eq!(got, [b"one".to_vec(), b"three".to_vec()]);
    }
}
