//! Pixel operations of the OCR pipeline, each bit-exact with the OpenCV call RapidOCR makes.
//!
//! - [`resize_linear`] = `cv2.resize(…, INTER_LINEAR)` on 8-bit images: OpenCV's fixed-point
//!   bilinear (11-bit weights, its SIMD rounding), no antialiasing when shrinking. A smoother
//!   resampler would read better on paper and differ from the reference on every crop.
//! - [`warp_perspective_cubic`] = `cv2.warpPerspective(…, INTER_CUBIC, BORDER_REPLICATE)` as
//!   OpenCV 5 computes it: the inverse map per pixel and bicubic weights (a = −0.75) in floating
//!   point.
//! - [`rotate90_ccw`] = `np.rot90`, [`rotate180`] = `cv2.rotate(…, ROTATE_180)`.
//! - [`pad_vertically`] = `cv2.copyMakeBorder` with black rows above and below.
//!
//! Images are `image::RgbImage`; the networks want BGR, which the tensor builders swap.

use image::RgbImage;

use crate::geometry::{Homography, Point, Quad};

const RESIZE_COEF_SCALE: f32 = 2048.0;

/// One output column (or row) of a bilinear resize: the two source indices and their weights.
#[derive(Debug, Clone, Copy)]
struct Tap {
    first: usize,
    second: usize,
    w0: i32,
    w1: i32,
}

fn linear_taps(source: usize, target: usize, clamp_fraction: bool) -> Vec<Tap> {
    let scale = source as f64 / target as f64;
    (0..target)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut index = f.floor() as i64;
            let mut fraction = f - index as f32;
            if clamp_fraction {
                // Columns: OpenCV pins the weight to the edge pixel outside the image.
                if index < 0 {
                    index = 0;
                    fraction = 0.0;
                }
                if index >= source as i64 - 1 {
                    index = source as i64 - 1;
                    fraction = 0.0;
                }
            }
            let w0 = ((1.0 - fraction) * RESIZE_COEF_SCALE).round_ties_even() as i32;
            let w1 = (fraction * RESIZE_COEF_SCALE).round_ties_even() as i32;
            let clamp = |i: i64| i.clamp(0, source as i64 - 1) as usize;
            Tap {
                first: clamp(index),
                second: clamp(index + 1),
                w0,
                w1,
            }
        })
        .collect()
}

/// `cv2.resize(image, (width, height))` with OpenCV's default bilinear interpolation.
pub fn resize_linear(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (source_width, source_height) = (image.width() as usize, image.height() as usize);
    let (width, height) = (width.max(1) as usize, height.max(1) as usize);
    if (source_width, source_height) == (width, height) {
        return image.clone();
    }
    let columns = linear_taps(source_width, width, true);
    let rows = linear_taps(source_height, height, false);
    let src = image.as_raw();
    let stride = source_width * 3;
    // Horizontal pass per needed source row, cached: consecutive output rows share source rows.
    let horizontal = |row: usize, out: &mut Vec<i32>| {
        out.clear();
        let line = &src[row * stride..(row + 1) * stride];
        for tap in &columns {
            for c in 0..3 {
                out.push(
                    i32::from(line[tap.first * 3 + c]) * tap.w0
                        + i32::from(line[tap.second * 3 + c]) * tap.w1,
                );
            }
        }
    };
    let mut cache: [(usize, Vec<i32>); 2] = [(usize::MAX, Vec::new()), (usize::MAX, Vec::new())];
    let mut out = vec![0u8; width * height * 3];
    for (y, tap) in rows.iter().enumerate() {
        for (slot, row) in [tap.first, tap.second].into_iter().enumerate() {
            if cache[slot].0 != row {
                if cache[1 - slot].0 == row {
                    let [first, second] = &mut cache;
                    let (to, from) = if slot == 0 {
                        (first, second)
                    } else {
                        (second, first)
                    };
                    to.1.clone_from(&from.1);
                } else {
                    horizontal(row, &mut cache[slot].1);
                }
                cache[slot].0 = row;
            }
        }
        let (r0, r1) = (&cache[0].1, &cache[1].1);
        let line = &mut out[y * width * 3..(y + 1) * width * 3];
        for (i, value) in line.iter_mut().enumerate() {
            // OpenCV's SIMD vertical pass (VResizeLinearVec_32s8u): the same rounding on x86.
            let v = (((tap.w0 * (r0[i] >> 4)) >> 16) + ((tap.w1 * (r1[i] >> 4)) >> 16) + 2) >> 2;
            *value = v.clamp(0, 255) as u8;
        }
    }
    RgbImage::from_raw(width as u32, height as u32, out).expect("buffer sized for the image")
}

fn cubic_coefficients(x: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}

