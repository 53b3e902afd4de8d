//! What a photo says about the person who took it, removed before anyone else can read it.
//!
//! A phone's JPEG carries where it was taken (GPS), when, and with which device, in its EXIF
//! (and often XMP, IPTC and comments) — and sometimes more pictures or a video after the image
//! itself. An uploaded JPEG is stored without any of that: every APP1 (EXIF, XMP), APP13 (IPTC,
//! Photoshop) and COM segment goes, and so does whatever follows the image's end marker. Only
//! its orientation survives, as a minimal EXIF of one entry, so that it is still shown the right
//! way up. Everything that makes up the picture (tables, colour profile, scans) is copied
//! byte for byte.
//!
//! The file is walked marker by marker as it streams from one file to the other: no more than
//! one segment (at most 64 KiB) is ever held in memory.

use std::io::{self, BufRead, BufReader, Read, Write};

use image::metadata::Orientation;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const APP1: u8 = 0xE1;
const APP13: u8 = 0xED;
const COM: u8 = 0xFE;

/// Copies the JPEG from `input` to `output` without its metadata (see the module's note).
/// Returns whether anything was left out; `Ok(false)` means the output is the input again.
/// An error (not a JPEG, a malformed segment) leaves `output` incomplete: keep the input.
pub fn strip_jpeg(input: impl Read, output: &mut impl Write) -> io::Result<bool> {
    let mut r = BufReader::with_capacity(64 * 1024, input);
    let mut soi = [0; 2];
    r.read_exact(&mut soi)?;
    if soi != [0xFF, SOI] {
        return Err(invalid("not a JPEG"));
    }
    output.write_all(&soi)?;
    let mut removed = false;
    let mut exif_seen = false;
    loop {
        let Some(code) = next_marker(&mut r, output)? else {
            return Ok(removed); // cut short: what there was, without its metadata
        };
        match code {
            EOI => {
                output.write_all(&[0xFF, EOI])?;
                // Whatever follows the image (more pictures, a video, anything) goes with it.
                return Ok(removed || !r.fill_buf()?.is_empty());
            }
            // Markers without a segment (restart markers outside a scan, TEM, a second SOI).
            0x01 | SOI | 0xD0..=0xD7 => output.write_all(&[0xFF, code])?,
            _ => {
                let mut len = [0; 2];
                r.read_exact(&mut len)?;
                let size = usize::from(u16::from_be_bytes(len));
                if size < 2 {
                    return Err(invalid("a segment shorter than its length field"));
                }
                let mut data = vec![0; size - 2];
                r.read_exact(&mut data)?;
                if matches!(code, APP1 | APP13 | COM) {
                    removed = true;
                    if code == APP1 && !exif_seen && data.starts_with(b"Exif\0\0") {
                        exif_seen = true;
                        let turned = Orientation::from_exif_chunk(&data[6..]).map(Orientation::to_exif);
                        if let Some(orientation) = turned.filter(|&o| o != 1) {
                            output.write_all(&orientation_only(orientation))?;
                        }
                    }
                } else {
                    output.write_all(&[0xFF, code])?;
                    output.write_all(&len)?;
                    output.write_all(&data)?;
                }
            }
        }
    }
}

/// Copies bytes up to the next marker (a scan's coded data, with its stuffed `FF 00` and restart
/// markers) and returns that marker's code; `None` at the end of the input.
fn next_marker(r: &mut impl BufRead, out: &mut impl Write) -> io::Result<Option<u8>> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let Some(at) = buf.iter().position(|&b| b == 0xFF) else {
            let n = buf.len();
            out.write_all(buf)?;
            r.consume(n);
            continue;
        };
        out.write_all(&buf[..at])?;
        r.consume(at + 1);
        // Fill bytes (more 0xFF) may come before the code.
        let code = loop {
            let mut b = [0; 1];
            if r.read(&mut b)? == 0 {
                return Ok(None);
            }
            if b[0] != 0xFF {
                break b[0];
            }
        };
        match code {
            // Coded data: a stuffed 0xFF, or a restart marker inside a scan.
            0x00 | 0xD0..=0xD7 => out.write_all(&[0xFF, code])?,
            _ => return Ok(Some(code)),
        }
    }
}

