//! Classic (network-free) text line detection for clean printed pages.
//!
//! 1. Polarity: light-on-dark pages are inverted so text is dark.
//! 2. Skew: estimated by projection profiles and corrected on a rotated copy; boxes are mapped
//!    back, so they come out as rotated quads in the caller's coordinates.
//! 3. Binarization (Sauvola with a window sized to the text, or Otsu).
//! 4. 8-connected components; specks, pictures/banners and ruling lines are dropped using the
//!    typical glyph height `H`.
//! 5. Run-length smearing: gaps shorter than `gap_factor × H` inside a pixel row are filled,
//!    which fuses the glyphs of a line (and only that line) into one blob but leaves column
//!    gutters, table cell gaps and label/value gaps open.
//! 6. Blobs taller than a line are split at the valleys of their horizontal projection profile
//!    (touching lines); thin fragments (i-dots, the strokes of 二/三) rejoin their line.
//! 7. Boxes are padded and sorted by position
//!    ([`sort_by_position`]); reading order across columns and table
//!    rows is decided by `wenzi-layout`.

use image::GrayImage;
use wenzi_preprocess::components::{label_ink, Component};
use wenzi_preprocess::{
    dark_is_minority, estimate_skew, estimate_text_height, histogram, invert, otsu, rotate_gray,
    sauvola, Rotation, SauvolaParams,
};

use crate::geometry::order_quad;
use crate::{sort_by_position, TextBox};

/// Binarization method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binarization {
    /// Global Otsu threshold: fastest, fine for evenly lit rendered pages.
    Otsu,
    /// Sauvola local threshold; a `window` of 0 picks about three glyph heights.
    Sauvola(SauvolaParams),
}

/// Parameters of [`detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassicParams {
    /// Binarization method.
    pub binarization: Binarization,
    /// Estimate and correct page skew before segmenting.
    pub deskew: bool,
    /// Largest horizontal gap bridged inside a line, in glyph heights. Word spaces (≈0.3 em) and
    /// CJK punctuation gaps (≈0.7 em) must be below it, column gutters and table gaps above.
    pub gap_factor: f32,
    /// Padding added around each line, as a fraction of its height.
    pub padding: f32,
    /// Components with fewer pixels are noise.
    pub min_area: u32,
}

impl Default for ClassicParams {
    fn default() -> Self {
        Self {
            binarization: Binarization::Sauvola(SauvolaParams {
                window: 0,
                k: 0.2,
                r: 128.0,
            }),
            deskew: true,
            gap_factor: 1.5,
            padding: 0.15,
            min_area: 3,
        }
    }
}

/// Detects text lines in a grayscale page. Returns boxes in `gray`'s coordinates, with score 1,
/// sorted top to bottom by their top edge, then left to right
/// ([`sort_by_position`]; reading order is `wenzi-layout`'s job).
pub fn detect(gray: &GrayImage, params: &ClassicParams) -> Vec<TextBox> {
    let (w, h) = gray.dimensions();
    if w < 2 || h < 2 {
        return Vec::new();
    }
    let upright = if dark_is_minority(gray) {
        gray.clone()
    } else {
        invert(gray)
    };
    let upright = stretch_contrast(&upright);

    let angle = if params.deskew {
        estimate_skew(&upright)
    } else {
        0.0
    };
    let rot = (angle.abs() >= 0.5).then(|| Rotation::new(w, h, -angle));
    let work = match &rot {
        Some(r) => rotate_gray(&upright, r, 255),
        None => upright,
    };

    let bin = match params.binarization {
        Binarization::Otsu => otsu(&work),
        Binarization::Sauvola(mut p) => {
            if p.window == 0 {
                let th = estimate_text_height(&work).unwrap_or(16.0);
                p.window = ((th * 3.0) as u32).clamp(15, 151) | 1;
            }
            sauvola(&work, &p)
        }
    };

    // Local thresholds hollow out large dark panels (only their edges survive), so panels are
    // found on a global threshold instead.
    let panels = solid_panels(&otsu(&work));
    let mut boxes: Vec<TextBox> = segment_lines(&work, &bin, params, Some(&panels))
        .into_iter()
        .map(|s| {
            let pad = params.padding.max(0.0) * (s.y1 - s.y0 + 1) as f32;
            let (x0, y0) = (s.x0 as f32 - pad, s.y0 as f32 - pad);
            let (x1, y1) = (s.x1 as f32 + pad, s.y1 as f32 + pad);
            let quad = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
            let quad = match &rot {
                Some(r) => quad.map(|p| r.to_src(p)),
                None => quad,
            };
            let clipped = quad.map(|p| {
                [
                    p[0].clamp(0.0, (w - 1) as f32),
                    p[1].clamp(0.0, (h - 1) as f32),
                ]
            });
            TextBox {
                points: order_quad(clipped),
                score: 1.0,
            }
        })
        .filter(|b| b.width() >= 2.0 && b.height() >= 2.0)
        .collect();
    sort_by_position(&mut boxes);
    boxes
}

