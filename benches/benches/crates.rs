//! wenzi's hand-written image routines against the maintained crates that do the same job
//! (imageproc 0.27, fast_image_resize 6, image 0.25), on the sizes the pipeline uses. Each
//! pair is first checked for agreement on fixture images (the bench panics if they disagree
//! beyond what the table in docs/design.md states), then timed one after the other in one run:
//! group `<routine>`, functions `wenzi` and the crate's name.
//!
//! ```text
//! cargo bench -p wenzi-benches --features compare-crates --bench crates
//! python3 tools/crate_table.py        # ratios from target/criterion
//! ```
//!
//! Everything runs on one thread (imageproc and fast_image_resize without their rayon
//! features; wenzi's routines are sequential), as the pipeline calls them.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fast_image_resize as fir;
use image::{GrayImage, Luma, RgbImage};
use imageproc::contours::{find_contours, BorderType};
use imageproc::geometric_transformations::{
    rotate_about_center_no_crop, warp_into, Border, Interpolation, Projection,
};
use imageproc::point::Point;
use imageproc::region_labelling::{connected_components, Connectivity};
use wenzi_detect::geometry::{convex_hull, min_area_rect_of_hull};
use wenzi_preprocess::components::{label, label_ink};
use wenzi_preprocess::{
    otsu_threshold, resize_rgb, rotate_gray, sauvola, threshold, to_gray, Rotation, SauvolaParams,
};

fn fixture(name: &str) -> RgbImage {
    let path = format!("{}/../fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
    image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8()
}

/// A page-sized gray image (a rendered page scaled to 1280 × 960, as in the preprocess bench).
fn page_gray() -> GrayImage {
    to_gray(&resize_rgb(&fixture("page_008.png"), 1280, 960))
}

/// Ink of the page (0 = ink, 255 = paper), binarized with Otsu.
fn page_ink(gray: &GrayImage) -> GrayImage {
    threshold(gray, otsu_threshold(gray))
}

/// A mask like the DB detector's thresholded probability map: each text line one blob
/// (the ink dilated 6 px sideways and 2 px up and down). `true` = text.
fn line_blobs(ink: &GrayImage) -> (u32, u32, Vec<bool>) {
    let (w, h) = ink.dimensions();
    let is_ink = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < i64::from(w)
            && y < i64::from(h)
            && ink.get_pixel(x as u32, y as u32)[0] == 0
    };
    let mut mask = vec![false; (w * h) as usize];
    for y in 0..i64::from(h) {
        for x in 0..i64::from(w) {
            mask[(y as u32 * w + x as u32) as usize] =
                (-2..=2).any(|dy| (-6..=6).any(|dx| is_ink(x + dx, y + dy)));
        }
    }
    (w, h, mask)
}

fn mask_image(w: u32, h: u32, mask: &[bool]) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        Luma([u8::from(mask[(y * w + x) as usize]) * 255])
    })
}

/// Both labelings split the pixels into the same regions (labels may be numbered differently).
fn same_partition(ours: &wenzi_preprocess::components::Components, theirs: &[u32], w: u32) {
    use std::collections::HashMap;
    let mut map: HashMap<u32, u32> = HashMap::new();
    let mut back: HashMap<u32, u32> = HashMap::new();
    let mut pixels = 0usize;
    for run in &ours.runs {
        for x in run.x0..=run.x1 {
            let t = theirs[(run.y * w + x) as usize];
            assert_ne!(t, 0, "imageproc calls a foreground pixel background");
            assert_eq!(
                *map.entry(run.comp).or_insert(t),
                t,
                "a region of ours is split"
            );
            assert_eq!(
                *back.entry(t).or_insert(run.comp),
                run.comp,
                "regions merged"
            );
            pixels += 1;
        }
    }
    assert_eq!(pixels, theirs.iter().filter(|&&l| l != 0).count());
    assert_eq!(ours.components.len(), map.len());
}

fn components(c: &mut Criterion) {
    let gray = page_gray();
    let ink = page_ink(&gray);
    let inverted = GrayImage::from_fn(ink.width(), ink.height(), |x, y| {
        Luma([255 - ink.get_pixel(x, y)[0]])
    });
    let theirs = connected_components(&inverted, Connectivity::Eight, Luma([0u8]));
    same_partition(&label_ink(&ink), theirs.as_raw(), ink.width());
    let mut g = c.benchmark_group("components, ink of a 1280x960 page");
    g.bench_function("wenzi", |b| b.iter(|| label_ink(black_box(&ink))));
    g.bench_function("imageproc", |b| {
        b.iter(|| connected_components(black_box(&inverted), Connectivity::Eight, Luma([0u8])))
    });
    g.finish();

    let (w, h, mask) = line_blobs(&ink);
    let img = mask_image(w, h, &mask);
    let theirs = connected_components(&img, Connectivity::Eight, Luma([0u8]));
    same_partition(&label(w, h, &mask), theirs.as_raw(), w);
    let mut g = c.benchmark_group("components, line blobs of a 1280x960 page");
    g.bench_function("wenzi", |b| b.iter(|| label(w, h, black_box(&mask))));
    g.bench_function("imageproc", |b| {
        b.iter(|| connected_components(black_box(&img), Connectivity::Eight, Luma([0u8])))
    });
    g.finish();
}

