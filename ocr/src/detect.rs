//! DB text detection: the detector's input tensor and the post-processing of its probability
//! map into text boxes (RapidOCR's `DetPreProcess` and `DBPostProcess` with `score_mode=fast`).
//!
//! The map is thresholded, dilated by a 2×2 kernel, split into regions (OpenCV's
//! `findContours(RETR_LIST)` lists the outer border of every 8-connected region and the border of
//! every hole in one; a minimum-area rectangle only depends on a border's convex hull, so the
//! hulls are computed straight from the region and hole pixels), and each region becomes a box:
//! minimum-area rectangle, mean probability inside it (the box score), unclip, rectangle again,
//! scaled back to the image. Regions past `max_candidates` are dropped, smallest first, and
//! counted, so a caller can say that an image had more text than was read.

use image::RgbImage;

use crate::geometry::{
    convex_hull, edge_lengths, min_area_rect, mini_box_order, order_clockwise, unclip, Point, Quad,
};
use crate::imageops::resize_linear;

/// The detector's settings (RapidOCR's `Det` section).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Images whose shorter side is below this are enlarged to it (`limit_type: min`).
    pub limit_side_len: u32,
    /// Probability above which a pixel is text.
    pub thresh: f32,
    /// Mean probability a box needs.
    pub box_thresh: f64,
    /// How many regions are turned into boxes at most.
    pub max_candidates: usize,
    /// How far boxes grow back (`area × ratio / perimeter`).
    pub unclip_ratio: f64,
    /// Whether the text mask is dilated by a 2×2 kernel first.
    pub use_dilation: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            limit_side_len: 736,
            thresh: 0.3,
            box_thresh: 0.5,
            max_candidates: 1000,
            unclip_ratio: 1.6,
            use_dilation: true,
        }
    }
}

/// Python's `round` on floats: halves to even.
fn round_even(value: f64) -> f64 {
    value.round_ties_even()
}

/// The size the detector sees an image at: the short side raised to `limit_side_len`, then both
/// sides rounded to a multiple of 32. `None` when a side would vanish.
pub fn detector_size(width: u32, height: u32, limit_side_len: u32) -> Option<(u32, u32)> {
    let (w, h) = (f64::from(width), f64::from(height));
    let limit = f64::from(limit_side_len);
    let ratio = if width.min(height) < limit_side_len {
        if height < width {
            limit / h
        } else {
            limit / w
        }
    } else {
        1.0
    };
    let resize_h = (h * ratio).trunc();
    let resize_w = (w * ratio).trunc();
    let resize_h = round_even(resize_h / 32.0) * 32.0;
    let resize_w = round_even(resize_w / 32.0) * 32.0;
    if resize_h <= 0.0 || resize_w <= 0.0 {
        return None;
    }
    Some((resize_w as u32, resize_h as u32))
}

/// The detector's input: the image resized to [`detector_size`], normalised with mean = std =
/// 0.5, BGR, CHW. Returns the tensor data and its width and height.
pub fn detector_input(image: &RgbImage, config: &DetectorConfig) -> Option<(Vec<f32>, u32, u32)> {
    let (width, height) = detector_size(image.width(), image.height(), config.limit_side_len)?;
    let resized = resize_linear(image, width, height);
    let plane = (width * height) as usize;
    let mut data = vec![0.0f32; plane * 3];
    // NumPy computes `x.astype(float32) * (1/255)` in float32 and the rest in float64.
    let scale = (1.0f64 / 255.0) as f32;
    for (i, pixel) in resized.pixels().enumerate() {
        for (channel, value) in [pixel[2], pixel[1], pixel[0]].into_iter().enumerate() {
            let v = f64::from(f32::from(value) * scale);
            data[channel * plane + i] = ((v - 0.5) / 0.5) as f32;
        }
    }
    Some((data, width, height))
}

/// One detected text box in the coordinates of the image given to the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedBox {
    /// Top-left, top-right, bottom-right, bottom-left, whole pixels.
    pub corners: Quad,
    /// Mean text probability inside the box before it was grown.
    pub score: f64,
}