/// Linearly stretches the 0.5th..99.5th percentile range to 0..255. Sauvola's `R = 128`
/// assumes full-range images; faded scans would otherwise lose their lighter strokes.
fn stretch_contrast(gray: &GrayImage) -> GrayImage {
    let hist = histogram(gray);
    let total: u64 = hist.iter().sum();
    let cut = total / 200;
    let mut acc = 0u64;
    let lo = hist.iter().position(|&c| {
        acc += c;
        acc > cut
    });
    acc = 0;
    let hi = hist.iter().rposition(|&c| {
        acc += c;
        acc > cut
    });
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return gray.clone();
    };
    if hi <= lo + 8 || (lo == 0 && hi == 255) {
        return gray.clone();
    }
    let (lo, range) = (lo as f32, (hi - lo) as f32);
    let lut: Vec<u8> = (0..256)
        .map(|v| ((v as f32 - lo) * 255.0 / range).round().clamp(0.0, 255.0) as u8)
        .collect();
    let mut out = gray.clone();
    out.as_mut()
        .iter_mut()
        .for_each(|v| *v = lut[usize::from(*v)]);
    out
}

/// A line segment in working-image pixels (inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Segment {
    fn from_component(c: &Component) -> Self {
        Self {
            x0: c.x0,
            y0: c.y0,
            x1: c.x1,
            y1: c.y1,
        }
    }
    fn union(&self, o: &Segment) -> Segment {
        Segment {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }
    fn intersection_area(&self, o: &Segment) -> u64 {
        let w = i64::from(self.x1.min(o.x1)) - i64::from(self.x0.max(o.x0)) + 1;
        let h = i64::from(self.y1.min(o.y1)) - i64::from(self.y0.max(o.y0)) + 1;
        if w > 0 && h > 0 {
            (w * h) as u64
        } else {
            0
        }
    }
    fn contains(&self, o: &Segment) -> bool {
        o.x0 >= self.x0 && o.x1 <= self.x1 && o.y0 >= self.y0 && o.y1 <= self.y1
    }
    fn w(&self) -> u32 {
        self.x1 - self.x0 + 1
    }
    fn h(&self) -> u32 {
        self.y1 - self.y0 + 1
    }
}

/// Typical glyph height: 75th percentile of plausible component heights.
fn glyph_height(comps: &[Component], img_h: u32) -> Option<f32> {
    let mut hs: Vec<u32> = comps
        .iter()
        .filter(|c| {
            c.area >= 4
                && c.height() >= 3
                && c.height() <= img_h / 2 + 1
                && c.width() <= c.height() * 4
        })
        .map(|c| c.height())
        .collect();
    if hs.is_empty() {
        return None;
    }
    hs.sort_unstable();
    Some(hs[hs.len() * 3 / 4] as f32)
}

/// Large, almost entirely dark components of a binarized image: buttons, banners, avatars.
fn solid_panels(bin: &GrayImage) -> Vec<Segment> {
    let ink = label_ink(bin);
    let Some(gh) = glyph_height(&ink.components, bin.height()) else {
        return Vec::new();
    };
    let runs_of = ink.runs_by_component();
    ink.components
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            is_solid(c, gh) && is_rectangular(c, runs_of[*i].iter().map(|&r| ink.runs[r]))
        })
        .map(|(_, c)| Segment::from_component(c))
        .collect()
}

