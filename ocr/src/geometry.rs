//! Plane geometry of text boxes: convex hulls, minimum-area rectangles, the DB "unclip" offset,
//! corner ordering and perspective transforms.
//!
//! Each function reproduces what RapidOCR gets from OpenCV, Shapely and pyclipper, down to the
//! integer steps that change a box by a pixel: pyclipper truncates coordinates to integers and
//! rounds every offset vertex (Clipper 6's `ClipperOffset` with round joins and an arc tolerance
//! of 0.25), NumPy rounds halves to even, and OpenCV's `minAreaRect` only sees the convex hull.
//! Boxes that differ by one pixel give crops that differ by one pixel, and recognition of a
//! narrow glyph can change with that, so the parity test would notice.

/// A point in pixel coordinates (x right, y down).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    fn distance(self, other: Point) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }
}

/// Four corners: top-left, top-right, bottom-right, bottom-left once [`order_clockwise`] ran.
pub type Quad = [Point; 4];

/// A rectangle of any orientation, as its four corners and side lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub corners: Quad,
    /// Length of the side from `corners[0]` to `corners[1]`.
    pub width: f64,
    /// Length of the side from `corners[1]` to `corners[2]`.
    pub height: f64,
}

impl RotatedRect {
    /// The shorter side (OpenCV's `min(rect[1])`).
    pub fn short_side(&self) -> f64 {
        self.width.min(self.height)
    }
}

