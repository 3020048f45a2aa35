//! Runs the classic detector on image files and draws the boxes, numbered in reading order.
//!
//! `cargo run --release -p wenzi-detect --example classic_page -- in.png [more.png] [-o outdir]`

use std::path::PathBuf;
use std::time::Instant;

use wenzi_detect::classic::{detect, ClassicParams};
use wenzi_detect::preprocess::{decode, image::Rgb, to_gray, DecodeLimits};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut out_dir: Option<PathBuf> = None;
    if let Some(i) = args.iter().position(|a| a == "-o") {
        out_dir = args.get(i + 1).map(PathBuf::from);
        args.drain(i..(i + 2).min(args.len()));
    }
    for path in args {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let img = match decode(&bytes, &DecodeLimits::default()) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let gray = to_gray(&img);
        let t = Instant::now();
        let boxes = detect(&gray, &ClassicParams::default());
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let single = wenzi_detect::looks_like_single_line(&gray);
        println!(
            "{path}: {} boxes in {ms:.1} ms single_line={single}",
            boxes.len()
        );
        for (i, b) in boxes.iter().enumerate() {
            let [x0, y0, x1, y1] = b.bounds();
            println!(
                "  {i:3}: [{x0:.0},{y0:.0} - {x1:.0},{y1:.0}] angle {:.1}",
                b.angle_deg()
            );
        }
        if let Some(dir) = &out_dir {
            let mut canvas = img.clone();
            for (i, b) in boxes.iter().enumerate() {
                let color = Rgb([(i * 67 % 256) as u8, 40, 255 - (i * 67 % 256) as u8]);
                for k in 0..4 {
                    let (p, q) = (b.points[k], b.points[(k + 1) % 4]);
                    let steps = ((q[0] - p[0]).abs().max((q[1] - p[1]).abs()) as usize).max(1);
                    for s in 0..=steps {
                        let f = s as f32 / steps as f32;
                        let (x, y) = (p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f);
                        if x >= 0.0
                            && y >= 0.0
                            && (x as u32) < canvas.width()
                            && (y as u32) < canvas.height()
                        {
                            canvas.put_pixel(x as u32, y as u32, color);
                        }
                    }
                }
            }
            let name = PathBuf::from(&path)
                .file_name()
                .map(|n| n.to_owned())
                .unwrap_or_default();
            let _ = std::fs::create_dir_all(dir);
            let out = dir.join(name).with_extension("png");
            if let Err(e) =
                canvas.save_with_format(&out, wenzi_detect::preprocess::image::ImageFormat::Png)
            {
                eprintln!("{}: {e}", out.display());
            }
        }
    }
}