/// Panels have straight sides: nearly every row spans (almost) the full width. Shading from
/// uneven illumination also binarizes into big filled blobs, but with curved or slanted edges.
fn is_rectangular(
    c: &Component,
    runs: impl Iterator<Item = wenzi_preprocess::components::Run>,
) -> bool {
    let h = c.height() as usize;
    let mut span = vec![(u32::MAX, 0u32); h];
    for r in runs {
        let y = (r.y - c.y0) as usize;
        span[y] = (span[y].0.min(r.x0), span[y].1.max(r.x1));
    }
    let slack = (c.width() / 10).max(2);
    let full = span
        .iter()
        .filter(|&&(a, b)| a <= c.x0 + slack && b + slack >= c.x1)
        .count();
    full * 10 >= h * 9
}

/// Glyphs are never this filled: a component covering ≥ 70 % of a box that is wider and taller
/// than a glyph is a panel, and any text in it is light-on-dark.
fn is_solid(c: &Component, gh: f32) -> bool {
    let (cw, ch) = (c.width() as f32, c.height() as f32);
    c.area as f32 >= 0.7 * cw * ch && cw >= 1.5 * gh && ch >= 1.2 * gh
}

/// Segments text lines in a binarized image (ink = 0). With `panels`, solid panels (those
/// given plus those found in `bin`) are searched for light-on-dark text as well.
fn segment_lines(
    gray: &GrayImage,
    bin: &GrayImage,
    params: &ClassicParams,
    panels: Option<&[Segment]>,
) -> Vec<Segment> {
    let (w, h) = bin.dimensions();
    let ink = label_ink(bin);
    let Some(gh) = glyph_height(&ink.components, h) else {
        return Vec::new();
    };
    let comps = &ink.components;
    let runs_of = ink.runs_by_component();
    let allow_inverse = panels.is_some();
    let mut solids: Vec<Segment> = panels.map(<[Segment]>::to_vec).unwrap_or_default();
    let mut kept: Vec<usize> = (0..comps.len())
        .filter(|&i| {
            let c = &comps[i];
            let (cw, ch) = (c.width() as f32, c.height() as f32);
            if is_solid(c, gh) && is_rectangular(c, runs_of[i].iter().map(|&r| ink.runs[r])) {
                solids.push(Segment::from_component(c));
                return false;
            }
            let noise = c.area < u64::from(params.min_area);
            let picture = ch > 6.0 * gh || (cw > 0.5 * w as f32 && ch > 2.5 * gh);
            let h_rule = cw > 8.0 * gh && ch < 0.3 * gh;
            let v_rule = ch > 4.0 * gh && cw < 0.25 * gh;
            // Outlines of buttons and boxes: wide, taller than a glyph, hollow.
            let frame = cw >= 2.5 * gh
                && ch >= 1.5 * gh
                && cw >= 1.5 * ch
                && (c.area as f32) < 0.25 * cw * ch;
            !(noise || picture || h_rule || v_rule || frame)
        })
        .collect();
    // The same panel may be found by both thresholds: keep the largest of overlapping ones.
    solids.sort_by_key(|s| {
        (
            std::cmp::Reverse(u64::from(s.w()) * u64::from(s.h())),
            s.y0,
            s.x0,
        )
    });
    let mut unique: Vec<Segment> = Vec::new();
    for s in solids {
        let area = u64::from(s.w()) * u64::from(s.h());
        if !unique
            .iter()
            .any(|u| u.intersection_area(&s) * 5 >= area * 4)
        {
            unique.push(s);
        }
    }
    let solids = unique;
    // What lies inside a solid panel are the panel's holes (light text), not dark text.
    if !solids.is_empty() {
        kept.retain(|&i| {
            let c = Segment::from_component(&comps[i]);
            !solids.iter().any(|s| s.contains(&c))
        });
    }

    // Link glyphs that sit side by side on the same line: horizontal gap at most `gap` and
    // substantial vertical overlap. Working on component boxes rather than pixel rows keeps
    // quotes, hyphens and commas (which share no pixel row with their neighbours) in the line.
    let gap = params.gap_factor.max(0.0) * gh;
    let mut by_x = kept.clone();
    by_x.sort_by_key(|&i| (comps[i].x0, comps[i].y0, i));
    let mut uf = UnionFind::new(comps.len());
    for (a, &i) in by_x.iter().enumerate() {
        let ci = &comps[i];
        let reach = ci.x1 as f32 + gap;
        for &j in &by_x[a + 1..] {
            let cj = &comps[j];
            if cj.x0 as f32 > reach {
                break;
            }
            let overlap = ci.y1.min(cj.y1) as i64 - ci.y0.max(cj.y0) as i64 + 1;
            let lo = ci.height().min(cj.height()) as i64;
            if overlap * 2 >= lo && overlap > 0 {
                uf.union(i, j);
            }
        }
    }

    // Groups → segments, with a per-group row profile for splitting touching lines.
    let mut group_of = vec![usize::MAX; comps.len()];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &kept {
        let root = uf.find(i);
        if group_of[root] == usize::MAX {
            group_of[root] = groups.len();
            groups.push(Vec::new());
        }
        groups[group_of[root]].push(i);
    }
    let mut segs: Vec<Segment> = Vec::new();
    for members in &groups {
        let mut s = Segment::from_component(&comps[members[0]]);
        for &m in &members[1..] {
            s = s.union(&Segment::from_component(&comps[m]));
        }
        if s.h() as f32 > 1.6 * gh {
            let runs = members
                .iter()
                .flat_map(|&m| runs_of[m].iter().map(|&r| ink.runs[r]));
            split_by_profile(&s, runs, gh, &mut segs);
        } else {
            segs.push(s);
        }
    }
    let segs = merge_same_line(segs, gap);
    let mut segs = merge_fragments(segs, gh, gap);
    if allow_inverse {
        for solid in solids {
            segs.extend(inverse_region(gray, &solid, params));
        }
    }
    segs
}