/// The DB post-processing's geometry: every text region's outline points, their convex hull
/// and its minimum-area rectangle. Ours takes the outline from the runs of the labeling (the
/// row ends); imageproc follows each region's border (Suzuki–Abe, like OpenCV's findContours).
fn regions(c: &mut Criterion) {
    let gray = page_gray();
    let (w, h, mask) = line_blobs(&page_ink(&gray));
    let img = mask_image(w, h, &mask);

    let ours_points = |mask: &[bool]| -> Vec<Vec<[f32; 2]>> {
        let comps = label(w, h, mask);
        comps
            .runs_by_component()
            .iter()
            .map(|ids| {
                ids.iter()
                    .flat_map(|&r| {
                        let run = comps.runs[r];
                        [[run.x0 as f32, run.y as f32], [run.x1 as f32, run.y as f32]]
                    })
                    .collect()
            })
            .collect()
    };
    let their_points = |img: &GrayImage| -> Vec<Vec<Point<i32>>> {
        find_contours::<i32>(img)
            .into_iter()
            .filter(|c| c.border_type == BorderType::Outer)
            .map(|c| c.points)
            .collect()
    };

    // Agreement: the same regions and, for each, the same convex hull.
    let ours = ours_points(&mask);
    let theirs = their_points(&img);
    assert_eq!(ours.len(), theirs.len(), "number of regions");
    let key = |hull: &[[f64; 2]]| -> Vec<(i64, i64)> {
        let mut v: Vec<_> = hull
            .iter()
            .map(|p| (p[0].round() as i64, p[1].round() as i64))
            .collect();
        v.sort();
        v
    };
    let mut ours_hulls: Vec<_> = ours.iter().map(|p| key(&convex_hull(p))).collect();
    let mut their_hulls: Vec<_> = theirs
        .iter()
        .map(|p| {
            let hull: Vec<[f64; 2]> = imageproc::geometry::convex_hull(p.clone())
                .iter()
                .map(|q| [f64::from(q.x), f64::from(q.y)])
                .collect();
            key(&hull)
        })
        .collect();
    ours_hulls.sort();
    their_hulls.sort();
    assert_eq!(ours_hulls, their_hulls, "convex hulls of the regions");
    // Minimum-area rectangles: imageproc rounds the corners to whole pixels.
    let mut worst = 0f64;
    for pts in &theirs {
        let ours_rect = min_area_rect_of_hull(&convex_hull(
            &pts.iter()
                .map(|p| [p.x as f32, p.y as f32])
                .collect::<Vec<_>>(),
        ))
        .unwrap();
        let r = imageproc::geometry::min_area_rect(pts);
        let side = |a: Point<i32>, b: Point<i32>| {
            f64::from((a.x - b.x).pow(2) + (a.y - b.y).pow(2)).sqrt()
        };
        let (tw, th) = (side(r[0], r[1]), side(r[1], r[2]));
        let (ow, oh) = (ours_rect.width, ours_rect.height);
        let d = ((ow * oh) - (tw * th)).abs() / (ow * oh).max(1.0);
        worst = worst.max(d);
    }
    println!("min-area rectangles: largest relative area difference {worst:.3} (imageproc rounds corners)");

    let mut g = c.benchmark_group("region outlines, line blobs of a 1280x960 page");
    g.bench_function("wenzi", |b| b.iter(|| ours_points(black_box(&mask))));
    g.bench_function("imageproc", |b| b.iter(|| their_points(black_box(&img))));
    g.finish();

    let mut g = c.benchmark_group("convex hulls of every region");
    g.bench_function("wenzi", |b| {
        b.iter(|| ours.iter().map(|p| convex_hull(p).len()).sum::<usize>())
    });
    g.bench_function("imageproc", |b| {
        b.iter(|| {
            theirs
                .iter()
                .map(|p| imageproc::geometry::convex_hull(p.clone()).len())
                .sum::<usize>()
        })
    });
    g.finish();

    let our_hulls: Vec<Vec<[f64; 2]>> = ours.iter().map(|p| convex_hull(p)).collect();
    let hulls: Vec<Vec<Point<i32>>> = theirs
        .iter()
        .map(|p| imageproc::geometry::convex_hull(p.clone()))
        .collect();
    let mut g = c.benchmark_group("min-area rectangles of every region's hull");
    g.bench_function("wenzi", |b| {
        b.iter(|| {
            our_hulls
                .iter()
                .filter_map(|h| min_area_rect_of_hull(h))
                .count()
        })
    });
    g.bench_function("imageproc", |b| {
        b.iter(|| {
            hulls
                .iter()
                .map(|h| imageproc::geometry::min_area_rect(h)[0].x)
                .sum::<i32>()
        })
    });
    g.finish();
}