/// An APP1 segment with an EXIF of one entry: the orientation.
fn orientation_only(orientation: u8) -> [u8; 36] {
    let mut s = [0; 36];
    s[..4].copy_from_slice(&[0xFF, APP1, 0, 34]);
    s[4..10].copy_from_slice(b"Exif\0\0");
    // Big-endian TIFF header, the first IFD right after it (offset 8).
    s[10..18].copy_from_slice(&[b'M', b'M', 0, 42, 0, 0, 0, 8]);
    // One entry: tag 0x0112 (Orientation), type 3 (SHORT), count 1, the value; no next IFD.
    s[18..20].copy_from_slice(&[0, 1]);
    s[20..32].copy_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
    s
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageDecoder as _;

    /// A small JPEG as a camera might write it: EXIF with orientation `orientation` and a GPS
    /// position, XMP, a comment, the picture, and something after its end.
    fn camera_jpeg(orientation: u16) -> (Vec<u8>, Vec<u8>) {
        let img = image::RgbImage::from_fn(40, 24, |x, y| image::Rgb([(x * 6) as u8, (y * 10) as u8, 90]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 85).encode_image(&img).expect("encodes");
        // EXIF (little-endian): IFD0 with Orientation and a GPS IFD pointer; the GPS IFD has a
        // latitude reference and the text "SECRETPLACE" as its processing method.
        let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0];
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0]);
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]); // GPS IFD at 38
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&[0x01, 0, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
        tiff.extend_from_slice(&[0x1B, 0, 7, 0, 11, 0, 0, 0, 68, 0, 0, 0]); // 11 bytes at 68
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        tiff.extend_from_slice(b"SECRETPLACE");
        let segment = |code: u8, body: &[u8]| {
            let mut s = vec![0xFF, code];
            s.extend_from_slice(&u16::try_from(body.len() + 2).expect("small").to_be_bytes());
            s.extend_from_slice(body);
            s
        };
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(&tiff);
        let mut camera = plain[..2].to_vec();
        camera.extend(segment(APP1, &exif));
        camera.extend(segment(APP1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>SECRETPLACE</x:xmpmeta>"));
        camera.extend(segment(COM, b"taken at SECRETPLACE"));
        camera.extend_from_slice(&plain[2..]);
        camera.extend_from_slice(b"MOTIONPHOTO SECRETPLACE");
        (camera, plain)
    }

    fn strip(bytes: &[u8]) -> (bool, Vec<u8>) {
        let mut out = Vec::new();
        let removed = strip_jpeg(bytes, &mut out).expect("a JPEG");
        (removed, out)
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_camera_photo_keeps_its_picture_and_orientation_and_nothing_else() {
        let (camera, plain) = camera_jpeg(6);
        assert_eq!(
            Orientation::from_exif_chunk(&camera[12..]),
            Some(Orientation::Rotate90),
            "the test's EXIF is valid"
        );
        let (removed, out) = strip(&camera);
        assert!(removed);
        assert!(!contains(&out, b"SECRETPLACE"), "no GPS, XMP, comment or trailer left");
        assert!(!contains(&out, b"xmpmeta"));
        // The picture's own segments and scan, byte for byte: the plain encoding plus the
        // one-entry EXIF right after SOI.
        let mut expected = plain[..2].to_vec();
        expected.extend_from_slice(&orientation_only(6));
        expected.extend_from_slice(&plain[2..]);
        assert_eq!(out, expected);
        let mut decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&out)).expect("decodes");
        assert_eq!(decoder.orientation().expect("orientation"), Orientation::Rotate90);
        assert_eq!(decoder.dimensions(), (40, 24));
        image::load_from_memory(&out).expect("the whole picture decodes");
    }

    #[test]
    fn upright_photos_lose_their_exif_entirely_and_clean_ones_are_left_alone() {
        let (camera, plain) = camera_jpeg(1);
        let (removed, out) = strip(&camera);
        assert!(removed);
        assert_eq!(out, plain, "no EXIF at all when there is no turn to keep");
        let (removed, again) = strip(&out);
        assert!(!removed, "nothing to remove the second time");
        assert_eq!(again, out);
    }

    #[test]
    fn what_is_not_a_jpeg_or_is_cut_short_is_handled() {
        assert!(strip_jpeg(&b"\x89PNG\r\n\x1a\n"[..], &mut Vec::new()).is_err());
        assert!(strip_jpeg(&[0xFF, SOI, 0xFF, APP1, 0, 1][..], &mut Vec::new()).is_err(), "length below 2");
        assert!(strip_jpeg(&[0xFF, SOI, 0xFF, APP1, 0, 40, 1, 2][..], &mut Vec::new()).is_err(), "segment cut short");
        // Cut inside the scan: what there is, without the metadata before it.
        let (camera, _) = camera_jpeg(3);
        let cut = &camera[..camera.len() - 40];
        let mut out = Vec::new();
        assert!(strip_jpeg(cut, &mut out).expect("kept"));
        assert!(!contains(&out, b"SECRETPLACE"));
    }
}
