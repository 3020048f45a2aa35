//! 8-connected component labeling on run-length encoded rows.
//!
//! Rows are split into horizontal runs of foreground; runs in consecutive rows that touch
//! (including diagonally) are merged with union-find. This is linear in the number of pixels,
//! needs no per-pixel label image, and the runs are exactly what later stages need (hulls from
//! run ends, masks rebuilt from kept runs, sums of a map over a component).

/// A horizontal run of foreground pixels `x0..=x1` on row `y`, belonging to component `comp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Row.
    pub y: u32,
    /// First column (inclusive).
    pub x0: u32,
    /// Last column (inclusive).
    pub x1: u32,
    /// Index into [`Components::components`].
    pub comp: u32,
}

/// Bounding box and pixel count of one connected component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Leftmost column (inclusive).
    pub x0: u32,
    /// Top row (inclusive).
    pub y0: u32,
    /// Rightmost column (inclusive).
    pub x1: u32,
    /// Bottom row (inclusive).
    pub y1: u32,
    /// Number of foreground pixels.
    pub area: u64,
}

impl Component {
    /// Width in pixels (at least 1).
    pub fn width(&self) -> u32 {
        self.x1 - self.x0 + 1
    }
    /// Height in pixels (at least 1).
    pub fn height(&self) -> u32 {
        self.y1 - self.y0 + 1
    }
}

/// Result of [`label`]: components in raster order of their first pixel, and all runs in raster
/// order.
#[derive(Debug, Clone, Default)]
pub struct Components {
    /// One entry per component.
    pub components: Vec<Component>,
    /// Foreground runs, sorted by `(y, x0)`.
    pub runs: Vec<Run>,
}

impl Components {
    /// Runs of component `c`, in raster order.
    pub fn runs_of(&self, c: u32) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(move |r| r.comp == c)
    }

    /// Groups run indices by component (one `Vec` per component), for callers that walk every
    /// component's runs and cannot afford [`Self::runs_of`]'s full scan each time.
    pub fn runs_by_component(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.components.len()];
        for (i, r) in self.runs.iter().enumerate() {
            if let Some(v) = out.get_mut(r.comp as usize) {
                v.push(i);
            }
        }
        out
    }
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

/// Labels the 8-connected components of `fg` (row-major, `width * height` entries, `true` =
/// foreground). A slice of the wrong length yields no components rather than a panic.
pub fn label(width: u32, height: u32, fg: &[bool]) -> Components {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || fg.len() != w * h {
        return Components::default();
    }
    label_rows(w, h, |y, x| fg[y * w + x])
}

/// Labels the ink (value `0`) of a binarized image.
pub fn label_ink(bin: &image::GrayImage) -> Components {
    let (w, h) = (bin.width() as usize, bin.height() as usize);
    let raw = bin.as_raw();
    label_rows(w, h, |y, x| raw[y * w + x] == 0)
}

fn label_rows(w: usize, h: usize, is_fg: impl Fn(usize, usize) -> bool) -> Components {
    let mut runs: Vec<Run> = Vec::new();
    let mut parent: Vec<u32> = Vec::new();
    let mut prev_start = 0usize; // index of first run of the previous row
    for y in 0..h {
        let row_start = runs.len();
        let mut x = 0;
        while x < w {
            if !is_fg(y, x) {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < w && is_fg(y, x) {
                x += 1;
            }
            let id = runs.len() as u32;
            runs.push(Run {
                y: y as u32,
                x0: x0 as u32,
                x1: (x - 1) as u32,
                comp: id,
            });
            parent.push(id);
        }
        // Merge with touching runs of the previous row (8-connectivity: diagonal contact counts).
        if y > 0 {
            let mut j = prev_start;
            for i in row_start..runs.len() {
                let (a0, a1) = (runs[i].x0 as i64, runs[i].x1 as i64);
                while j < row_start && (runs[j].x1 as i64) < a0 - 1 {
                    j += 1;
                }
                let mut k = j;
                while k < row_start && (runs[k].x0 as i64) <= a1 + 1 {
                    let (ra, rb) = (find(&mut parent, i as u32), find(&mut parent, k as u32));
                    if ra != rb {
                        // Keep the older root so component numbering follows raster order.
                        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
                        parent[hi as usize] = lo;
                    }
                    k += 1;
                }
            }
        }
        prev_start = row_start;
    }

    let mut comp_of_root = vec![u32::MAX; runs.len()];
    let mut components: Vec<Component> = Vec::new();
    for (i, run) in runs.iter_mut().enumerate() {
        let root = find(&mut parent, i as u32) as usize;
        let r = *run;
        let c = if comp_of_root[root] == u32::MAX {
            comp_of_root[root] = components.len() as u32;
            components.push(Component {
                x0: r.x0,
                y0: r.y,
                x1: r.x1,
                y1: r.y,
                area: 0,
            });
            components.len() - 1
        } else {
            comp_of_root[root] as usize
        };
        let comp = &mut components[c];
        comp.x0 = comp.x0.min(r.x0);
        comp.x1 = comp.x1.max(r.x1);
        comp.y1 = comp.y1.max(r.y);
        comp.area += u64::from(r.x1 - r.x0 + 1);
        run.comp = c as u32;
    }
    Components { components, runs }
}