/// Detects light-on-dark text inside a solid panel: the panel crop is re-binarized with the
/// opposite polarity and segmented on its own (one level deep).
fn inverse_region(gray: &GrayImage, r: &Segment, params: &ClassicParams) -> Vec<Segment> {
    let crop = image::imageops::crop_imm(gray, r.x0, r.y0, r.w(), r.h()).to_image();
    let crop = if dark_is_minority(&crop) {
        crop
    } else {
        invert(&crop)
    };
    let bin = otsu(&crop);
    let (cw, ch) = (r.w(), r.h());
    segment_lines(&crop, &bin, params, None)
        .into_iter()
        // Panel text has a margin; what touches the crop edge is the panel's rounded corners
        // or the page around it.
        .filter(|s| s.x0 > 0 && s.y0 > 0 && s.x1 + 1 < cw && s.y1 + 1 < ch)
        .map(|s| Segment {
            x0: s.x0 + r.x0,
            y0: s.y0 + r.y0,
            x1: s.x1 + r.x0,
            y1: s.y1 + r.y0,
        })
        .collect()
}

/// Joins segments of one line that glyph-level linking left apart (a quote mark next to
/// x-height letters shares too little height with them): close horizontally and overlapping
/// by at least half the lower one's height. Repeats until stable.
fn merge_same_line(mut segs: Vec<Segment>, gap: f32) -> Vec<Segment> {
    loop {
        segs.sort_by_key(|s| (s.x0, s.y0, s.x1, s.y1));
        let mut uf = UnionFind::new(segs.len());
        let mut changed = false;
        for a in 0..segs.len() {
            let sa = segs[a];
            for (b, sb) in segs.iter().enumerate().skip(a + 1) {
                if sb.x0 as f32 > sa.x1 as f32 + gap {
                    break;
                }
                let overlap = sa.y1.min(sb.y1) as i64 - sa.y0.max(sb.y0) as i64 + 1;
                let lo = i64::from(sa.h().min(sb.h()));
                let hi = i64::from(sa.h().max(sb.h()));
                // Similar heights too: a title line must not swallow a small caption beside it.
                if overlap * 2 >= lo && overlap > 0 && hi <= 3 * lo && uf.find(a) != uf.find(b) {
                    uf.union(a, b);
                    changed = true;
                }
            }
        }
        if !changed {
            return segs;
        }
        let mut merged: Vec<Option<Segment>> = vec![None; segs.len()];
        for (i, s) in segs.iter().enumerate() {
            let r = uf.find(i);
            merged[r] = Some(merged[r].map_or(*s, |m| m.union(s)));
        }
        segs = merged.into_iter().flatten().collect();
    }
}

/// Minimal union-find with path halving.
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