/// What the post-processing found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    pub boxes: Vec<DetectedBox>,
    /// Regions beyond `max_candidates` that were not looked at.
    pub dropped_regions: usize,
}

/// A region of the text mask: its hull and how many pixels it has.
struct Region {
    hull: Vec<(i64, i64)>,
    pixels: usize,
}

/// Probability map (`map_width × map_height`, row-major) → boxes in the coordinates of an image
/// of `image_width × image_height`.
pub fn boxes_from_map(
    map: &[f32],
    map_width: usize,
    map_height: usize,
    image_width: u32,
    image_height: u32,
    config: &DetectorConfig,
) -> Detection {
    let mut mask: Vec<u8> = map.iter().map(|&p| u8::from(p > config.thresh)).collect();
    if config.use_dilation {
        mask = dilate_2x2(&mask, map_width, map_height);
    }
    let mut regions = regions(&mask, map_width, map_height);
    let mut dropped_regions = 0;
    if regions.len() > config.max_candidates {
        dropped_regions = regions.len() - config.max_candidates;
        regions.sort_by_key(|r| std::cmp::Reverse(r.pixels));
        regions.truncate(config.max_candidates);
    }
    let (dest_width, dest_height) = (f64::from(image_width), f64::from(image_height));
    let mut boxes = Vec::new();
    for region in &regions {
        let rect = min_area_rect(&region.hull);
        if rect.short_side() < 3.0 {
            continue;
        }
        let points = mini_box_order(&rect);
        let score = box_score_fast(map, map_width, map_height, &points);
        if config.box_thresh > score {
            continue;
        }
        let mut grown = unclip(&points, config.unclip_ratio);
        let grown_rect = min_area_rect(&convex_hull(&mut grown));
        if grown_rect.short_side() < 5.0 {
            continue;
        }
        let grown_box = mini_box_order(&grown_rect);
        let scaled = grown_box.map(|p| {
            // float32 corners, as OpenCV's boxPoints returns them.
            let (x, y) = (f64::from(p.x as f32), f64::from(p.y as f32));
            Point::new(
                round_even(x / map_width as f64 * dest_width).clamp(0.0, dest_width),
                round_even(y / map_height as f64 * dest_height).clamp(0.0, dest_height),
            )
        });
        // `filter_tag_det_res`: order, clip into the image, drop slivers.
        let mut ordered = order_clockwise(&scaled);
        for p in &mut ordered {
            p.x = p.x.clamp(0.0, dest_width - 1.0).trunc();
            p.y = p.y.clamp(0.0, dest_height - 1.0).trunc();
        }
        let (width, height) = edge_lengths(&ordered);
        if width.trunc() <= 3.0 || height.trunc() <= 3.0 {
            continue;
        }
        boxes.push(DetectedBox {
            corners: ordered,
            score,
        });
    }
    Detection {
        boxes,
        dropped_regions,
    }
}

/// `cv2.dilate` with a 2×2 kernel of ones: the anchor is the kernel's centre (1, 1), so a pixel
/// takes the maximum of itself and its left, upper and upper-left neighbours.
fn dilate_2x2(mask: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut out = mask.to_vec();
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let mut v = mask[i];
            if x > 0 {
                v |= mask[i - 1];
            }
            if y > 0 {
                v |= mask[i - width];
                if x > 0 {
                    v |= mask[i - width - 1];
                }
            }
            out[i] = v;
        }
    }
    out
}