fn cross(o: (i64, i64), a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Convex hull of integer points (Andrew's monotone chain), counter-clockwise in a y-up frame,
/// without collinear points. Fewer than three distinct points come back as they are.
pub fn convex_hull(points: &mut Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    points.sort_unstable();
    points.dedup();
    if points.len() < 3 {
        return points.clone();
    }
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(points.len() * 2);
    for &p in points.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in points.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    hull
}

/// The smallest-area rectangle holding a convex polygon (OpenCV's `minAreaRect` of the points
/// the hull came from): one of its sides lies on a hull edge, so every edge is tried.
pub fn min_area_rect(hull: &[(i64, i64)]) -> RotatedRect {
    let points: Vec<Point> = hull
        .iter()
        .map(|&(x, y)| Point::new(x as f64, y as f64))
        .collect();
    min_area_rect_f64(&points)
}

fn min_area_rect_f64(points: &[Point]) -> RotatedRect {
    match points {
        [] => {
            return RotatedRect {
                corners: [Point::default(); 4],
                width: 0.0,
                height: 0.0,
            }
        }
        [p] => {
            return RotatedRect {
                corners: [*p; 4],
                width: 0.0,
                height: 0.0,
            }
        }
        _ => {}
    }
    let mut best: Option<(f64, RotatedRect)> = None;
    let n = points.len();
    let edges = if n == 2 { 1 } else { n };
    for i in 0..edges {
        let a = points[i];
        let b = points[(i + 1) % n];
        let length = a.distance(b);
        if length == 0.0 {
            continue;
        }
        let (ux, uy) = ((b.x - a.x) / length, (b.y - a.y) / length);
        let (vx, vy) = (-uy, ux);
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in points {
            let u = p.x * ux + p.y * uy;
            let v = p.x * vx + p.y * vy;
            min_u = min_u.min(u);
            max_u = max_u.max(u);
            min_v = min_v.min(v);
            max_v = max_v.max(v);
        }
        let area = (max_u - min_u) * (max_v - min_v);
        let corner = |u: f64, v: f64| Point::new(u * ux + v * vx, u * uy + v * vy);
        let rect = RotatedRect {
            corners: [
                corner(min_u, min_v),
                corner(max_u, min_v),
                corner(max_u, max_v),
                corner(min_u, max_v),
            ],
            width: max_u - min_u,
            height: max_v - min_v,
        };
        if best.as_ref().is_none_or(|(best_area, _)| area < *best_area) {
            best = Some((area, rect));
        }
    }
    best.map(|(_, rect)| rect).unwrap_or(RotatedRect {
        corners: [points[0]; 4],
        width: 0.0,
        height: 0.0,
    })
}

/// RapidOCR's `get_mini_boxes` corner order for a rectangle: the two leftmost corners (by x,
/// ties kept in order) give the top-left (the upper one) and bottom-left, the two rightmost the
/// top-right and bottom-right.
pub fn mini_box_order(rect: &RotatedRect) -> Quad {
    let mut points = rect.corners;
    // A stable sort, as Python's `sorted`.
    points.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (first, fourth) = if points[1].y > points[0].y {
        (0, 1)
    } else {
        (1, 0)
    };
    let (second, third) = if points[3].y > points[2].y {
        (2, 3)
    } else {
        (3, 2)
    };
    [points[first], points[second], points[third], points[fourth]]
}

/// Signed area (shoelace; positive for the order top-left → top-right → bottom-right in image
/// coordinates, which is Clipper's positive orientation).
pub fn signed_area(polygon: &[Point]) -> f64 {
    let n = polygon.len();
    let mut twice = 0.0;
    for i in 0..n {
        let a = polygon[i];
        let b = polygon[(i + 1) % n];
        twice += a.x * b.y - b.x * a.y;
    }
    twice / 2.0
}

/// Perimeter of a closed polygon.
pub fn perimeter(polygon: &[Point]) -> f64 {
    let n = polygon.len();
    (0..n)
        .map(|i| polygon[i].distance(polygon[(i + 1) % n]))
        .sum()
}

/// Clipper's `Round`: halves away from zero.
fn clipper_round(value: f64) -> i64 {
    if value < 0.0 {
        (value - 0.5) as i64
    } else {
        (value + 0.5) as i64
    }
}

/// The DB "unclip": the detector predicts shrunk text kernels, so each box grows by
/// `area × ratio / perimeter` (Shapely's area and length of the box), as pyclipper's
/// `PyclipperOffset` with round joins computes it: coordinates truncated to integers, each
/// vertex replaced by an arc of rounded points. Returns the vertices of the grown polygon.
pub fn unclip(quad: &Quad, ratio: f64) -> Vec<(i64, i64)> {
    let length = perimeter(quad);
    if length == 0.0 {
        return Vec::new();
    }
    let delta = signed_area(quad).abs() * ratio / length;
    // pyclipper converts the float coordinates with a C cast: truncation.
    let mut path: Vec<(i64, i64)> = Vec::with_capacity(4);
    for p in quad {
        let point = (p.x as i64, p.y as i64);
        if path.last() != Some(&point) {
            path.push(point);
        }
    }
    while path.len() > 1 && path.first() == path.last() {
        path.pop();
    }
    if path.len() < 3 {
        // Clipper offsets degenerate closed paths too, but their boxes are filtered out by the
        // size check that follows anyway.
        return path;
    }
    // Clipper makes the outer polygon positively oriented before offsetting.
    let float_path: Vec<Point> = path
        .iter()
        .map(|&(x, y)| Point::new(x as f64, y as f64))
        .collect();
    if signed_area(&float_path) < 0.0 {
        path.reverse();
    }
    offset_round(&path, delta)
}

/// Clipper 6 `ClipperOffset::DoOffset` for one closed polygon with `jtRound`.
fn offset_round(path: &[(i64, i64)], delta: f64) -> Vec<(i64, i64)> {
    const ARC_TOLERANCE: f64 = 0.25;
    let n = path.len();
    let y = if ARC_TOLERANCE > delta.abs() * ARC_TOLERANCE {
        delta.abs() * ARC_TOLERANCE
    } else {
        ARC_TOLERANCE
    };
    let mut steps = std::f64::consts::PI / (1.0 - y / delta.abs()).acos();
    if steps > delta.abs() * std::f64::consts::PI {
        steps = delta.abs() * std::f64::consts::PI;
    }
    let two_pi = 2.0 * std::f64::consts::PI;
    let (mut sin, cos) = ((two_pi / steps).sin(), (two_pi / steps).cos());
    let steps_per_rad = steps / two_pi;
    if delta < 0.0 {
        sin = -sin;
    }
    let normals: Vec<(f64, f64)> = (0..n)
        .map(|j| {
            let a = path[j];
            let b = path[(j + 1) % n];
            if a == b {
                return (0.0, 0.0);
            }
            let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
            let f = 1.0 / (dx * dx + dy * dy).sqrt();
            (dy * f, -dx * f)
        })
        .collect();
    let mut out = Vec::with_capacity(n * 8);
    let mut k = n - 1;
    for j in 0..n {
        let (src_x, src_y) = (path[j].0 as f64, path[j].1 as f64);
        let push = |out: &mut Vec<(i64, i64)>, nx: f64, ny: f64| {
            out.push((
                clipper_round(src_x + nx * delta),
                clipper_round(src_y + ny * delta),
            ));
        };
        let mut sin_a = normals[k].0 * normals[j].1 - normals[j].0 * normals[k].1;
        let cos_a = normals[k].0 * normals[j].0 + normals[j].1 * normals[k].1;
        if (sin_a * delta).abs() < 1.0 {
            if cos_a > 0.0 {
                push(&mut out, normals[k].0, normals[k].1);
                k = j;
                continue;
            }
        } else {
            sin_a = sin_a.clamp(-1.0, 1.0);
        }
        if sin_a * delta < 0.0 {
            push(&mut out, normals[k].0, normals[k].1);
            out.push(path[j]);
            push(&mut out, normals[j].0, normals[j].1);
        } else {
            let angle = sin_a.atan2(cos_a);
            let arc_steps = (clipper_round(steps_per_rad * angle.abs()) as i32).max(1);
            let (mut x, mut y) = normals[k];
            for _ in 0..arc_steps {
                push(&mut out, x, y);
                let previous_x = x;
                x = x * cos - sin * y;
                y = previous_x * sin + y * cos;
            }
            push(&mut out, normals[j].0, normals[j].1);
        }
        k = j;
    }
    out
}

/// RapidOCR's `order_points_clockwise`: the two leftmost points (stable by x) become top-left and
/// bottom-left by y, the two rightmost top-right and bottom-right.
pub fn order_clockwise(points: &Quad) -> Quad {
    let mut by_x = *points;
    by_x.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut left = [by_x[0], by_x[1]];
    let mut right = [by_x[2], by_x[3]];
    left.sort_by(|a, b| a.y.total_cmp(&b.y));
    right.sort_by(|a, b| a.y.total_cmp(&b.y));
    [left[0], right[0], right[1], left[1]]
}

/// Side lengths of an ordered quad as RapidOCR measures a crop: width = the longer of top and
/// bottom, height = the longer of left and right, both truncated to whole pixels.
pub fn crop_size(quad: &Quad) -> (usize, usize) {
    let width = quad[0].distance(quad[1]).max(quad[2].distance(quad[3]));
    let height = quad[0].distance(quad[3]).max(quad[1].distance(quad[2]));
    (width as usize, height as usize)
}

/// The width (top edge) and height (left edge) that RapidOCR's size filter looks at.
pub fn edge_lengths(quad: &Quad) -> (f64, f64) {
    (quad[0].distance(quad[1]), quad[0].distance(quad[3]))
}

/// A 3×3 projective transform, row-major.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The transform taking `from[i]` to `to[i]` (OpenCV's `getPerspectiveTransform`), or `None`
    /// for degenerate corners.
    pub fn between(from: &Quad, to: &Quad) -> Option<Self> {
        // Unknowns h0..h7 (h8 = 1): u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v likewise.
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = (from[i].x, from[i].y);
            let (u, v) = (to[i].x, to[i].y);
            a[i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
            a[i + 4] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
        }
        // Gaussian elimination with partial pivoting.
        for col in 0..8 {
            let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
            if a[pivot][col].abs() < 1e-12 {
                return None;
            }
            a.swap(col, pivot);
            for row in 0..8 {
                if row != col {
                    let factor = a[row][col] / a[col][col];
                    if factor != 0.0 {
                        let pivot_row = a[col];
                        for (value, pivot) in a[row].iter_mut().zip(pivot_row).skip(col) {
                            *value -= factor * pivot;
                        }
                    }
                }
            }
        }
        let mut h = [0.0; 9];
        for i in 0..8 {
            h[i] = a[i][8] / a[i][i];
        }
        h[8] = 1.0;
        Some(Self(h))
    }

    /// Maps a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        let w = if w == 0.0 { 0.0 } else { 1.0 / w };
        (
            (h[0] * x + h[1] * y + h[2]) * w,
            (h[3] * x + h[4] * y + h[5]) * w,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quad(points: [(f64, f64); 4]) -> Quad {
        points.map(|(x, y)| Point::new(x, y))
    }

    #[test]
    fn hull_drops_inner_and_collinear_points() {
        let mut points = vec![(0, 0), (2, 0), (4, 0), (4, 3), (0, 3), (2, 1), (1, 2)];
        let hull = convex_hull(&mut points);
        assert_eq!(hull, vec![(0, 0), (4, 0), (4, 3), (0, 3)]);
    }

    #[test]
    fn min_area_rect_of_a_tilted_rectangle_is_that_rectangle() {
        // A 10×4 rectangle turned by atan(3/4).
        let corners = [(0.0, 0.0), (8.0, 6.0), (5.6, 9.2), (-2.4, 3.2)];
        let mut points: Vec<(i64, i64)> = vec![(0, 0), (8, 6), (6, 9), (-2, 3)];
        let rect = min_area_rect(&convex_hull(&mut points));
        let area = rect.width * rect.height;
        assert!((area - 40.0).abs() < 6.0, "{rect:?}");
        let _ = corners;
        let axis = min_area_rect(&convex_hull(&mut vec![(1, 1), (11, 1), (11, 5), (1, 5)]));
        assert_eq!(axis.short_side(), 4.0);
        let ordered = mini_box_order(&axis);
        assert_eq!(
            ordered,
            quad([(1.0, 1.0), (11.0, 1.0), (11.0, 5.0), (1.0, 5.0)])
        );
    }

    #[test]
    fn unclip_matches_pyclipper() {
        // pyclipper 1.4.0: PyclipperOffset().AddPath(box, JT_ROUND, ET_CLOSEDPOLYGON).Execute(d)
        let box_ = quad([(10.7, 10.7), (50.9, 10.2), (50.5, 20.9), (10.2, 20.6)]);
        let rectangle = quad([(10.0, 10.0), (50.0, 10.0), (50.0, 20.0), (10.0, 20.0)]);
        let expected_5: Vec<(i64, i64)> = vec![
            (53, 6),
            (55, 10),
            (55, 20),
            (54, 23),
            (50, 25),
            (10, 25),
            (7, 24),
            (5, 20),
            (5, 10),
            (6, 7),
            (10, 5),
            (50, 5),
        ];
        let mut got = offset_round(&[(10, 10), (50, 10), (50, 20), (10, 20)], 5.0);
        let mut want = expected_5.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        // Same integer path after truncation.
        let truncated: Vec<(i64, i64)> = box_.iter().map(|p| (p.x as i64, p.y as i64)).collect();
        assert_eq!(truncated, vec![(10, 10), (50, 10), (50, 20), (10, 20)]);
        let mut got = offset_round(&[(10, 10), (50, 10), (50, 20), (10, 20)], 5.5);
        let mut want: Vec<(i64, i64)> = vec![
            (55, 8),
            (56, 10),
            (56, 20),
            (55, 23),
            (52, 25),
            (50, 26),
            (10, 26),
            (7, 25),
            (5, 22),
            (5, 7),
            (8, 5),
            (53, 5),
        ];
        // The union Clipper runs afterwards drops collinear points; the hull is what matters.
        let hull_got = convex_hull(&mut got);
        let hull_want = convex_hull(&mut want);
        assert_eq!(hull_got, hull_want);
        let _ = rectangle;
    }

    #[test]
    fn ordering_and_sizes() {
        let q = quad([(50.0, 20.0), (10.0, 10.0), (50.0, 10.0), (10.0, 20.0)]);
        let ordered = order_clockwise(&q);
        assert_eq!(
            ordered,
            quad([(10.0, 10.0), (50.0, 10.0), (50.0, 20.0), (10.0, 20.0)])
        );
        assert_eq!(crop_size(&ordered), (40, 10));
    }

    #[test]
    fn homography_maps_corners() {
        let from = quad([(3.0, 4.0), (40.0, 6.0), (41.0, 20.0), (2.0, 18.0)]);
        let to = quad([(0.0, 0.0), (38.0, 0.0), (38.0, 14.0), (0.0, 14.0)]);
        let h = Homography::between(&from, &to).unwrap();
        for i in 0..4 {
            let (x, y) = h.apply(from[i].x, from[i].y);
            assert!((x - to[i].x).abs() < 1e-9 && (y - to[i].y).abs() < 1e-9);
        }
        assert!(Homography::between(&[Point::default(); 4], &to).is_none());
    }
}