fn thresholds(c: &mut Criterion) {
    let gray = page_gray();
    for name in ["page_008.png", "degraded_000.png", "table_016.png"] {
        let g = to_gray(&fixture(name));
        assert_eq!(
            otsu_threshold(&g),
            imageproc::contrast::otsu_level(&g),
            "Otsu level of {name}"
        );
    }
    let mut g = c.benchmark_group("Otsu level, 1280x960");
    g.bench_function("wenzi", |b| b.iter(|| otsu_threshold(black_box(&gray))));
    g.bench_function("imageproc", |b| {
        b.iter(|| imageproc::contrast::otsu_level(black_box(&gray)))
    });
    g.finish();

    // Not the same rule: Sauvola (mean and deviation) vs imageproc's local mean minus delta.
    let params = SauvolaParams::default();
    let mut g = c.benchmark_group("adaptive threshold, 1280x960");
    g.bench_function("wenzi", |b| b.iter(|| sauvola(black_box(&gray), &params)));
    g.bench_function("imageproc", |b| {
        b.iter(|| imageproc::contrast::adaptive_threshold(black_box(&gray), params.window / 2, 0))
    });
    g.finish();
}

/// Largest and mean absolute difference between two images of the same size.
fn diff(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let mut worst = 0u8;
    let mut sum = 0u64;
    for (&x, &y) in a.iter().zip(b) {
        let d = x.abs_diff(y);
        worst = worst.max(d);
        sum += u64::from(d);
    }
    (worst, sum as f64 / a.len().max(1) as f64)
}

/// A slanted text-line crop (the recognizer's input): a projective warp to 48 px height.
fn warp(c: &mut Criterion) {
    let page = fixture("page_008.png");
    let quad = [[20.0, 30.0], [620.0, 42.0], [619.0, 80.0], [19.0, 68.0]];
    let ours = wenzi_recognize::crop_quad(&page, &quad, 48).unwrap();
    let (w, h) = ours.dimensions();
    // Our crop maps the quad's corners onto the output's pixel-corner rectangle.
    let to = [
        (0.0, 0.0),
        (w as f32, 0.0),
        (w as f32, h as f32),
        (0.0, h as f32),
    ];
    let from = quad.map(|[x, y]| (x, y));
    let proj = Projection::from_control_points(from, to).unwrap();
    let mut theirs = RgbImage::new(w, h);
    warp_into(
        &page,
        proj,
        Interpolation::Bilinear,
        Border::Replicate,
        &mut theirs,
    );
    let (worst, mean) = diff(ours.as_raw(), theirs.as_raw());
    println!("line crop {w}x{h}: wenzi vs imageproc max |diff| {worst}, mean {mean:.2}");
    assert!(mean < 8.0, "crops differ: mean |diff| {mean}");

    let mut g = c.benchmark_group(format!("line crop, slanted 600x40 quad to {w}x{h}"));
    g.bench_function("wenzi", |b| {
        b.iter(|| wenzi_recognize::crop_quad(black_box(&page), &quad, 48))
    });
    g.bench_function("imageproc", |b| {
        b.iter(|| {
            let mut out = RgbImage::new(w, h);
            warp_into(
                black_box(&page),
                proj,
                Interpolation::Bilinear,
                Border::Replicate,
                &mut out,
            );
            out
        })
    });
    g.finish();
}