/// The hull of every 8-connected text region and of every hole in one (a 4-connected run of
/// background that does not reach the map's edge), as `findContours(RETR_LIST)` would list them.
fn regions(mask: &[u8], width: usize, height: usize) -> Vec<Region> {
    const UNSEEN: u32 = 0;
    let mut label = vec![UNSEEN; mask.len()];
    let mut regions = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    // Per-row extremes of a region are enough for its hull.
    let mut row_min = vec![usize::MAX; height];
    let mut row_max = vec![0usize; height];
    let mut rows_touched: Vec<usize> = Vec::new();
    let mut next_label = 1u32;
    for start in 0..mask.len() {
        if mask[start] == 0 || label[start] != UNSEEN {
            continue;
        }
        let id = next_label;
        next_label += 1;
        label[start] = id;
        stack.push(start);
        let mut pixels = 0usize;
        while let Some(i) = stack.pop() {
            pixels += 1;
            let (x, y) = (i % width, i / width);
            if row_min[y] == usize::MAX {
                rows_touched.push(y);
            }
            row_min[y] = row_min[y].min(x);
            row_max[y] = row_max[y].max(x);
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(width - 1));
            let (y0, y1) = (y.saturating_sub(1), (y + 1).min(height - 1));
            for ny in y0..=y1 {
                for nx in x0..=x1 {
                    let n = ny * width + nx;
                    if mask[n] != 0 && label[n] == UNSEEN {
                        label[n] = id;
                        stack.push(n);
                    }
                }
            }
        }
        let mut points = Vec::with_capacity(rows_touched.len() * 2);
        for &y in &rows_touched {
            points.push((row_min[y] as i64, y as i64));
            points.push((row_max[y] as i64, y as i64));
            row_min[y] = usize::MAX;
            row_max[y] = 0;
        }
        rows_touched.clear();
        regions.push(Region {
            hull: convex_hull(&mut points),
            pixels,
        });
    }
    // Background reachable from the edge (4-connected) is outside every region.
    const OUTSIDE: u32 = u32::MAX;
    for x in 0..width {
        for y in [0, height - 1] {
            let i = y * width + x;
            if mask[i] == 0 && label[i] == UNSEEN {
                label[i] = OUTSIDE;
                stack.push(i);
            }
        }
    }
    for y in 0..height {
        for x in [0, width - 1] {
            let i = y * width + x;
            if mask[i] == 0 && label[i] == UNSEEN {
                label[i] = OUTSIDE;
                stack.push(i);
            }
        }
    }
    flood_background(mask, &mut label, &mut stack, width, height, OUTSIDE, |_| {});
    // What background is left is holes; a hole's border is the text pixels 4-adjacent to it.
    for start in 0..mask.len() {
        if mask[start] != 0 || label[start] != UNSEEN {
            continue;
        }
        let id = next_label;
        next_label += 1;
        label[start] = id;
        stack.push(start);
        let mut border: Vec<(i64, i64)> = Vec::new();
        let mut pixels = 0usize;
        flood_background(mask, &mut label, &mut stack, width, height, id, |i| {
            pixels += 1;
            let (x, y) = ((i % width) as i64, (i / width) as i64);
            for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= 0 && ny >= 0 && (nx as usize) < width && (ny as usize) < height {
                    let n = ny as usize * width + nx as usize;
                    if mask[n] != 0 {
                        border.push((nx, ny));
                    }
                }
            }
        });
        regions.push(Region {
            hull: convex_hull(&mut border),
            pixels,
        });
    }
    regions
}

/// 4-connected flood fill of background pixels from the stack, labelling them `id` and calling
/// `visit` on each.
fn flood_background(
    mask: &[u8],
    label: &mut [u32],
    stack: &mut Vec<usize>,
    width: usize,
    height: usize,
    id: u32,
    mut visit: impl FnMut(usize),
) {
    while let Some(i) = stack.pop() {
        visit(i);
        let (x, y) = (i % width, i / width);
        let mut push = |n: usize| {
            if mask[n] == 0 && label[n] == 0 {
                label[n] = id;
                stack.push(n);
            }
        };
        if x > 0 {
            push(i - 1);
        }
        if x + 1 < width {
            push(i + 1);
        }
        if y > 0 {
            push(i - width);
        }
        if y + 1 < height {
            push(i + width);
        }
    }
}