/// The quad `corners` (top-left, top-right, bottom-right, bottom-left) of `image` warped onto a
/// `width × height` rectangle, as RapidOCR's `get_rotate_crop_image` does.
pub fn warp_perspective_cubic(
    image: &RgbImage,
    corners: &Quad,
    width: usize,
    height: usize,
) -> Option<RgbImage> {
    let target = [
        Point::new(0.0, 0.0),
        Point::new(width as f64, 0.0),
        Point::new(width as f64, height as f64),
        Point::new(0.0, height as f64),
    ];
    // warpPerspective inverts the forward transform; solving for the inverse directly is the same
    // matrix up to rounding in the last bits.
    let inverse = Homography::between(&target, corners)?;
    let (source_width, source_height) = (image.width() as i64, image.height() as i64);
    let src = image.as_raw();
    let mut out = vec![0u8; width * height * 3];
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = inverse.apply(x as f64, y as f64);
            let (fx, fy) = (sx.floor(), sy.floor());
            let cx = cubic_coefficients((sx - fx) as f32);
            let cy = cubic_coefficients((sy - fy) as f32);
            let (ix, iy) = (fx as i64, fy as i64);
            let mut acc = [0.0f64; 3];
            for (i, wy) in cy.iter().enumerate() {
                let row = (iy - 1 + i as i64).clamp(0, source_height - 1) as usize;
                for (j, wx) in cx.iter().enumerate() {
                    let column = (ix - 1 + j as i64).clamp(0, source_width - 1) as usize;
                    let weight = f64::from(*wy * *wx);
                    let p = (row * source_width as usize + column) * 3;
                    for c in 0..3 {
                        acc[c] += weight * f64::from(src[p + c]);
                    }
                }
            }
            let o = (y * width + x) * 3;
            for c in 0..3 {
                out[o + c] = acc[c].round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    RgbImage::from_raw(width as u32, height as u32, out)
}

/// A quarter turn counter-clockwise (`np.rot90`).
pub fn rotate90_ccw(image: &RgbImage) -> RgbImage {
    image::imageops::rotate270(image)
}

/// A half turn.
pub fn rotate180(image: &RgbImage) -> RgbImage {
    image::imageops::rotate180(image)
}

/// `rows` black rows added above and below.
pub fn pad_vertically(image: &RgbImage, rows: u32) -> RgbImage {
    let mut padded = RgbImage::new(image.width(), image.height() + 2 * rows);
    image::imageops::replace(&mut padded, image, 0, i64::from(rows));
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 11 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        })
    }

    #[test]
    fn resize_to_the_same_size_is_a_copy_and_shapes_are_right() {
        let image = gradient(37, 19);
        assert_eq!(resize_linear(&image, 37, 19), image);
        let small = resize_linear(&image, 10, 48);
        assert_eq!(small.dimensions(), (10, 48));
    }

    #[test]
    fn exact_halving_averages_two_by_two() {
        // OpenCV switches an exact 2× shrink to area averaging; the bilinear taps give the same.
        let image = gradient(8, 4);
        let half = resize_linear(&image, 4, 2);
        for y in 0..2 {
            for x in 0..4 {
                for c in 0..3 {
                    let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|(dx, dy)| u32::from(image.get_pixel(2 * x + dx, 2 * y + dy)[c]))
                        .sum();
                    assert_eq!(u32::from(half.get_pixel(x, y)[c]), (sum + 2) / 4);
                }
            }
        }
    }

    #[test]
    fn an_axis_aligned_warp_is_a_crop() {
        let image = gradient(50, 30);
        let quad = [
            Point::new(5.0, 4.0),
            Point::new(25.0, 4.0),
            Point::new(25.0, 14.0),
            Point::new(5.0, 14.0),
        ];
        let crop = warp_perspective_cubic(&image, &quad, 20, 10).unwrap();
        for y in 0..10 {
            for x in 0..20 {
                assert_eq!(crop.get_pixel(x, y), image.get_pixel(x + 5, y + 4));
            }
        }
    }

    #[test]
    fn rotations_and_padding() {
        let image = gradient(3, 2);
        let turned = rotate90_ccw(&image);
        assert_eq!(turned.dimensions(), (2, 3));
        // np.rot90: the top-right pixel becomes the top-left one.
        assert_eq!(turned.get_pixel(0, 0), image.get_pixel(2, 0));
        assert_eq!(rotate180(&image).get_pixel(0, 0), image.get_pixel(2, 1));
        let padded = pad_vertically(&image, 2);
        assert_eq!(padded.dimensions(), (3, 6));
        assert_eq!(padded.get_pixel(1, 2), image.get_pixel(1, 0));
        assert_eq!(padded.get_pixel(1, 0), &image::Rgb([0, 0, 0]));
    }
}