/// Splits a tall group at the valleys of its horizontal projection profile (lines that touch
/// or are linked by a tall glyph such as a bracket).
fn split_by_profile(
    seg: &Segment,
    runs: impl Iterator<Item = wenzi_preprocess::components::Run>,
    gh: f32,
    out: &mut Vec<Segment>,
) {
    let bh = seg.h() as usize;
    let mut profile = vec![0u32; bh];
    let mut xr = vec![(u32::MAX, 0u32); bh];
    for run in runs {
        let y = (run.y - seg.y0) as usize;
        profile[y] += run.x1 - run.x0 + 1;
        xr[y] = (xr[y].0.min(run.x0), xr[y].1.max(run.x1));
    }
    let mut sorted = profile.clone();
    sorted.sort_unstable();
    let p80 = sorted[(bh * 4 / 5).min(bh - 1)] as f32;
    let low = |y: usize| (profile[y] as f32) <= 0.08 * p80;
    let margin = (0.5 * gh) as usize;
    // Cut rows: middle of each low stretch away from the group's top and bottom.
    let mut cuts = Vec::new();
    let mut y = margin;
    while y + margin < bh {
        if low(y) {
            let start = y;
            while y + margin < bh && low(y) {
                y += 1;
            }
            cuts.push((start + y) / 2);
        }
        y += 1;
    }
    let mut bounds = vec![0usize];
    bounds.extend(cuts);
    bounds.push(bh);
    for pair in bounds.windows(2) {
        let rows = pair[0]..pair[1];
        let x0 = rows.clone().map(|r| xr[r].0).min().unwrap_or(u32::MAX);
        let x1 = rows.clone().map(|r| xr[r].1).max().unwrap_or(0);
        let first = rows.clone().find(|&r| profile[r] > 0);
        let last = rows.clone().rev().find(|&r| profile[r] > 0);
        if let (Some(f), Some(l)) = (first, last) {
            if x0 <= x1 {
                out.push(Segment {
                    x0,
                    y0: seg.y0 + f as u32,
                    x1,
                    y1: seg.y0 + l as u32,
                });
            }
        }
    }
}

/// Joins thin fragments (i-dots, separate strokes, quotes next to a descender-only glyph) to
/// the line they belong to: the nearest line segment either directly above/below (overlapping
/// horizontally) or beside it (within the gap, inside the line's vertical band). What remains
/// too small to be text is dropped.
fn merge_fragments(mut segs: Vec<Segment>, gh: f32, gap: f32) -> Vec<Segment> {
    segs.sort_by_key(|s| (s.y0, s.x0, s.y1, s.x1));
    let small = |s: &Segment| (s.h() as f32) < 0.6 * gh;
    let mut absorbed = vec![false; segs.len()];
    for i in 0..segs.len() {
        if !small(&segs[i]) {
            continue;
        }
        let s = segs[i];
        let mut best: Option<(f32, usize)> = None;
        for (j, t) in segs.iter().enumerate() {
            if j == i || absorbed[j] || small(t) {
                continue;
            }
            let x_overlap = s.x1.min(t.x1) as f32 - s.x0.max(t.x0) as f32 + 1.0;
            // Gap between the boxes along each axis (0 when they overlap).
            let y_dist = t.y0.saturating_sub(s.y1).max(s.y0.saturating_sub(t.y1)) as f32;
            let x_dist = t.x0.saturating_sub(s.x1).max(s.x0.saturating_sub(t.x1)) as f32;
            let stacked = x_overlap * 2.0 >= s.w() as f32 && y_dist <= 0.5 * gh;
            let band = 0.25 * gh;
            let beside = x_dist <= gap
                && s.y0 as f32 + band >= t.y0 as f32
                && s.y1 as f32 <= t.y1 as f32 + band;
            let dist = x_dist + y_dist;
            if (stacked || beside) && !matches!(best, Some((d, _)) if d <= dist) {
                best = Some((dist, j));
            }
        }
        if let Some((_, j)) = best {
            segs[j] = segs[j].union(&s);
            absorbed[i] = true;
        }
    }
    segs.into_iter()
        .zip(absorbed)
        .filter(|(s, a)| {
            let speck = (s.h() as f32) < 0.4 * gh && (s.w() as f32) < 0.8 * gh;
            !a && !speck
        })
        .map(|(s, _)| s)
        .collect()
}