/// Mean probability inside a box (`box_score_fast`): the box's bounding rectangle on the map,
/// the box filled as `cv2.fillPoly` fills it (integer corners, edges drawn), the mean under it.
fn box_score_fast(map: &[f32], width: usize, height: usize, points: &Quad) -> f64 {
    // float32 corners, as OpenCV returns them.
    let points = points.map(|p| (p.x as f32, p.y as f32));
    let min_x = points.iter().map(|p| p.0).fold(f32::MAX, f32::min);
    let max_x = points.iter().map(|p| p.0).fold(f32::MIN, f32::max);
    let min_y = points.iter().map(|p| p.1).fold(f32::MAX, f32::min);
    let max_y = points.iter().map(|p| p.1).fold(f32::MIN, f32::max);
    let clamp_x = |v: f32| (v as i64).clamp(0, width as i64 - 1);
    let clamp_y = |v: f32| (v as i64).clamp(0, height as i64 - 1);
    let (x0, x1) = (clamp_x(min_x.floor()), clamp_x(max_x.ceil()));
    let (y0, y1) = (clamp_y(min_y.floor()), clamp_y(max_y.ceil()));
    let (mask_width, mask_height) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
    // `astype(np.int32)` truncates towards zero.
    let polygon: Vec<(i64, i64)> = points
        .iter()
        .map(|&(x, y)| ((x - x0 as f32) as i64, (y - y0 as f32) as i64))
        .collect();
    let mut mask = vec![false; mask_width * mask_height];
    fill_poly(&mut mask, mask_width, mask_height, &polygon);
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for my in 0..mask_height {
        let row = (y0 as usize + my) * width + x0 as usize;
        for mx in 0..mask_width {
            if mask[my * mask_width + mx] {
                sum += f64::from(map[row + mx]);
                count += 1;
            }
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// `cv2.fillPoly` for one polygon with integer vertices and 8-connected lines: the edges are
/// drawn, and every scanline between two edges filled, with OpenCV's 16-bit fixed-point edge
/// stepping.
fn fill_poly(mask: &mut [bool], width: usize, height: usize, polygon: &[(i64, i64)]) {
    const SHIFT: i64 = 16;
    let n = polygon.len();
    let mut set = |x: i64, y: i64| {
        if x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height {
            mask[y as usize * width + x as usize] = true;
        }
    };
    struct Edge {
        y0: i64,
        y1: i64,
        x: i64,
        dx: i64,
    }
    let mut edges = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + 1) % n]);
        draw_line(a, b, &mut set);
        if a.1 == b.1 {
            continue;
        }
        let (ax, bx) = (a.0 << SHIFT, b.0 << SHIFT);
        let dx = (bx - ax) / (b.1 - a.1);
        let (y0, y1, x) = if a.1 < b.1 {
            (a.1, b.1, ax)
        } else {
            (b.1, a.1, bx)
        };
        edges.push(Edge { y0, y1, x, dx });
    }
    if edges.len() < 2 {
        return;
    }
    let y_min = edges.iter().map(|e| e.y0).min().unwrap_or(0).max(0);
    let y_max = edges
        .iter()
        .map(|e| e.y1)
        .max()
        .unwrap_or(0)
        .min(height as i64);
    let mut xs: Vec<i64> = Vec::with_capacity(4);
    for y in y_min..y_max {
        xs.clear();
        for edge in &edges {
            if edge.y0 <= y && y < edge.y1 {
                xs.push(edge.x + (y - edge.y0) * edge.dx);
            }
        }
        xs.sort_unstable();
        for pair in xs.chunks_exact(2) {
            let (left, right) = (pair[0] >> SHIFT, pair[1] >> SHIFT);
            for x in left.max(0)..=right.min(width as i64 - 1) {
                set(x, y);
            }
        }
    }
}

