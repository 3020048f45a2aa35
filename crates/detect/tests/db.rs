//! DB post-processing on synthetic probability maps, and input preparation.

use image::{Rgb, RgbImage};
use ndarray::Array2;
use wenzi_detect::db::{
    postprocess, prepare_input, prepare_part, DbParams, DetResizePolicy, ScoreMode,
};
use wenzi_detect::TextBox;
use wenzi_layout::LineBox;

/// Paints a rotated rectangle (centre, size, angle in degrees counter-clockwise as displayed)
/// with probability `p` into the map.
fn paint(map: &mut Array2<f32>, c: (f32, f32), size: (f32, f32), angle: f32, p: f32) {
    let (h, w) = map.dim();
    let (s, co) = angle.to_radians().sin_cos();
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - c.0, y as f32 - c.1);
            // Axis along the text direction (cos, -sin) in y-down coordinates.
            let u = dx * co - dy * s;
            let v = dx * s + dy * co;
            if u.abs() <= size.0 / 2.0 && v.abs() <= size.1 / 2.0 {
                map[[y, x]] = p;
            }
        }
    }
}

fn background(h: usize, w: usize) -> Array2<f32> {
    Array2::from_elem((h, w), 0.02)
}

/// Expected unclipped size of a `w × h` kernel.
fn unclipped(w: f32, h: f32, ratio: f32) -> (f32, f32) {
    let d = w * h * ratio / (2.0 * (w + h));
    (w + 2.0 * d, h + 2.0 * d)
}

#[test]
fn axis_aligned_kernel_becomes_unclipped_box_in_original_coordinates() {
    let mut map = background(160, 320);
    paint(&mut map, (160.0, 80.0), (201.0, 21.0), 0.0, 0.9);
    // The map is half the original size.
    let boxes = postprocess(map.view(), &DbParams::default(), 0.5, 0.5, 640, 320);
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    let b = boxes[0];
    // Pixel centres of a 201×21 block span 200×20, and the 2×2 dilation adds one pixel.
    let (ew, eh) = unclipped(201.0, 21.0, 1.6);
    assert!(
        (b.width() - 2.0 * ew).abs() < 3.0,
        "width {} vs {}",
        b.width(),
        2.0 * ew
    );
    assert!(
        (b.height() - 2.0 * eh).abs() < 3.0,
        "height {} vs {}",
        b.height(),
        2.0 * eh
    );
    let [x0, y0, x1, y1] = b.bounds();
    assert!(((x0 + x1) / 2.0 - 320.0).abs() < 1.5 && ((y0 + y1) / 2.0 - 160.0).abs() < 1.5);
    assert!(b.angle_deg().abs() < 0.01);
    // The dilated border (probability 0.02) is part of the scored rectangle, as in RapidOCR.
    assert!(b.score > 0.8 && b.score <= 0.9, "score {}", b.score);
    assert_eq!(b.points[0], [x0, y0], "top-left first");
}

#[test]
fn rotated_kernel_keeps_its_angle_and_size() {
    for angle in [-20.0f32, -7.0, 5.0, 12.0, 30.0] {
        let mut map = background(240, 320);
        paint(&mut map, (160.0, 120.0), (180.0, 24.0), angle, 0.95);
        let boxes = postprocess(map.view(), &DbParams::default(), 1.0, 1.0, 320, 240);
        assert_eq!(boxes.len(), 1, "{angle}: {boxes:?}");
        let b = boxes[0];
        assert!(
            (b.angle_deg() - angle).abs() < 1.0,
            "{angle}: got {}",
            b.angle_deg()
        );
        let (ew, eh) = unclipped(180.0, 24.0, 1.6);
        assert!(
            (b.width() - ew).abs() < 4.0,
            "{angle}: width {} vs {ew}",
            b.width()
        );
        assert!(
            (b.height() - eh).abs() < 4.0,
            "{angle}: height {} vs {eh}",
            b.height()
        );
    }
}