/// Deskew: a 3° turn of a page onto a canvas that holds all of it.
fn rotation(c: &mut Criterion) {
    let gray = page_gray();
    let (w, h) = gray.dimensions();
    let rot = Rotation::new(w, h, 3.0);
    let ours = rotate_gray(&gray, &rot, 255);
    // imageproc turns clockwise for a positive angle; ours counter-clockwise as displayed.
    let theta = -3f32.to_radians();
    let theirs = rotate_about_center_no_crop(
        &gray,
        theta,
        Interpolation::Bilinear,
        Border::Constant(Luma([255])),
    );
    println!(
        "rotation: canvas wenzi {}x{}, imageproc {}x{}",
        ours.width(),
        ours.height(),
        theirs.width(),
        theirs.height()
    );
    if ours.dimensions() == theirs.dimensions() {
        let (worst, mean) = diff(ours.as_raw(), theirs.as_raw());
        println!("rotation: max |diff| {worst}, mean {mean:.2}");
        assert!(mean < 4.0, "rotations differ: mean |diff| {mean}");
    }
    let mut g = c.benchmark_group("rotate 3 degrees, 1280x960 gray");
    g.bench_function("wenzi", |b| {
        b.iter(|| rotate_gray(black_box(&gray), &rot, 255))
    });
    g.bench_function("imageproc", |b| {
        b.iter(|| {
            rotate_about_center_no_crop(
                black_box(&gray),
                theta,
                Interpolation::Bilinear,
                Border::Constant(Luma([255])),
            )
        })
    });
    g.finish();
}

fn fir_resize(resizer: &mut fir::Resizer, src: &RgbImage, w: u32, h: u32) -> Vec<u8> {
    let src = fir::images::ImageRef::new(
        src.width(),
        src.height(),
        src.as_raw(),
        fir::PixelType::U8x3,
    )
    .unwrap();
    let mut dst = fir::images::Image::new(w, h, fir::PixelType::U8x3);
    let opts = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Interpolation(fir::FilterType::Bilinear));
    resizer.resize(&src, &mut dst, &opts).unwrap();
    dst.into_vec()
}

/// The detector's input: a photo scaled down to the detector cap, and a page scaled slightly.
/// OpenCV's INTER_LINEAR (two taps, which the PP-OCR models were trained with) is the rule:
/// fast_image_resize's `Interpolation(Bilinear)` follows it, and since docs/design.md's
/// measurement `wenzi_preprocess::resize_rgb` is fast_image_resize (our scalar code was
/// 3.5–4× slower); image's `Triangle` widens
/// its filter when shrinking (an area-like average, not what the models expect).
fn resize(c: &mut Criterion) {
    let page = fixture("page_008.png");
    let photo = resize_rgb(&page, 4032, 3024);
    let mut resizer = fir::Resizer::new();
    for (name, src, (w, h)) in [
        ("photo 4032x3024 to 1536x1152", &photo, (1536, 1152)),
        (
            "page 1280x960 to 960x736",
            &resize_rgb(&page, 1280, 960),
            (960, 736),
        ),
    ] {
        let ours = resize_rgb(src, w, h);
        let theirs = fir_resize(&mut resizer, src, w, h);
        let (worst, mean) = diff(ours.as_raw(), &theirs);
        let tri = image::imageops::resize(src, w, h, image::imageops::FilterType::Triangle);
        let (tw, tm) = diff(ours.as_raw(), tri.as_raw());
        println!(
            "resize {name}: fast_image_resize max |diff| {worst}, mean {mean:.3}; image Triangle max {tw}, mean {tm:.2}"
        );
        assert!(
            worst <= 1,
            "fast_image_resize differs from INTER_LINEAR by {worst}"
        );
        let mut g = c.benchmark_group(format!("resize RGB, {name}"));
        g.bench_function("wenzi", |b| b.iter(|| resize_rgb(black_box(src), w, h)));
        g.bench_function("fast_image_resize", |b| {
            b.iter(|| fir_resize(&mut resizer, black_box(src), w, h))
        });
        g.bench_function("image", |b| {
            b.iter(|| {
                image::imageops::resize(black_box(src), w, h, image::imageops::FilterType::Triangle)
            })
        });
        g.finish();
    }
}

/// RGB to gray: ours BT.601 (OpenCV's weights), image's Rec. 709.
fn gray(c: &mut Criterion) {
    let rgb = resize_rgb(&fixture("page_008.png"), 1280, 960);
    let (worst, mean) = diff(
        to_gray(&rgb).as_raw(),
        image::imageops::grayscale(&rgb).as_raw(),
    );
    println!("gray: image vs wenzi max |diff| {worst}, mean {mean:.2} (different weights)");
    let mut g = c.benchmark_group("RGB to gray, 1280x960");
    g.bench_function("wenzi", |b| b.iter(|| to_gray(black_box(&rgb))));
    g.bench_function("image", |b| {
        b.iter(|| image::imageops::grayscale(black_box(&rgb)))
    });
    g.finish();
}

criterion_group!(benches, components, regions, thresholds, warp, rotation, resize, gray);
criterion_main!(benches);
