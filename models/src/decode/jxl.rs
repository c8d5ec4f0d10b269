//! JPEG XL through jxl-oxide (pure Rust): the first frame (the still of an animation), rendered to
//! sRGB by jxl-oxide's colour management, with the codestream's orientation applied by jxl-oxide
//! (so `DecodedImage::orientation` stays 1: an EXIF box's orientation is informative only, as in
//! libjxl). Transparency is composited onto white.

use std::io::Cursor;

use image::{ImageBuffer, Rgba, RgbaImage};
use jxl_oxide::{EnumColourEncoding, JxlImage, RenderingIntent};

use super::{
    check_pixels, composite_on_white, decode_error, guarded, DecodeOptions, DecodedImage,
    ImageFormat,
};
use crate::error::Result;

pub fn decode(bytes: &[u8], label: &str, options: &DecodeOptions) -> Result<DecodedImage> {
    guarded(label, "jxl-oxide", || decode_inner(bytes, label, options))
}

fn decode_inner(bytes: &[u8], label: &str, options: &DecodeOptions) -> Result<DecodedImage> {
    let jxl_error =
        |e: Box<dyn std::error::Error + Send + Sync>| decode_error(label, format!("JPEG XL: {e}"));
    let mut image = JxlImage::builder()
        .read(Cursor::new(bytes))
        .map_err(jxl_error)?;
    let (width, height) = (image.width(), image.height());
    check_pixels(label, width, height, options)?;
    image.request_color_encoding(EnumColourEncoding::srgb(RenderingIntent::Relative));
    if image.num_loaded_keyframes() == 0 {
        return Err(decode_error(
            label,
            "JPEG XL: truncated before the first frame",
        ));
    }
    let exif = image
        .aux_boxes()
        .first_exif()
        .ok()
        .and_then(|exif| match exif {
            jxl_oxide::AuxBoxData::Data(raw) => {
                let payload = raw.payload();
                payload
                    .get(raw.tiff_header_offset() as usize..)
                    .map(<[u8]>::to_vec)
            }
            _ => None,
        });
    let render = image.render_frame(0).map_err(jxl_error)?;
    let mut stream = render.stream();
    let channels = stream.channels() as usize;
    let (w, h) = (stream.width(), stream.height());
    let mut buffer = vec![0u8; w as usize * h as usize * channels];
    stream.write_to_buffer(&mut buffer);
    let mut rgba: RgbaImage = ImageBuffer::new(w, h);
    for (index, pixel) in rgba.pixels_mut().enumerate() {
        let at = index * channels;
        let sample = |c: usize| buffer.get(at + c).copied().unwrap_or(0);
        *pixel = match channels {
            1 => Rgba([sample(0), sample(0), sample(0), 255]),
            2 => Rgba([sample(0), sample(0), sample(0), sample(1)]),
            3 => Rgba([sample(0), sample(1), sample(2), 255]),
            _ => Rgba([sample(0), sample(1), sample(2), sample(3)]),
        };
    }
    let has_alpha = channels == 2 || channels >= 4;
    let rgb = if has_alpha {
        composite_on_white(&rgba)
    } else {
        image::DynamicImage::ImageRgba8(rgba).into_rgb8()
    };
    Ok(DecodedImage {
        original_width: rgb.width(),
        original_height: rgb.height(),
        rgb,
        format: ImageFormat::JpegXl,
        orientation: 1,
        exif,
        scale_denominator: 1,
        partial: None,
        source: None,
    })
}
