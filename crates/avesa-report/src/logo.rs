//! A tenant's logo, read from the PNG or JPEG an admin uploaded, as the image a PDF
//! draws: a JPEG travels as it is (PDF readers decode it, `DCTDecode`); a PNG is decoded
//! (the `png` crate) to 8-bit samples, its colour and its transparency kept apart and
//! each deflated (`FlateDecode`).

use std::io::Write;

/// The largest logo, in pixels either way (a header band is 78 points tall).
pub const MAX_SIDE: u32 = 2000;

/// What a PDF needs to draw the logo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub width: u32,
    pub height: u32,
    pub(crate) image: Image,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Image {
    /// A baseline or progressive JPEG of `components` (1 grey, 3 RGB) channels.
    Jpeg { bytes: Vec<u8>, components: u8 },
    /// Deflated 8-bit samples: grey or RGB, and the alpha channel if any.
    Flate { samples: Vec<u8>, rgb: bool, alpha: Option<Vec<u8>> },
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

impl Logo {
    /// A logo from a PNG or JPEG file's bytes; the error says what is wrong, for a person.
    pub fn from_bytes(bytes: &[u8]) -> Result<Logo, String> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            png_logo(bytes)
        } else if bytes.starts_with(&[0xFF, 0xD8]) {
            jpeg_logo(bytes)
        } else {
            Err("not a PNG or JPEG image".into())
        }
    }

    /// Its width when drawn `height` points tall, at most `max_width`.
    pub(crate) fn size_for(&self, height: f32, max_width: f32) -> (f32, f32) {
        let ratio = self.width as f32 / self.height.max(1) as f32;
        let w = height * ratio;
        if w > max_width { (max_width, max_width / ratio.max(0.01)) } else { (w, height) }
    }
}

fn png_logo(bytes: &[u8]) -> Result<Logo, String> {
    let mut decoder = png::Decoder::new_with_limits(bytes, png::Limits { bytes: 64 << 20 });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("not a readable PNG ({e})"))?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!("{width}×{height} pixels; at most {MAX_SIDE} either way"));
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(|e| format!("not a readable PNG ({e})"))?;
    let data = &buf[..frame.buffer_size()];
    let (channels, rgb, has_alpha) = match frame.color_type {
        png::ColorType::Grayscale => (1, false, false),
        png::ColorType::GrayscaleAlpha => (2, false, true),
        png::ColorType::Rgb => (3, true, false),
        png::ColorType::Rgba => (4, true, true),
        png::ColorType::Indexed => return Err("an indexed PNG that did not expand".into()),
    };
    let colour = if rgb { 3 } else { 1 };
    let mut samples = Vec::with_capacity(data.len() / channels * colour);
    let mut alpha = Vec::with_capacity(if has_alpha { data.len() / channels } else { 0 });
    for px in data.chunks_exact(channels) {
        samples.extend_from_slice(&px[..colour]);
        if has_alpha {
            alpha.push(px[colour]);
        }
    }
    let alpha = (has_alpha && alpha.iter().any(|a| *a != 255)).then(|| deflate(&alpha));
    Ok(Logo { width, height, image: Image::Flate { samples: deflate(&samples), rgb, alpha } })
}

/// A JPEG's size and channels, from its start-of-frame segment.
fn jpeg_logo(bytes: &[u8]) -> Result<Logo, String> {
    let bad = || "not a readable JPEG".to_owned();
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return Err(bad());
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        // Start of frame: baseline, extended or progressive Huffman coding.
        if matches!(marker, 0xC0..=0xC2) {
            let s = bytes.get(i + 4..i + 2 + len).ok_or_else(bad)?;
            if s.len() < 6 {
                return Err(bad());
            }
            let height = u32::from(u16::from_be_bytes([s[1], s[2]]));
            let width = u32::from(u16::from_be_bytes([s[3], s[4]]));
            let components = s[5];
            if !matches!(components, 1 | 3) {
                return Err("a CMYK JPEG; use RGB".into());
            }
            if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
                return Err(format!("{width}×{height} pixels; at most {MAX_SIDE} either way"));
            }
            return Ok(Logo {
                width,
                height,
                image: Image::Jpeg { bytes: bytes.to_vec(), components },
            });
        }
        if marker == 0xDA || len < 2 {
            break;
        }
        i += 2 + len;
    }
    Err(bad())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `w`×`h` RGBA PNG, half transparent on the left.
    pub(crate) fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = png::Encoder::new(&mut out, w, h);
            e.set_color(png::ColorType::Rgba);
            e.set_depth(png::BitDepth::Eight);
            let mut wr = e.write_header().unwrap();
            let data: Vec<u8> = (0..w * h)
                .flat_map(|i| [15, 118, 110, if i % w < w / 2 { 0 } else { 255 }])
                .collect();
            wr.write_image_data(&data).unwrap();
        }
        out
    }

    #[test]
    fn pngs_are_decoded_with_their_transparency_apart() {
        let logo = Logo::from_bytes(&png_bytes(40, 10)).unwrap();
        assert_eq!((logo.width, logo.height), (40, 10));
        let Image::Flate { samples, rgb, alpha } = &logo.image else { panic!("flate") };
        assert!(*rgb && alpha.is_some());
        let mut d = flate2::read::ZlibDecoder::new(samples.as_slice());
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut raw).unwrap();
        assert_eq!(raw.len(), 40 * 10 * 3);
        assert_eq!(&raw[..3], &[15, 118, 110]);
        assert_eq!(logo.size_for(20.0, 1000.0), (80.0, 20.0));
        assert_eq!(logo.size_for(20.0, 40.0), (40.0, 10.0));
    }

    #[test]
    fn jpegs_are_read_from_their_frame_header() {
        // SOI, an APP0 segment, SOF0 (8 bits, 3×2 pixels, 3 components), then SOS.
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        j.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x02, 0x00, 0x03, 0x03]);
        j.extend([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
        j.extend([0xFF, 0xDA, 0x00, 0x02]);
        let logo = Logo::from_bytes(&j).unwrap();
        assert_eq!((logo.width, logo.height), (3, 2));
        assert!(matches!(logo.image, Image::Jpeg { components: 3, .. }));
    }

    #[test]
    fn other_files_and_huge_images_are_refused() {
        assert!(Logo::from_bytes(b"GIF89a...").unwrap_err().contains("PNG or JPEG"));
        assert!(Logo::from_bytes(b"\x89PNG\r\n\x1a\ngarbage").is_err());
        assert!(Logo::from_bytes(&[0xFF, 0xD8, 0xFF]).is_err());
        assert!(Logo::from_bytes(&png_bytes(2001, 1)).unwrap_err().contains("at most 2000"));
    }
}