#[test]
fn low_score_and_tiny_regions_are_dropped() {
    let mut map = background(100, 200);
    paint(&mut map, (60.0, 30.0), (80.0, 12.0), 0.0, 0.4); // above thresh, below box_thresh
    paint(&mut map, (150.0, 70.0), (0.9, 0.9), 0.0, 0.99); // a single pixel: too small
    assert!(postprocess(map.view(), &DbParams::default(), 1.0, 1.0, 200, 100).is_empty());
    // Lowering box_thresh keeps the faint one; slow scoring agrees.
    let params = DbParams {
        box_thresh: 0.3,
        ..Default::default()
    };
    assert_eq!(
        postprocess(map.view(), &params, 1.0, 1.0, 200, 100).len(),
        1
    );
    let slow = DbParams {
        score_mode: ScoreMode::Slow,
        box_thresh: 0.3,
        ..Default::default()
    };
    assert_eq!(postprocess(map.view(), &slow, 1.0, 1.0, 200, 100).len(), 1);
}

#[test]
fn boxes_come_out_by_position_and_clipped() {
    let mut map = background(200, 400);
    // Two columns of three lines, the right one offset by half a line pitch (not row-aligned).
    for i in 0..3 {
        paint(
            &mut map,
            (95.0, 30.0 + 50.0 * i as f32),
            (140.0, 14.0),
            0.0,
            0.9,
        );
        paint(
            &mut map,
            (305.0, 55.0 + 50.0 * i as f32),
            (140.0, 14.0),
            0.0,
            0.9,
        );
    }
    // A full-width line touching the border is read last and clipped to the image.
    paint(&mut map, (200.0, 195.0), (390.0, 8.0), 0.0, 0.9);
    let boxes = postprocess(map.view(), &DbParams::default(), 1.0, 1.0, 400, 200);
    assert_eq!(boxes.len(), 7, "{boxes:?}");
    // Detection sorts by the top edge only: the columns come out interleaved...
    let tops: Vec<f32> = boxes.iter().map(|b| b.bounds()[1]).collect();
    assert!(tops.windows(2).all(|w| w[0] <= w[1]), "{tops:?}");
    let cx = |b: &TextBox| (b.bounds()[0] + b.bounds()[2]) / 2.0;
    assert!(cx(&boxes[0]) < 200.0 && cx(&boxes[1]) > 200.0, "{boxes:?}");
    // ...and the layout crate reads them column by column, the full-width line last.
    let lines: Vec<LineBox> = boxes
        .iter()
        .map(|b| LineBox::horizontal(b.points))
        .collect();
    let xs: Vec<f32> = wenzi_layout::reading_order(&lines)
        .into_iter()
        .map(|i| cx(&boxes[i]))
        .collect();
    assert!(
        xs[..3].iter().all(|&x| x < 200.0) && xs[3..6].iter().all(|&x| x > 200.0),
        "{xs:?}"
    );
    for b in &boxes {
        for p in &b.points {
            assert!(
                p[0] >= 0.0 && p[0] <= 399.0 && p[1] >= 0.0 && p[1] <= 199.0,
                "{b:?}"
            );
        }
    }
}

#[test]
fn degenerate_maps_do_not_panic() {
    let params = DbParams::default();
    assert!(postprocess(
        Array2::<f32>::zeros((0, 0)).view(),
        &params,
        1.0,
        1.0,
        10,
        10
    )
    .is_empty());
    assert!(postprocess(Array2::<f32>::zeros((5, 5)).view(), &params, 1.0, 1.0, 0, 0).is_empty());
    let ones = Array2::<f32>::ones((32, 32));
    let b = postprocess(ones.view(), &params, f32::NAN, -1.0, 64, 64);
    assert_eq!(b.len(), 1);
    assert!(b[0].points.iter().flatten().all(|v| v.is_finite()));
    let nan = Array2::from_elem((16, 16), f32::NAN);
    assert!(postprocess(nan.view(), &params, 1.0, 1.0, 16, 16).is_empty());
    let mut mixed = Array2::from_elem((40, 40), f32::INFINITY);
    mixed[[3, 3]] = f32::NAN;
    let _ = postprocess(mixed.view(), &params, 1.0, 1.0, 40, 40);
}

