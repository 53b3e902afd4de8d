//! What a photo says about the person who took it, removed before anyone else can read it.
//!
//! A phone's JPEG carries where it was taken (GPS), when, and with which device, in its EXIF —
//! and, depending on the maker, in XMP, IPTC, comments, maker segments (serial numbers, unique
//! ids), Content Credentials, preview images, and more pictures or a video after the image
//! itself. An uploaded JPEG keeps only what showing it needs: its frames, tables, restart
//! interval and scans, a JFIF header (without its thumbnail), an ICC colour profile and Adobe's
//! 12-byte colour-transform segment. Everything else goes — other APPn segments, comments,
//! markers reserved for extensions, bytes between segments — and so does whatever follows the
//! image's end marker (an HDR gain map, a motion photo's video: the photo shows as a plain one).
//! Its orientation survives as a minimal EXIF of one entry, so it still shows the right way up.
//!
//! A file that starts as a JPEG but cannot be read to its end is kept as far as it could be
//! read (its metadata gone, an end marker added): never stored with its metadata.
//!
//! The file is walked marker by marker as it streams from one file to the other: no more than
//! one segment (at most 64 KiB) is ever held in memory.

use std::io::{self, BufRead, BufReader, Read, Write};

use image::metadata::Orientation;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;

/// Copies the JPEG from `input` to `output` without its metadata (see the module's note).
/// Returns whether anything was left out; `Ok(false)` means the output is the input again.
/// An error means the input is not a JPEG (no start marker: nothing was written) or could not be
/// read or written.
pub fn strip_jpeg(input: impl Read, output: &mut impl Write) -> io::Result<bool> {
    let mut r = BufReader::with_capacity(64 * 1024, input);
    let mut soi = [0; 2];
    r.read_exact(&mut soi)?;
    if soi != [0xFF, SOI] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a JPEG"));
    }
    output.write_all(&soi)?;
    let mut removed = false;
    let mut exif_seen = false;
    let mut in_scan = false;
    let mut data = Vec::new();
    loop {
        // Cut short: what could be read, ended.
        let Some((code, skipped)) = next_marker(&mut r, output, in_scan)? else { return cut_short(output) };
        removed |= skipped;
        in_scan = false;
        match code {
            EOI => {
                output.write_all(&[0xFF, EOI])?;
                // Whatever follows the image (more pictures, a video, anything) goes with it.
                return Ok(removed || !fill_buf(&mut r)?.is_empty());
            }
            // Markers without a segment that a picture has no use for (TEM, a second SOI).
            0x01 | SOI => removed = true,
            _ => {
                let mut len = [0; 2];
                let size = match r.read_exact(&mut len) {
                    Ok(()) => usize::from(u16::from_be_bytes(len)),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return cut_short(output),
                    Err(e) => return Err(e),
                };
                // Shorter than its own length field: not a JPEG from here on.
                if size < 2 {
                    return cut_short(output);
                }
                data.resize(size - 2, 0);
                match r.read_exact(&mut data) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return cut_short(output),
                    Err(e) => return Err(e),
                }
                match kept(code, &data) {
                    Kept::Whole => {
                        output.write_all(&[0xFF, code])?;
                        output.write_all(&len)?;
                        output.write_all(&data)?;
                        in_scan = code == SOS; // its coded data follows
                    }
                    Kept::Adobe => {
                        // Its 12 bytes: what decoding reads (the colour transform), no more.
                        removed |= data.len() > 12;
                        output.write_all(&[0xFF, APP14, 0, 14])?;
                        output.write_all(&data[..12])?;
                    }
                    Kept::JfifWithoutThumbnail => {
                        // The JFIF header's 14 bytes with no thumbnail (0 × 0).
                        removed |= data.len() > 14;
                        let mut jfif = [0; 14];
                        jfif.copy_from_slice(&data[..14]);
                        jfif[12] = 0;
                        jfif[13] = 0;
                        output.write_all(&[0xFF, APP0, 0, 16])?;
                        output.write_all(&jfif)?;
                    }
                    Kept::Nothing => {
                        removed = true;
                        if code == APP1 && !exif_seen && data.starts_with(b"Exif\0\0") {
                            exif_seen = true;
                            let turned = Orientation::from_exif_chunk(&data[6..]).map(Orientation::to_exif);
                            if let Some(orientation) = turned.filter(|&o| o != 1) {
                                output.write_all(&orientation_only(orientation))?;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What of a segment is kept.
enum Kept {
    Whole,
    JfifWithoutThumbnail,
    Adobe,
    Nothing,
}

/// Only what showing the picture needs: frames (SOFn), Huffman and arithmetic-coding tables
/// (DHT, DAC), quantisation tables (DQT), the restart interval (DRI), scans (SOS), a number of
/// lines (DNL); the JFIF header, an ICC profile and Adobe's colour-transform segment. Nothing
/// else: other APPn, comments, and markers reserved for extensions.
fn kept(code: u8, data: &[u8]) -> Kept {
    match code {
        // SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC), which are listed on their own.
        0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => Kept::Whole,
        0xC4 | 0xCC | 0xDB | 0xDD | SOS | 0xDC => Kept::Whole,
        APP0 if data.starts_with(b"JFIF\0") && data.len() >= 14 => Kept::JfifWithoutThumbnail,
        APP2 if data.starts_with(b"ICC_PROFILE\0") => Kept::Whole,
        APP14 if data.starts_with(b"Adobe") && data.len() >= 12 => Kept::Adobe,
        _ => Kept::Nothing,
    }
}

/// The input ended (or stopped being a JPEG) before its end marker: end what was written.
fn cut_short(output: &mut impl Write) -> io::Result<bool> {
    output.write_all(&[0xFF, EOI])?;
    Ok(true)
}

/// Finds the next marker and returns its code, and whether bytes were skipped to get there;
/// `None` at the end of the input. In a scan (`in_scan`) the bytes before it are its coded data
/// (with stuffed `FF 00` and restart markers) and are copied; elsewhere there should be none,
/// and any there are dropped.
fn next_marker(r: &mut impl BufRead, out: &mut impl Write, in_scan: bool) -> io::Result<Option<(u8, bool)>> {
    let mut skipped = false;
    loop {
        let buf = fill_buf(r)?;
        if buf.is_empty() {
            return Ok(None);
        }
        let at = buf.iter().position(|&b| b == 0xFF);
        let n = at.unwrap_or(buf.len());
        if in_scan {
            out.write_all(&buf[..n])?;
        } else {
            skipped |= n > 0;
        }
        r.consume(n);
        if at.is_none() {
            continue;
        }
        r.consume(1);
        // Fill bytes (more 0xFF) may come before the code.
        let code = loop {
            let buf = fill_buf(r)?;
            let Some(&b) = buf.first() else { return Ok(None) };
            r.consume(1);
            if b != 0xFF {
                break b;
            }
        };
        match code {
            // Coded data: a stuffed 0xFF, or a restart marker inside a scan.
            0x00 | 0xD0..=0xD7 if in_scan => out.write_all(&[0xFF, code])?,
            0x00 | 0xD0..=0xD7 => skipped = true,
            _ => return Ok(Some((code, skipped))),
        }
    }
}

/// `fill_buf`, asked again while a signal interrupts it (a network file system).
fn fill_buf(r: &mut impl BufRead) -> io::Result<&[u8]> {
    while let Err(e) = r.fill_buf() {
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    r.fill_buf() // what is buffered now, without reading again
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

#[cfg(test)]
mod tests {
    use super::*;

    const COM: u8 = 0xFE;
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

    fn segment(code: u8, body: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, code];
        s.extend_from_slice(&u16::try_from(body.len() + 2).expect("small").to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    #[test]
    fn only_what_showing_the_picture_needs_is_kept() {
        let (_, plain) = camera_jpeg(1);
        let icc = segment(APP2, b"ICC_PROFILE\0\x01\x01colour data");
        let adobe = segment(APP14, b"Adobe\0\x64\0\0\0\0\x01");
        let adobe_longer = segment(APP14, b"Adobe\0\x64\0\0\0\0\x01SECRETPLACE");
        let mut jfif_thumb = b"JFIF\0\x01\x02\0\0\x01\0\x01\x01\x01".to_vec();
        jfif_thumb.extend_from_slice(&[1, 2, 3]); // a 1×1 RGB thumbnail
        let mut with = plain[..2].to_vec();
        with.extend(segment(APP0, &jfif_thumb));
        with.extend(segment(APP2, b"MPF\0SECRETPLACE")); // multi-picture index
        with.extend(&icc);
        with.extend(segment(0xE5, b"ssuniqueid\0SECRETPLACE")); // a maker's unique id
        with.extend(segment(0xEB, b"JP\0\0SECRETPLACE")); // Content Credentials
        with.extend(segment(0xED, b"Photoshop 3.0\0SECRETPLACE")); // IPTC
        with.extend(&adobe_longer);
        with.extend(segment(0xF0, b"SECRETPLACE")); // a marker reserved for extensions
        with.extend_from_slice(b"SECRETPLACE between segments");
        with.extend_from_slice(&[0xFF, 0x01]); // TEM
        with.extend_from_slice(&plain[2..]);
        let (removed, out) = strip(&with);
        assert!(removed);
        assert!(!contains(&out, b"SECRETPLACE"));
        assert!(contains(&out, &icc) && contains(&out, &adobe), "colour kept");
        let jfif_kept = segment(APP0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0");
        assert_eq!(&out[2..2 + jfif_kept.len()], &jfif_kept[..], "JFIF without its thumbnail");
        image::load_from_memory(&out).expect("decodes");
    }

    #[test]
    fn coded_data_fill_bytes_and_restart_markers_are_copied_as_they_are() {
        // A scan whose coded data holds a stuffed 0xFF and restart markers, and fill bytes
        // before the end marker: copied byte for byte (fill bytes are optional and dropped).
        let (_, plain) = camera_jpeg(1);
        let sos = plain.windows(2).position(|w| w == [0xFF, 0xDA]).expect("a scan");
        let mut file = plain[..sos].to_vec();
        file.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        let coded = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD7, 0x78];
        file.extend_from_slice(&coded);
        file.extend_from_slice(&[0xFF, 0xFF, 0xFF, EOI]);
        let (removed, out) = strip(&file);
        assert!(!removed);
        let mut expected = plain[..sos].to_vec();
        expected.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        expected.extend_from_slice(&coded);
        expected.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(out, expected);
    }

    #[test]
    fn what_cannot_be_read_to_its_end_is_kept_without_its_metadata() {
        assert!(strip_jpeg(&b"\x89PNG\r\n\x1a\n"[..], &mut Vec::new()).is_err(), "not a JPEG: nothing written");
        let (camera, _) = camera_jpeg(1);
        let exif_end = 6 + usize::from(u16::from_be_bytes([camera[4], camera[5]]));
        for (what, file) in [
            ("a length below 2", [&camera[..exif_end], &[0xFF, 0xE5, 0, 1][..]].concat()),
            ("a segment cut short", [&camera[..exif_end], &[0xFF, 0xE5, 0, 40, 1, 2][..]].concat()),
            ("cut inside the scan", camera[..camera.len() - 40].to_vec()),
            ("a 0xFF at the very end", [&camera[..camera.len() - 40], &[0xFF][..]].concat()),
        ] {
            let (removed, out) = strip(&file);
            assert!(removed, "{what}");
            assert!(!contains(&out, b"SECRETPLACE"), "{what}: no metadata kept");
            assert_eq!(&out[out.len() - 2..], &[0xFF, EOI], "{what}: ended");
        }
    }
}
