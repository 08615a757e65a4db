//! Repacks the PNGs a canvas writes, losslessly: Chromium filters every row the same way
//! and compresses lightly for speed, so its 512 px icon is four times the size it needs.
//! Here each row gets the filter that suits it best and the data the strongest deflate.
//! Only what a canvas writes is handled: 8-bit RGBA, not interlaced.

use std::io::{Read as _, Write as _};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const RGBA: usize = 4;

/// The same image in a smaller PNG.
pub(crate) fn repack(png: &[u8]) -> Vec<u8> {
    assert!(png.starts_with(SIGNATURE), "not a PNG");
    let mut header = Vec::new();
    let mut data = Vec::new();
    let mut at = SIGNATURE.len();
    while at + 12 <= png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let body = &png[at + 8..at + 8 + length];
        match kind {
            b"IHDR" => header = body.to_vec(),
            b"IDAT" => data.extend_from_slice(body),
            _ => {}
        }
        at += 12 + length;
    }
    assert_eq!(
        &header[8..13],
        [8, 6, 0, 0, 0],
        "not 8-bit RGBA without interlace"
    );
    let width = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
    let mut filtered = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..])
        .read_to_end(&mut filtered)
        .expect("image data inflates");
    let rows = unfilter(&filtered, width * RGBA);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&refilter(&rows)).unwrap();
    let data = encoder.finish().unwrap();

    let mut out = SIGNATURE.to_vec();
    chunk(&mut out, *b"IHDR", &header);
    chunk(&mut out, *b"IDAT", &data);
    chunk(&mut out, *b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: [u8; 4], body: &[u8]) {
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&kind);
    crc.update(body);
    out.extend_from_slice(&kind);
    out.extend_from_slice(body);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// The predictor of filter `kind` (PNG §9.2) for byte `x` of a row above `prior`.
fn predict(kind: u8, row: &[u8], prior: &[u8], x: usize) -> u8 {
    let left = if x >= RGBA { row[x - RGBA] } else { 0 };
    let up = prior[x];
    let corner = if x >= RGBA { prior[x - RGBA] } else { 0 };
    match kind {
        0 => 0,
        1 => left,
        2 => up,
        3 => u8::midpoint(left, up),
        _ => paeth(left, up, corner),
    }
}

/// The neighbour closest to `left + up - corner`, ties going left, then up.
fn paeth(left: u8, up: u8, corner: u8) -> u8 {
    let estimate = i16::from(left) + i16::from(up) - i16::from(corner);
    let distance = |byte: u8| (estimate - i16::from(byte)).abs();
    if distance(left) <= distance(up) && distance(left) <= distance(corner) {
        left
    } else if distance(up) <= distance(corner) {
        up
    } else {
        corner
    }
}

fn unfilter(filtered: &[u8], stride: usize) -> Vec<Vec<u8>> {
    let mut rows: Vec<Vec<u8>> = Vec::new();
    let blank = vec![0; stride];
    for line in filtered.chunks(stride + 1) {
        let kind = line[0];
        let prior = rows.last().unwrap_or(&blank).clone();
        let mut row = line[1..].to_vec();
        for x in 0..stride {
            row[x] = row[x].wrapping_add(predict(kind, &row, &prior, x));
        }
        rows.push(row);
    }
    rows
}

/// Each row with the filter whose output is smallest in absolute value (the usual
/// heuristic: small values deflate well).
fn refilter(rows: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let blank = vec![0; rows.first().map_or(0, Vec::len)];
    for (y, row) in rows.iter().enumerate() {
        let prior = if y == 0 { &blank } else { &rows[y - 1] };
        let best = (0..=4)
            .map(|kind| {
                let line: Vec<u8> = (0..row.len())
                    .map(|x| row[x].wrapping_sub(predict(kind, row, prior, x)))
                    .collect();
                let cost: u64 = line
                    .iter()
                    .map(|&v| u64::from(v.min(0u8.wrapping_sub(v))))
                    .sum();
                (cost, kind, line)
            })
            .min_by_key(|(cost, kind, _)| (*cost, *kind))
            .unwrap();
        out.push(best.1);
        out.extend_from_slice(&best.2);
    }
    out
}