#[test]
fn max_candidates_limits_work() {
    let mut map = background(100, 400);
    for i in 0..10 {
        paint(
            &mut map,
            (20.0 + 38.0 * i as f32, 50.0),
            (24.0, 12.0),
            0.0,
            0.9,
        );
    }
    let params = DbParams {
        max_candidates: 4,
        ..Default::default()
    };
    assert_eq!(
        postprocess(map.view(), &params, 1.0, 1.0, 400, 100).len(),
        4
    );
}

#[test]
fn prepare_input_is_bgr_normalized_and_multiple_of_32() {
    let img = RgbImage::from_fn(100, 50, |x, _| {
        if x < 50 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let (t, sx, sy) = prepare_input(&img, &DetResizePolicy::LimitMax { side: 960 });
    assert_eq!(t.shape(), &[1, 3, 64, 96]);
    assert!((sx - 0.96).abs() < 1e-6 && (sy - 1.28).abs() < 1e-6);
    // Left half red: B channel (0) is -1, R channel (2) is +1.
    assert!((t[[0, 0, 10, 5]] + 1.0).abs() < 1e-6);
    assert!((t[[0, 2, 10, 5]] - 1.0).abs() < 1e-6);
    assert!((t[[0, 0, 10, 90]] - 1.0).abs() < 1e-6);
    // Default policy: also multiples of 32 and finite.
    let (t, sx, sy) = prepare_input(&img, &DetResizePolicy::default());
    assert!(t.shape()[2] % 32 == 0 && t.shape()[3] % 32 == 0);
    assert!(sx > 0.0 && sy > 0.0 && t.iter().all(|v| v.is_finite()));
}

#[test]
fn a_prepared_part_is_the_whole_inputs_pixels_on_its_grid() {
    // A textured image, so that any shift or resampling difference shows.
    let img = RgbImage::from_fn(700, 420, |x, y| {
        Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let policy = DetResizePolicy::LimitMax { side: 640 };
    let (whole, sx, sy) = prepare_input(&img, &policy);
    let size = (whole.shape()[3] as u32, whole.shape()[2] as u32);
    let (part, psx, psy, [x0, y0]) = prepare_part(&img, size, [100, 70, 300, 200]);
    assert_eq!((psx, psy), (sx, sy));
    // Rounded out to the 32-pixel grid: 96..320 × 64..224.
    assert_eq!([x0, y0], [96, 64]);
    assert_eq!(part.shape(), &[1, 3, 160, 224]);
    let same = whole.slice(ndarray::s![.., .., 64..224, 96..320]);
    assert_eq!(part.view(), same);
    // A part reaching past the image is cut at its edge, and never narrower than 32.
    let (part, _, _, [x0, y0]) = prepare_part(&img, size, [630, 390, 9999, 9999]);
    assert_eq!([x0, y0], [size.0 - 32, size.1 - 32]);
    assert_eq!(part.shape(), &[1, 3, 32, 32]);
}

#[test]
fn postprocess_round_trips_prepare_input_scales() {
    // A 1000×300 image is resized; a kernel painted at the map position of an original box must
    // map back to that box.
    let img = RgbImage::from_pixel(1000, 300, Rgb([255, 255, 255]));
    let (t, sx, sy) = prepare_input(&img, &DetResizePolicy::LimitMax { side: 640 });
    let (h, w) = (t.shape()[2], t.shape()[3]);
    let mut map = background(h, w);
    // Original box centred at (500, 150).
    paint(&mut map, (500.0 * sx, 150.0 * sy), (200.0, 12.0), 0.0, 0.9);
    let boxes: Vec<TextBox> = postprocess(map.view(), &DbParams::default(), sx, sy, 1000, 300);
    assert_eq!(boxes.len(), 1);
    let [x0, y0, x1, y1] = boxes[0].bounds();
    assert!(
        ((x0 + x1) / 2.0 - 500.0).abs() < 2.0 && ((y0 + y1) / 2.0 - 150.0).abs() < 2.0,
        "{:?}",
        boxes[0]
    );
}