/// An 8-connected Bresenham line, both ends included.
fn draw_line(a: (i64, i64), b: (i64, i64), set: &mut impl FnMut(i64, i64)) {
    let (mut x, mut y) = a;
    let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
    let (sx, sy) = (
        if a.0 < b.0 { 1 } else { -1 },
        if a.1 < b.1 { 1 } else { -1 },
    );
    let mut error = dx + dy;
    loop {
        set(x, y);
        if (x, y) == b {
            break;
        }
        let twice = 2 * error;
        if twice >= dy {
            error += dy;
            x += sx;
        }
        if twice <= dx {
            error += dx;
            y += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_sizes_follow_rapidocr() {
        // Short side below 736 is raised to it; both sides to multiples of 32 (halves to even).
        assert_eq!(detector_size(640, 480, 736), Some((992, 736)));
        assert_eq!(detector_size(1280, 800, 736), Some((1280, 800)));
        assert_eq!(detector_size(1000, 1000, 736), Some((992, 992)));
        // 2000 / 32 = 62.5 rounds to 62 (NumPy rounds halves to even): 1984.
        assert_eq!(detector_size(2000, 1500, 736), Some((1984, 1504)));
    }

    #[test]
    fn dilation_grows_right_and_down() {
        let mut mask = vec![0u8; 9];
        mask[4] = 1;
        let out = dilate_2x2(&mask, 3, 3);
        assert_eq!(out, vec![0, 0, 0, 0, 1, 1, 0, 1, 1]);
    }

    #[test]
    fn fill_poly_covers_a_rectangle_with_its_edges() {
        let mut mask = vec![false; 6 * 5];
        fill_poly(&mut mask, 6, 5, &[(1, 1), (4, 1), (4, 3), (1, 3)]);
        let filled: usize = mask.iter().filter(|&&m| m).count();
        assert_eq!(filled, 4 * 3);
        assert!(mask[6 + 1] && mask[3 * 6 + 4] && !mask[0] && !mask[4 * 6 + 4]);
    }

    #[test]
    fn a_solid_block_becomes_one_grown_box() {
        let (w, h) = (64usize, 32usize);
        let mut map = vec![0.0f32; w * h];
        for y in 10..20 {
            for x in 8..50 {
                map[y * w + x] = 0.9;
            }
        }
        let detection = boxes_from_map(&map, w, h, 128, 64, &DetectorConfig::default());
        assert_eq!(detection.boxes.len(), 1, "{detection:?}");
        let b = &detection.boxes[0];
        // The score is the map's mean over the box of the *dilated* mask (RapidOCR's
        // `box_score_fast` reads `pred`, not the bitmap): the dilation adds a column and a row of
        // zeros to the 42 × 10 block, so 0.9 × 420 / (43 × 11).
        let expected = 0.9 * 420.0 / 473.0;
        assert!((b.score - expected).abs() < 1e-4, "{b:?}");
        // The region grows by area × 1.6 / perimeter ≈ 6.5 map pixels each way, then doubles.
        let [tl, tr, br, bl] = b.corners;
        assert!(
            tl.x < 16.0 && tr.x > 98.0 && bl.y > 40.0 && tl.y < 20.0,
            "{b:?}"
        );
        assert_eq!((tl.y, tr.y), (tl.y, tl.y));
        assert_eq!(br.x, tr.x);
    }

    #[test]
    fn a_ring_also_reports_its_hole() {
        let (w, h) = (40usize, 40usize);
        let mut mask = vec![0u8; w * h];
        for y in 5..35 {
            for x in 5..35 {
                if !(12..28).contains(&x) || !(12..28).contains(&y) {
                    mask[y * w + x] = 1;
                }
            }
        }
        let found = regions(&mask, w, h);
        assert_eq!(found.len(), 2);
        let hole = &found[1];
        assert_eq!(hole.pixels, 16 * 16);
        let xs: Vec<i64> = hole.hull.iter().map(|p| p.0).collect();
        assert_eq!((xs.iter().min(), xs.iter().max()), (Some(&11), Some(&28)));
    }

    #[test]
    fn regions_past_the_cap_are_counted() {
        let (w, h) = (40usize, 8usize);
        let mut map = vec![0.0f32; w * h];
        for i in 0..5 {
            for y in 1..7 {
                for x in i * 8 + 1..i * 8 + 7 {
                    map[y * w + x] = 0.95;
                }
            }
        }
        let config = DetectorConfig {
            max_candidates: 3,
            ..DetectorConfig::default()
        };
        let detection = boxes_from_map(&map, w, h, 40, 8, &config);
        assert_eq!(detection.dropped_regions, 2);
        assert!(detection.boxes.len() <= 3);
    }
}
