//! Reading each detected box the right way up, and the page's orientation.
//!
//! A box can hold a horizontal line (upright, or turned 90°/180°/270° with the page) or a
//! vertical column of upright CJK characters. One aspect rule cannot tell these apart, so a
//! box is read in each plausible orientation and the reading with the higher confidence wins:
//!
//! * a wide box: upright; also turned 180° when the cls network flags it;
//! * a tall box: as a line turned 90° (and 270° when cls flags that), and as a vertical column
//!   cut into character cells laid side by side ([`wenzi_recognize::column_to_line`]).
//!
//! The lines then vote, weighted by characters read, on how the whole page is turned. The
//! longest boxes vote first, from short windows of their candidate readings (a turned page is
//! detected and read again upright, so those readings are only a vote). On a turned page,
//! lines whose own reading disagrees (a lone square character, a short word) are read again
//! in the page's orientation, and layout runs in the upright frame.
//!
//! Two rules keep the vote cheap without changing what it decides:
//!
//! * a page whose first voters read as vertical columns reads its other tall boxes as columns
//!   first, and as turned lines only when the column reads unsure ([`COLUMN_SURE`]);
//! * a tall box whose 90° line the classifier flags upside down is a line of a page turned
//!   270°, never a column: the cells of such a page's sideways glyphs read about as well as
//!   its lines (in reverse order), and no column of an upright page was flagged on the eval
//!   sets, so the flag settles such a page in the first votes.

use image::RgbImage;
use wenzi_detect::TextBox;
use wenzi_recognize::{
    column_to_line, crop_quad, settle_shapes, spans_down_the_column, Cell, Decoded,
    OrientationClassifier, Recognizer, MIN_LINE_WIDTH,
};

use crate::{Error, LineOrientation, Timings};

/// Largest crop height (across the text) handed to the recognizer before its own resize to 48
/// rows; taller crops are scaled while warping, so a huge box never makes a huge image.
const MAX_CROP_HEIGHT: u32 = 2 * wenzi_recognize::LINE_HEIGHT;

/// A box is tall (a column, or a line turned 90°) when its side along y is this many times
/// its side along x.
const TALL: f32 = 1.5;

/// Share of the page's reading weight a rotation needs before the page counts as turned.
const PAGE_MAJORITY: f32 = 0.6;

/// One box, read.
#[derive(Debug, Clone)]
pub(crate) struct ReadLine {
    pub decoded: Decoded,
    pub orientation: LineOrientation,
    /// Corners clockwise from the text's own top-left, in image pixels.
    pub quad: [[f32; 2]; 4],
}

/// Clockwise rotation of the page content, in quarter turns (0..4).
pub(crate) type QuarterTurns = u8;

/// The corners of `points` (image order: top-left, top-right, bottom-right, bottom-left)
/// listed from the top-left of text that is turned `turns` quarter turns clockwise.
pub(crate) fn text_quad(points: &[[f32; 2]; 4], turns: QuarterTurns) -> [[f32; 2]; 4] {
    let mut q = *points;
    q.rotate_left(usize::from(turns % 4));
    q
}

/// Maps a point of a `w × h` image whose content is turned `turns` quarter turns clockwise
/// into the upright frame (the image turned back).
pub(crate) fn to_upright(p: [f32; 2], turns: QuarterTurns, w: f32, h: f32) -> [f32; 2] {
    match turns % 4 {
        1 => [p[1], w - p[0]],
        2 => [w - p[0], h - p[1]],
        3 => [h - p[1], p[0]],
        _ => p,
    }
}

/// The inverse of [`to_upright`]: a point of the upright frame back in the `w × h` image
/// whose content is turned `turns` quarter turns clockwise.
pub(crate) fn from_upright(p: [f32; 2], turns: QuarterTurns, w: f32, h: f32) -> [f32; 2] {
    match turns % 4 {
        1 => [w - p[1], p[0]],
        2 => [w - p[0], h - p[1]],
        3 => [p[1], h - p[0]],
        _ => p,
    }
}

/// The image turned back upright when its content is turned `turns` quarter turns clockwise.
pub(crate) fn turned_upright(image: &RgbImage, turns: QuarterTurns) -> RgbImage {
    match turns % 4 {
        1 => image::imageops::rotate270(image),
        2 => image::imageops::rotate180(image),
        3 => image::imageops::rotate90(image),
        _ => image.clone(),
    }
}

/// The part of the upright frame (`[x0, y0, x1, y1]`, pixels) where `boxes`, found on the
/// `w × h` image whose content is turned `turns` quarter turns, hold text, with a margin of
/// two line heights (a line the turned detection cut short, or a word it missed, is still
/// inside). `None` when there are no boxes.
pub(crate) fn text_region(
    boxes: &[TextBox],
    turns: QuarterTurns,
    w: u32,
    h: u32,
) -> Option<[u32; 4]> {
    let (wf, hf) = (w as f32, h as f32);
    let (uw, uh) = if turns % 2 == 1 { (hf, wf) } else { (wf, hf) };
    let mut thickness: Vec<f32> = boxes.iter().map(|b| b.width().min(b.height())).collect();
    thickness.sort_by(f32::total_cmp);
    let margin = 2.0 * *thickness.get(thickness.len() / 2)? + 8.0;
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in boxes.iter().flat_map(|b| b.points) {
        let [x, y] = to_upright(p, turns, wf, hf);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let (x0, y0) = ((x0 - margin).max(0.0), (y0 - margin).max(0.0));
    let (x1, y1) = ((x1 + margin).min(uw), (y1 + margin).min(uh));
    if !(x1 > x0 && y1 > y0) {
        return None;
    }
    let (x0, y0) = (x0.floor() as u32, y0.floor() as u32);
    let (x1, y1) = (x1.ceil() as u32, y1.ceil() as u32);
    (x1 > x0 + 1 && y1 > y0 + 1).then_some([x0, y0, x1, y1])
}

impl ReadLine {
    /// This line, read on the upright copy of an image turned `turns` quarter turns, in the
    /// coordinates and orientation of that `w × h` image.
    pub(crate) fn onto_turned_image(mut self, turns: QuarterTurns, w: f32, h: f32) -> Self {
        self.quad = self.quad.map(|p| from_upright(p, turns, w, h));
        if self.orientation != LineOrientation::Vertical {
            self.orientation = LineOrientation::from_turns(self.orientation.page_turns() + turns);
        }
        self
    }
}

impl LineOrientation {
    const ALL: [LineOrientation; 5] = [
        LineOrientation::Upright,
        LineOrientation::Rotated90,
        LineOrientation::Rotated180,
        LineOrientation::Rotated270,
        LineOrientation::Vertical,
    ];

    fn index(self) -> usize {
        match self {
            LineOrientation::Upright => 0,
            LineOrientation::Rotated90 => 1,
            LineOrientation::Rotated180 => 2,
            LineOrientation::Rotated270 => 3,
            LineOrientation::Vertical => 4,
        }
    }

    /// Quarter turns the page would be turned for this line to be upright (a vertical column
    /// is upright).
    fn page_turns(self) -> QuarterTurns {
        match self {
            LineOrientation::Upright | LineOrientation::Vertical => 0,
            LineOrientation::Rotated90 => 1,
            LineOrientation::Rotated180 => 2,
            LineOrientation::Rotated270 => 3,
        }
    }

    pub(crate) fn from_turns(turns: QuarterTurns) -> Self {
        match turns % 4 {
            1 => LineOrientation::Rotated90,
            2 => LineOrientation::Rotated180,
            3 => LineOrientation::Rotated270,
            _ => LineOrientation::Upright,
        }
    }
}

/// The networks that read lines.
pub(crate) struct Readers<'a> {
    pub rec: &'a Recognizer,
    pub cls: Option<&'a OrientationClassifier>,
    /// A second recognizer for lines the first reads with a confidence below the threshold.
    pub second: Option<(&'a Recognizer, f32)>,
}

struct Candidate {
    line: usize,
    orientation: LineOrientation,
    image: RgbImage,
    /// A column's character cells (empty for other readings).
    cells: Vec<Cell>,
    /// Height of the column crop the cells were cut from (0 for other readings).
    column_height: u32,
    /// Share of the box's text this candidate's image holds (below 1 for a vote window).
    seen: f32,
}

impl Candidate {
    /// A reading of a line crop (not a column's cells).
    fn line(line: usize, orientation: LineOrientation, image: RgbImage) -> Self {
        Self {
            line,
            orientation,
            image,
            cells: Vec::new(),
            column_height: 0,
            seen: 1.0,
        }
    }

    /// Longest vote window of this reading, in pixels.
    fn window_width(&self) -> u32 {
        let heights = match self.cells.is_empty() {
            true => VOTE_WINDOW,
            false => COLUMN_VOTE_WINDOW,
        };
        heights * self.image.height().max(1)
    }

    /// True when this reading is no longer than its vote window (it is read whole).
    fn window_fits(&self) -> bool {
        self.image.width() <= self.window_width()
    }

    /// The middle of this reading, at most [`VOTE_WINDOW`] heights long (a column:
    /// [`COLUMN_VOTE_WINDOW`]), when the whole is
    /// longer: enough text for a confidence, at a fraction of a long line's cost. A column's
    /// window keeps whole character cells.
    fn window(&self) -> Option<Candidate> {
        let (w, h) = self.image.dimensions();
        let max_w = self.window_width();
        if w <= max_w {
            return None;
        }
        let (x0, x1, cells) = if self.cells.is_empty() {
            let x0 = (w - max_w) / 2;
            (x0, x0 + max_w, Vec::new())
        } else {
            // The run of whole cells around the middle that fits the window.
            let mid = w / 2;
            let centre = self.cells.iter().position(|c| c.x.1 > mid)?;
            let (mut first, mut last) = (centre, centre);
            let fits = |f: usize, l: usize| self.cells[l].x.1 - self.cells[f].x.0 <= max_w;
            loop {
                let mut grew = false;
                if last + 1 < self.cells.len() && fits(first, last + 1) {
                    last += 1;
                    grew = true;
                }
                if first > 0 && fits(first - 1, last) {
                    first -= 1;
                    grew = true;
                }
                if !grew {
                    break;
                }
            }
            let (x0, x1) = (self.cells[first].x.0, self.cells[last].x.1);
            let cells = self.cells[first..=last]
                .iter()
                .map(|c| Cell {
                    x: (c.x.0 - x0, c.x.1 - x0),
                    ..*c
                })
                .collect();
            (x0, x1, cells)
        };
        if x1 <= x0 || x1 - x0 >= w {
            return None;
        }
        Some(Candidate {
            line: self.line,
            orientation: self.orientation,
            image: image::imageops::crop_imm(&self.image, x0, 0, x1 - x0, h).to_image(),
            cells,
            column_height: self.column_height,
            seen: self.seen * (x1 - x0) as f32 / w as f32,
        })
    }
}

/// Longest window of a box, in heights of its reading, that the page vote reads when a box
/// has several candidate readings (see [`Candidate::window`]): about six CJK characters or a
/// dozen Latin ones.
const VOTE_WINDOW: u32 = 6;

/// Longest window of a column's reading, in cells of about one height. Longer than a line's:
/// the recognizer also reads sideways CJK characters, so a turned line cut into cells can
/// read nearly as confidently as a true column over a few characters, and only more of them
/// (where cuts go astray) tell the two apart. At 6 the turned label `paddleocr_00009282`
/// was taken for columns; at 9 and 12 it was not, and 9 costs vertical pages 2.5 % against
/// 5 % for 12 (one run each).
const COLUMN_VOTE_WINDOW: u32 = 9;

/// How the boxes of one stage are first read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Every plausible orientation: upright for wide boxes, a line turned 90° and a vertical
    /// column for tall ones, plus the 180° turn of any the classifier flags.
    Explore,
    /// The page's known quarter turns (plus the 180° turn of any the classifier flags).
    Page(QuarterTurns),
    /// An upright page whose longest boxes read as vertical columns: a tall box is read as a
    /// column, whole, and as a turned line only when the column reads unsure
    /// ([`COLUMN_SURE`]); wide boxes as under [`Plan::Explore`].
    Columns,
}

/// Confidence from which a tall box's column reading settles it on a page of columns, without
/// its turned-line readings: the preferred column reading is only replaced by one more
/// confident by [`PREFERENCE_MARGIN`], and no reading is more confident than 1.
const COLUMN_SURE: f32 = 1.0 - PREFERENCE_MARGIN;

/// Candidate readings of the boxes `which` under `plan`.
fn candidates(
    image: &RgbImage,
    boxes: &[TextBox],
    which: &[usize],
    plan: Plan,
    cls: Option<&OrientationClassifier>,
    timings: &mut Timings,
) -> Result<Vec<Candidate>, Error> {
    let t = crate::engine::Instant::now();
    let mut out: Vec<Candidate> = Vec::with_capacity(which.len() * 2);
    for &i in which {
        let b = &boxes[i];
        let turns = match plan {
            Plan::Explore | Plan::Columns => QuarterTurns::from(b.height() > TALL * b.width()),
            Plan::Page(turns) => turns,
        };
        if let Some(img) = crop_quad(image, &text_quad(&b.points, turns), MAX_CROP_HEIGHT) {
            out.push(Candidate::line(i, LineOrientation::from_turns(turns), img));
        }
    }
    // The classifier alone flips too eagerly (clean upright Latin lines sometimes score
    // "180°" above its threshold), so a flagged line is read both ways and the reading with
    // the higher confidence wins.
    let mut extra: Vec<Candidate> = Vec::new();
    if let Some(cls) = cls {
        let images: Vec<RgbImage> = out.iter().map(|c| cls_window(&c.image)).collect();
        // (windows are small copies; the crops themselves are kept for recognition)
        for (c, o) in out.iter().zip(cls.classify(&images)?) {
            if o.upside_down {
                // The crop of the quad turned by two more quarters is this crop turned 180°.
                extra.push(Candidate::line(
                    c.line,
                    LineOrientation::from_turns(c.orientation.page_turns() + 2),
                    wenzi_recognize::rotate180(&c.image),
                ));
            }
        }
    }
    timings.classify += t.elapsed();
    // Tall boxes may be vertical columns of upright characters.
    if matches!(plan, Plan::Explore | Plan::Columns) {
        for c in &out {
            let b = &boxes[c.line];
            if c.orientation != LineOrientation::Rotated90 {
                continue;
            }
            let cap = (MAX_CROP_HEIGHT as f32 * b.height() / b.width().max(1.0))
                .min(wenzi_recognize::MAX_CROP_SIDE as f32) as u32;
            if let Some(column) = crop_quad(image, &b.points, cap).and_then(|c| column_to_line(&c))
            {
                extra.push(Candidate {
                    line: c.line,
                    orientation: LineOrientation::Vertical,
                    image: column.image,
                    cells: column.cells,
                    column_height: column.column_height,
                    seen: 1.0,
                });
            }
        }
    }
    out.extend(extra);
    Ok(out)
}

/// Recognizes `candidates` into `readings`, shorter ones padded to `min_width` columns.
fn recognize_into(
    rec: &Recognizer,
    candidates: &[&Candidate],
    min_width: u32,
    readings: &mut [Readings],
) -> Result<(), Error> {
    let images: Vec<&RgbImage> = candidates.iter().map(|c| &c.image).collect();
    let decoded = rec.recognize_padded_to(&images, min_width)?;
    for (c, mut d) in candidates.iter().zip(decoded) {
        settle_shapes(&mut d, &c.cells, c.image.width());
        // A column's spans are kept as fractions down the column, where its words lie.
        spans_down_the_column(&mut d, &c.cells, c.image.width(), c.column_height);
        // Upright letters stacked in a column are rare, while a sideways Latin line cut into
        // cells can read as confident nonsense: a column reading must be mostly CJK.
        if c.orientation == LineOrientation::Vertical && !mostly_cjk(&d.text) {
            continue;
        }
        readings[c.line].set(c.orientation, d, c.seen);
    }
    Ok(())
}

/// Recognizes `candidates` into `readings`; with `vote`, a box with several candidates is
/// read from their windows ([`Candidate::window`]) only.
fn recognize_or_vote(
    rec: &Recognizer,
    candidates: &[Candidate],
    vote: bool,
    readings: &mut [Readings],
) -> Result<(), Error> {
    // Per box: how many candidates it has, and whether the classifier flagged it (it then
    // has a 270° candidate; a flagged tall box is voted on as a 270° line only, not also 90°).
    let mut count = vec![0usize; readings.len()];
    let mut flagged = vec![false; readings.len()];
    for c in candidates {
        count[c.line] += 1;
        flagged[c.line] |= c.orientation == LineOrientation::Rotated270;
    }
    let mut whole: Vec<&Candidate> = Vec::new();
    let mut windows: Vec<Candidate> = Vec::new();
    for c in candidates {
        if !(vote && count[c.line] > 1) {
            whole.push(c);
        } else if c.orientation == LineOrientation::Rotated90 && flagged[c.line] {
            // (read whole when it is short: it has no window to leave out)
            if c.window_fits() {
                whole.push(c);
            }
        } else {
            match c.window() {
                Some(w) => windows.push(w),
                None => whole.push(c),
            }
        }
    }
    recognize_into(rec, &whole, MIN_LINE_WIDTH, readings)?;
    // (a window is read at its own width, not padded to a whole line's)
    let window_width = VOTE_WINDOW * wenzi_recognize::LINE_HEIGHT;
    let windows: Vec<&Candidate> = windows.iter().collect();
    recognize_into(rec, &windows, window_width, readings)
}

/// Reads whole every box that [`recognize_or_vote`] read from windows, in the orientation
/// its windows read best (a vertical column when one was read and not clearly beaten).
fn read_windowed_whole(
    rec: &Recognizer,
    candidates: &[Candidate],
    readings: &mut [Readings],
) -> Result<(), Error> {
    let whole_reading = |line: usize, o: LineOrientation| {
        candidates
            .iter()
            .find(|c| c.line == line && c.orientation == o)
    };
    let mut whole: Vec<&Candidate> = Vec::new();
    let mut fallback: Vec<&Candidate> = Vec::new();
    for (i, r) in readings.iter_mut().enumerate() {
        if !r.windowed() {
            continue;
        }
        let Some(o) = r.chosen(r.preferred(0)) else {
            continue;
        };
        // A reading that was already whole (short enough to need no window) is kept as is:
        // reading it again would give the same result.
        if r.1[o.index()] >= 1.0 {
            let kept = r.0[o.index()].take();
            *r = Readings::default();
            if let Some(d) = kept {
                r.set(o, d, 1.0);
            }
            continue;
        }
        // (a whole column can still fail the CJK test: then its turned line is read)
        if o == LineOrientation::Vertical {
            fallback.extend(whole_reading(i, LineOrientation::Rotated90));
        }
        *r = Readings::default();
        whole.extend(whole_reading(i, o));
    }
    recognize_into(rec, &whole, MIN_LINE_WIDTH, readings)?;
    fallback.retain(|c| !readings[c.line].any());
    recognize_into(rec, &fallback, MIN_LINE_WIDTH, readings)
}

/// Boxes read in every orientation before the page's turn is first decided: the longest
/// ones, which carry most of the vote's weight.
const SAMPLE_LINES: usize = 8;

/// The stages of the page vote while the page may still turn: after the first `n` longest
/// boxes are read, a turn that every one of them reads best in (and that carries the vote)
/// is taken without reading the rest of the sample — on a turned page the vote's windows
/// are the most expensive part of it, and every box is read again once the page is turned.
/// A stage marked `true` settles only when none of its boxes reads as an upright vertical
/// column at all (Latin, figures, a page turned 180°; a box whose line the classifier flagged
/// is no column, see [`Readings::vote`]): two columns of upright CJK can read
/// about as well as turned lines, and two boxes are too few for that comparison. A vote
/// that leans upright after a stage reads the rest of the sample at once.
const EARLY_VOTES: [(usize, bool); 2] = [(2, true), (4, false)];

/// True when every box read so far reads best as a line of a page turned `turns`.
fn unanimous(readings: &[Readings], turns: QuarterTurns) -> bool {
    readings
        .iter()
        .filter_map(Readings::vote)
        .all(|(o, _)| o.page_turns() == turns)
}

/// True when some box read so far reads as a vertical column on an upright page (its
/// column reading is the one [`Readings::chosen`]) and no tall box's turned line was
/// flagged upside down by the classifier. A page turned 270° is the one that reads as
/// columns too: the recognizer reads the cells of its sideways glyphs (turned clockwise) as
/// confidently as upright ones, in reverse order, while the classifier flags its turned
/// lines (read as 90° lines they are upside down). On the eval sets no column of an upright
/// page was flagged.
fn reads_columns(readings: &[Readings]) -> bool {
    let column = |r: &Readings| r.chosen(r.preferred(0)) == Some(LineOrientation::Vertical);
    readings.iter().any(column) && !readings.iter().any(Readings::flagged)
}

/// What [`read_boxes`] found.
pub(crate) enum Reading {
    /// Every box read; the page's quarter turns.
    Lines(Vec<ReadLine>, QuarterTurns),
    /// The page is turned this many quarter turns clockwise (only when the caller may turn
    /// it): read it again turned upright.
    Turned(QuarterTurns),
}

/// Reads every box in its best orientation: the lines (same order as `boxes`; a box that
/// cannot be cropped is left out) and the page's quarter turns.
///
/// The [`SAMPLE_LINES`] longest boxes are read in every plausible orientation first and vote
/// on the page's turn (while the page may turn, in the stages of [`EARLY_VOTES`]: a turn
/// the longest few all agree on is taken without the rest). On an upright page the other boxes are explored the same way (columns
/// and lines alike need it). A turned page is handed back ([`Reading::Turned`]) when
/// `may_turn`: the detector finds a turned page's lines less well than an upright page's
/// (it splits turned lines at commas, boxes sideways characters one by one), so the caller
/// turns the image and detects again. Otherwise the other boxes are read the page's way
/// only.
///
/// While the page may still be handed back, a box with more than one candidate reading (a
/// tall box; a line the classifier flags) is read from a window of each candidate only
/// ([`Candidate::window`]): on a turned page every box has several, and all are read again
/// once the page is turned. A page that stays upright then reads those boxes whole, in the
/// orientation their windows read best. A tall box the classifier flags is voted on as a
/// line turned 270° only (its 90° window is left out: a third fewer windows on 270° pages,
/// the same results on the eval sets).
///
/// When the first stage leans upright and its boxes read as vertical columns
/// ([`reads_columns`]), the other boxes are read under [`Plan::Columns`]: a column that
/// reads surely settles its box without the turned-line readings, which on a page of columns
/// were half of the recognizer's work.
pub(crate) fn read_boxes(
    image: &RgbImage,
    boxes: &[TextBox],
    readers: &Readers<'_>,
    may_turn: bool,
    timings: &mut Timings,
) -> Result<Reading, Error> {
    let (rec, cls) = (readers.rec, readers.cls);
    let crop = |points: &[[f32; 2]; 4], turns: QuarterTurns| {
        crop_quad(image, &text_quad(points, turns), MAX_CROP_HEIGHT)
    };
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    let long_side = |b: &TextBox| b.width().max(b.height());
    order.sort_by(|&a, &b| long_side(&boxes[b]).total_cmp(&long_side(&boxes[a])));
    let (sample, rest) = order.split_at(order.len().min(SAMPLE_LINES));

    let mut readings: Vec<Readings> = vec![Readings::default(); boxes.len()];
    // While the page may turn, the longest few vote first, in stages; a unanimous turn
    // settles it (see `EARLY_VOTES`).
    let mut candidates: Vec<Candidate> = Vec::new();
    // Reads the boxes `which` (their candidates under `plan`) into `readings`.
    let mut read =
        |which: &[usize], plan: Plan, readings: &mut [Readings], timings: &mut Timings| {
            let mut more = self::candidates(image, boxes, which, plan, cls, timings)?;
            let t = crate::engine::Instant::now();
            // On a page of columns, a tall box's turned readings wait for its column's.
            let mut held = Vec::new();
            if plan == Plan::Columns {
                let mut column = vec![false; readings.len()];
                for c in &more {
                    column[c.line] |= c.orientation == LineOrientation::Vertical;
                }
                (held, more) = more
                    .into_iter()
                    .partition(|c| column[c.line] && c.orientation != LineOrientation::Vertical);
            }
            recognize_or_vote(rec, &more, may_turn, readings)?;
            if !held.is_empty() {
                let unsure = |c: &Candidate| {
                    readings[c.line]
                        .get(LineOrientation::Vertical)
                        .is_none_or(|d| d.confidence < COLUMN_SURE)
                };
                held.retain(unsure);
                recognize_or_vote(rec, &held, may_turn, readings)?;
                more.extend(held);
            }
            timings.recognize += t.elapsed();
            candidates.extend(more);
            Ok::<(), Error>(())
        };
    let mut done = 0;
    let mut plan = Plan::Explore;
    let stages: &[(usize, bool)] = if may_turn { &EARLY_VOTES } else { &[] };
    for &(upto, needs_no_columns) in stages {
        // (a stage that would read the whole sample is the full vote below)
        if upto >= sample.len() {
            break;
        }
        read(&sample[done..upto], Plan::Explore, &mut readings, timings)?;
        done = upto;
        let turns = page_turns(&readings);
        let no_columns = || !readings.iter().any(Readings::votes_column);
        if turns != 0 && unanimous(&readings, turns) && (!needs_no_columns || no_columns()) {
            return Ok(Reading::Turned(turns));
        }
        if turns == 0 {
            // Leaning upright: the rest of the sample in one batch (small batches leave a
            // thread idle behind the longest line). When the boxes read so far are columns,
            // the others are read as columns first.
            if reads_columns(&readings) {
                plan = Plan::Columns;
            }
            break;
        }
    }
    read(&sample[done..], plan, &mut readings, timings)?;
    let sampled = page_turns(&readings);
    if may_turn && sampled != 0 {
        return Ok(Reading::Turned(sampled));
    }
    if !rest.is_empty() {
        let plan = match sampled {
            0 => plan,
            turns => Plan::Page(turns),
        };
        read(rest, plan, &mut readings, timings)?;
        if may_turn {
            let turns = page_turns(&readings);
            if turns != 0 {
                return Ok(Reading::Turned(turns));
            }
        }
    }
    if may_turn {
        // An upright page after all: a box voted on from windows is read whole, in the
        // orientation its windows read best.
        let t = crate::engine::Instant::now();
        read_windowed_whole(rec, &candidates, &mut readings)?;
        timings.recognize += t.elapsed();
    }

    let t = crate::engine::Instant::now();
    let turns = page_turns(&readings);
    let page_orientation = LineOrientation::from_turns(turns);
    if turns != 0 {
        // On a turned page, lines not yet read the page's way (a lone square character, a
        // short word) are read that way too.
        let again: Vec<Candidate> = readings
            .iter()
            .enumerate()
            .filter(|(_, r)| r.any() && r.get(page_orientation).is_none())
            .filter_map(|(i, _)| {
                Some(Candidate::line(
                    i,
                    page_orientation,
                    crop(&boxes[i].points, turns)?,
                ))
            })
            .collect();
        let images: Vec<&RgbImage> = again.iter().map(|c| &c.image).collect();
        for (c, d) in again.iter().zip(rec.recognize(&images)?) {
            readings[c.line].set(page_orientation, d, 1.0);
        }
        candidates.extend(again);
    }

    let mut chosen: Vec<Option<(LineOrientation, Decoded)>> = readings
        .into_iter()
        .map(|r| {
            let preferred = r.preferred(turns);
            r.choose(preferred)
        })
        .collect();

    // Lines the first recognizer is unsure of are read again by the second one, in the
    // chosen orientation; the more confident reading wins.
    if let Some((second, below)) = readers.second {
        let unsure: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| {
                matches!(&chosen[c.line], Some((o, d)) if *o == c.orientation && d.confidence < below)
            })
            .collect();
        let images: Vec<&RgbImage> = unsure.iter().map(|c| &c.image).collect();
        for (c, d) in unsure.iter().zip(second.recognize(&images)?) {
            if let Some((_, own)) = &mut chosen[c.line] {
                if d.confidence > own.confidence {
                    *own = d;
                }
            }
        }
    }
    timings.recognize += t.elapsed();

    // On an upright page of vertical columns, a column that read best as a turned line (a
    // date or number set sideways, which is not mostly CJK) is still one of the columns, in
    // their right-to-left order.
    if turns == 0
        && chosen
            .iter()
            .flatten()
            .any(|(o, _)| *o == LineOrientation::Vertical)
    {
        for (o, _) in chosen.iter_mut().flatten() {
            if o.page_turns() % 2 == 1 {
                *o = LineOrientation::Vertical;
            }
        }
    }

    let lines = chosen
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            // The page's reading of the line (on an upright page: a tall box is a vertical
            // column) wins unless another reading is clearly more confident.
            let (orientation, decoded) = r?;
            let quad = match orientation {
                LineOrientation::Vertical => boxes[i].points,
                o => text_quad(&boxes[i].points, o.page_turns()),
            };
            Some(ReadLine {
                decoded,
                orientation,
                quad,
            })
        })
        .collect();
    Ok(Reading::Lines(lines, turns))
}

/// The part of a line crop the orientation classifier sees: at most four heights wide, from
/// the middle. The classifier's input is 4:1, so a long line would otherwise be squeezed
/// until its glyphs are unreadable slivers and its verdict a coin toss.
fn cls_window(crop: &RgbImage) -> RgbImage {
    let (w, h) = crop.dimensions();
    let max_w = 4 * h.max(1);
    if w <= max_w {
        return crop.clone();
    }
    image::imageops::crop_imm(crop, (w - max_w) / 2, 0, max_w, h).to_image()
}

/// True when at least half the text's visible characters are CJK ideographs, kana, hangul or
/// full-width CJK punctuation.
fn mostly_cjk(text: &str) -> bool {
    let (mut cjk, mut all) = (0usize, 0usize);
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        all += 1;
        let u = u32::from(c);
        if matches!(u,
            0x3000..=0x30FF     // CJK punctuation, hiragana, katakana
            | 0x3400..=0x4DBF   // extension A
            | 0x4E00..=0x9FFF   // unified ideographs
            | 0xAC00..=0xD7AF   // hangul syllables
            | 0xF900..=0xFAFF   // compatibility ideographs
            | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 // full-width punctuation
            | 0x20000..=0x2FA1F)
        {
            cjk += 1;
        }
    }
    all > 0 && 2 * cjk >= all
}

/// A reading's confidence must beat the preferred reading's by this much to replace it.
const PREFERENCE_MARGIN: f32 = 0.1;

/// The readings of one box, by [`LineOrientation::index`], with the share of the box's text
/// each saw (1 for a whole reading, less for a vote window).
#[derive(Debug, Clone)]
struct Readings([Option<Decoded>; 5], [f32; 5]);

impl Default for Readings {
    fn default() -> Self {
        Self(Default::default(), [1.0; 5])
    }
}

impl Readings {
    fn get(&self, o: LineOrientation) -> Option<&Decoded> {
        self.0[o.index()].as_ref()
    }

    fn set(&mut self, o: LineOrientation, d: Decoded, seen: f32) {
        self.0[o.index()] = Some(d);
        self.1[o.index()] = seen;
    }

    /// True when some reading saw only a window of the box.
    fn windowed(&self) -> bool {
        self.0
            .iter()
            .zip(self.1)
            .any(|(d, seen)| d.is_some() && seen < 1.0)
    }

    /// Weight of the reading `o` in the page vote: characters read, times confidence; a
    /// window's characters count for the whole box.
    fn weight(&self, o: LineOrientation) -> f32 {
        self.get(o).map_or(0.0, |d| {
            let seen = self.1[o.index()].max(f32::EPSILON);
            d.text.chars().filter(|c| !c.is_whitespace()).count() as f32 * d.confidence / seen
        })
    }

    fn any(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }

    /// The most confident reading and its orientation.
    fn best(&self) -> Option<(LineOrientation, &Decoded)> {
        self.most_confident(|_| true)
    }

    /// The most confident of the readings whose orientation passes `keep`.
    fn most_confident(
        &self,
        keep: impl Fn(LineOrientation) -> bool,
    ) -> Option<(LineOrientation, &Decoded)> {
        LineOrientation::ALL
            .iter()
            .filter(|&&o| keep(o))
            .filter_map(|&o| Some((o, self.get(o)?)))
            .max_by(|a, b| a.1.confidence.total_cmp(&b.1.confidence))
    }

    /// True when the classifier flagged this box's turned line upside down: a tall box
    /// read as a 270° line (see [`reads_columns`]).
    fn flagged(&self) -> bool {
        self.get(LineOrientation::Rotated270).is_some()
    }

    /// The reading this box votes with on the page's turn: its most confident, except that
    /// a [flagged](Readings::flagged) box does not vote as a column.
    fn vote(&self) -> Option<(LineOrientation, &Decoded)> {
        let flagged = self.flagged();
        self.most_confident(|o| !(flagged && o == LineOrientation::Vertical))
    }

    /// True when this box has a column reading that votes (see [`Readings::vote`]).
    fn votes_column(&self) -> bool {
        self.get(LineOrientation::Vertical).is_some() && !self.flagged()
    }

    /// The reading preferred on a page turned `turns` quarter turns: the page's own (on an
    /// upright page, a tall box read as a vertical column is a column). [`Readings::choose`]
    /// keeps it unless another is clearly more confident.
    fn preferred(&self, turns: QuarterTurns) -> LineOrientation {
        match turns {
            0 if self.get(LineOrientation::Vertical).is_some() => LineOrientation::Vertical,
            _ => LineOrientation::from_turns(turns),
        }
    }

    /// The orientation [`Readings::choose`] keeps: the preferred one unless another reads
    /// clearly more confidently.
    fn chosen(&self, preferred: LineOrientation) -> Option<LineOrientation> {
        let (best_o, best) = self.best()?;
        Some(match self.get(preferred) {
            Some(p) if p.confidence + PREFERENCE_MARGIN >= best.confidence => preferred,
            _ => best_o,
        })
    }

    /// The preferred reading unless another is clearly more confident.
    fn choose(self, preferred: LineOrientation) -> Option<(LineOrientation, Decoded)> {
        let o = self.chosen(preferred)?;
        let mut all = self.0;
        Some((o, all[o.index()].take()?))
    }
}

/// A 90° page vote loses to upright columns when the tall boxes read as columns weigh at
/// least this share of their reading as turned lines. Upright columns read about as well
/// both ways (0.96–1.0 on the vertical eval set: the recognizer also reads a sideways CJK
/// character), while a turned page's sideways glyphs cut into cells lose more (0.92 and
/// below on the rotated set).
const COLUMNS_OVER_LINES: f32 = 0.94;

/// The page's quarter turns.
///
/// Each line votes, with its weight, for the turn of its most confident reading; a turned
/// page needs a clear majority. A vertical column of upright CJK characters and a horizontal
/// line turned 90° can both read well (the recognizer also reads sideways CJK characters), so
/// a 90° vote is then checked against reading the same tall boxes as columns: if the columns
/// read nearly as well overall ([`COLUMNS_OVER_LINES`]), the page is upright with vertical
/// text — unless the boxes that read only as turned lines (Latin, numbers) outweigh them.
/// A 270° vote is not checked: its lines are the ones the classifier flagged upside down as
/// 90° lines, which no column of an upright page was on the eval sets, while the sideways
/// glyphs of a page turned 270° read as columns about as well as its lines do.
fn page_turns(readings: &[Readings]) -> QuarterTurns {
    let mut votes = [0f32; 4];
    for r in readings {
        if let Some((o, _)) = r.vote() {
            votes[usize::from(o.page_turns())] += r.weight(o);
        }
    }
    let total: f32 = votes.iter().sum();
    let Some((turns, w)) = votes
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, &w)| (i as QuarterTurns, w))
    else {
        return 0;
    };
    if total <= 0.0 || w < PAGE_MAJORITY * total {
        return 0;
    }
    if turns == 1 {
        let turned = LineOrientation::from_turns(turns);
        let (mut as_columns, mut as_lines, mut only_lines) = (0f32, 0f32, 0f32);
        for r in readings {
            match (r.get(LineOrientation::Vertical), r.get(turned)) {
                (Some(_), Some(_)) => {
                    as_columns += r.weight(LineOrientation::Vertical);
                    as_lines += r.weight(turned);
                }
                (None, Some(_)) if r.vote().is_some_and(|(o, _)| o == turned) => {
                    only_lines += r.weight(turned)
                }
                _ => {}
            }
        }
        // Boxes that read only as turned lines (Latin, numbers: never columns) outweighing
        // the ones that read as either settle it: a turned page (a turned table of dates and
        // CJK cells), not a vertical one with a sideways-set date.
        if as_columns > 0.0 && as_columns >= COLUMNS_OVER_LINES * as_lines && only_lines <= as_lines
        {
            return 0;
        }
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upright_frame_maps_corners_of_turned_pages() {
        let (w, h) = (200.0, 100.0);
        // Content turned 90° clockwise: the image's top-right corner is the text's top-left.
        assert_eq!(to_upright([200.0, 0.0], 1, w, h), [0.0, 0.0]);
        assert_eq!(to_upright([0.0, 100.0], 1, w, h), [100.0, 200.0]);
        assert_eq!(to_upright([0.0, 0.0], 2, w, h), [200.0, 100.0]);
        assert_eq!(to_upright([0.0, 100.0], 3, w, h), [0.0, 0.0]);
        for turns in 0..4 {
            assert_eq!(to_upright([10.0, 20.0], turns, w, h).len(), 2);
        }
    }

    #[test]
    fn the_upright_copy_and_its_mapping_agree() {
        // A 5 × 3 image with one marked pixel, in each of the four turns.
        let (w, h) = (5u32, 3u32);
        let mut image = RgbImage::new(w, h);
        image.put_pixel(3, 1, image::Rgb([255, 0, 0]));
        let centre = [3.5, 1.5];
        for turns in 0..4u8 {
            let upright = turned_upright(&image, turns);
            let (uw, uh) = if turns % 2 == 1 { (h, w) } else { (w, h) };
            assert_eq!(upright.dimensions(), (uw, uh), "turns {turns}");
            let p = to_upright(centre, turns, w as f32, h as f32);
            let px = upright.get_pixel(p[0].floor() as u32, p[1].floor() as u32);
            assert_eq!(
                px.0,
                [255, 0, 0],
                "turns {turns}: the marked pixel moved elsewhere"
            );
            assert_eq!(from_upright(p, turns, w as f32, h as f32), centre);
        }
    }

    #[test]
    fn a_vote_window_is_the_middle_of_a_long_reading() {
        let line = RgbImage::from_fn(600, 40, |x, _| image::Rgb([(x % 256) as u8, 0, 0]));
        let c = Candidate::line(3, LineOrientation::Rotated90, line);
        let w = c.window().unwrap();
        // Six heights long, from the middle.
        assert_eq!(w.image.dimensions(), (240, 40));
        assert_eq!(w.image.get_pixel(0, 0).0[0], 180);
        assert_eq!((w.line, w.orientation), (3, LineOrientation::Rotated90));
        assert!((w.seen - 0.4).abs() < 1e-6);
        // A reading that fits is read whole.
        let short = Candidate::line(0, LineOrientation::Upright, RgbImage::new(200, 40));
        assert!(short.window().is_none());
    }

    #[test]
    fn a_columns_vote_window_keeps_whole_cells() {
        // Fourteen cells 40 wide in a 40-high line: the window holds nine whole cells.
        let cells: Vec<Cell> = (0..14)
            .map(|i| Cell {
                x: (i * 40, i * 40 + 40),
                y: (i * 50, i * 50 + 50),
                ink_aspect: 1.0,
            })
            .collect();
        let c = Candidate {
            line: 1,
            orientation: LineOrientation::Vertical,
            image: RgbImage::new(560, 40),
            cells,
            column_height: 700,
            seen: 1.0,
        };
        let w = c.window().unwrap();
        assert_eq!(w.cells.len(), 9);
        assert_eq!(w.image.width(), 360);
        assert_eq!(w.cells[0].x, (0, 40));
        assert_eq!(w.cells[8].x, (320, 360));
        // The middle cells: the fourth to the twelfth.
        assert_eq!(w.cells[0].y, (150, 200));
        assert!((w.seen - 360.0 / 560.0).abs() < 1e-6);
    }

    #[test]
    fn a_votes_windows_count_for_their_whole_box() {
        let mut r = Readings::default();
        let d = Decoded {
            text: "一二三".into(),
            confidence: 0.5,
            ..Default::default()
        };
        r.set(LineOrientation::Rotated90, d.clone(), 0.25);
        r.set(LineOrientation::Vertical, d, 1.0);
        assert!(r.windowed());
        assert!((r.weight(LineOrientation::Rotated90) - 6.0).abs() < 1e-5);
        assert!((r.weight(LineOrientation::Vertical) - 1.5).abs() < 1e-5);
        assert!(!Readings::default().windowed());
    }

    #[test]
    fn the_text_region_is_found_in_the_upright_frame() {
        // A 300 × 1000 image whose content is turned 90° clockwise: two 20-wide boxes.
        let b = |x0: f32, y0: f32, x1: f32, y1: f32| TextBox {
            points: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
            score: 1.0,
        };
        let boxes = [b(200.0, 100.0, 220.0, 600.0), b(240.0, 100.0, 260.0, 400.0)];
        let [x0, y0, x1, y1] = text_region(&boxes, 1, 300, 1000).unwrap();
        // Upright frame is 1000 × 300; the boxes cover x 100..600, y 40..100; margin 48.
        assert_eq!([x0, y0, x1, y1], [52, 0, 648, 148]);
        assert!(text_region(&[], 1, 300, 1000).is_none());
        // The margin never leaves the frame.
        let all = [b(0.0, 0.0, 300.0, 1000.0)];
        assert_eq!(text_region(&all, 2, 300, 1000), Some([0, 0, 300, 1000]));
    }

    #[test]
    fn text_quad_starts_at_the_texts_top_left() {
        let q = [[0.0, 0.0], [10.0, 0.0], [10.0, 50.0], [0.0, 50.0]];
        assert_eq!(text_quad(&q, 0), q);
        // Turned 90° clockwise: text runs down, glyph tops face right.
        assert_eq!(text_quad(&q, 1)[0], [10.0, 0.0]);
        assert_eq!(text_quad(&q, 2)[0], [10.0, 50.0]);
        assert_eq!(text_quad(&q, 3)[0], [0.0, 50.0]);
    }

    fn reading(pairs: &[(&str, f32, LineOrientation)]) -> Readings {
        let mut r = Readings::default();
        for &(text, confidence, o) in pairs {
            r.0[o.index()] = Some(Decoded {
                text: text.into(),
                confidence,
                ..Default::default()
            });
        }
        r
    }

    #[test]
    fn page_turns_follow_a_clear_majority_only() {
        use LineOrientation::*;
        let turned = vec![
            reading(&[("一二三四五六", 0.9, Rotated90), ("乱码", 0.3, Vertical)]),
            reading(&[("七八九十", 0.9, Rotated90)]),
            reading(&[("A", 0.9, Upright)]),
        ];
        assert_eq!(page_turns(&turned), 1);
        let mixed = vec![
            reading(&[("标题标题", 0.9, Upright)]),
            reading(&[("竖排文字竖排", 0.9, Vertical)]),
        ];
        assert_eq!(page_turns(&mixed), 0);
        let split = vec![
            reading(&[("abcd", 0.9, Rotated180)]),
            reading(&[("efgh", 0.9, Upright)]),
        ];
        assert_eq!(page_turns(&split), 0);
        assert_eq!(page_turns(&[Readings::default()]), 0);
    }

    #[test]
    fn an_early_turn_needs_every_box_read_so_far() {
        use LineOrientation::*;
        let all = vec![
            reading(&[("一二三四五六", 0.9, Rotated90), ("乱码", 0.3, Vertical)]),
            reading(&[("七八九十", 0.9, Rotated90)]),
            Readings::default(),
        ];
        assert!(unanimous(&all, 1));
        assert!(!unanimous(&all, 3));
        // A page the majority turns, but one box reads best upright: not settled early.
        let one_short = vec![
            reading(&[("一二三四五六", 0.9, Rotated90)]),
            reading(&[("七八九十", 0.9, Rotated90)]),
            reading(&[("A", 0.9, Upright), ("A", 0.5, Rotated90)]),
        ];
        assert_eq!(page_turns(&one_short), 1);
        assert!(!unanimous(&one_short, 1));
    }

    #[test]
    fn columns_that_read_as_well_as_turned_lines_keep_the_page_upright() {
        use LineOrientation::*;
        let columns = vec![
            reading(&[
                ("子贡问师与商也", 0.95, Rotated90),
                ("子贡问师与商也", 0.9, Vertical),
            ]),
            reading(&[
                ("你急他未急人闲", 0.8, Rotated90),
                ("你急他未急人闲", 0.93, Vertical),
            ]),
        ];
        assert_eq!(page_turns(&columns), 0);
    }

    #[test]
    fn flagged_lines_turn_the_page_even_when_their_cells_read_as_columns() {
        use LineOrientation::*;
        let turned = vec![
            reading(&[
                ("纯臻营养护发素产品", 0.99, Rotated270),
                ("品产素发护养营臻纯", 0.97, Vertical),
            ]),
            reading(&[
                ("每瓶22元起订", 0.98, Rotated270),
                ("订起元22瓶每", 0.95, Vertical),
            ]),
        ];
        assert_eq!(page_turns(&turned), 3);
    }

    #[test]
    fn a_flagged_box_does_not_vote_as_a_column() {
        use LineOrientation::*;
        // The cells of a 270° page's sideways glyphs can read more confidently than its
        // line; the classifier's flag on the line keeps the box from voting upright.
        let turned = vec![
            reading(&[
                ("改进系统的默认配置", 0.95, Rotated270),
                ("置配认默的统系进改", 0.99, Vertical),
            ]),
            reading(&[("加固系统", 0.98, Rotated270), ("统系固加", 0.97, Vertical)]),
        ];
        assert_eq!(page_turns(&turned), 3);
        assert!(unanimous(&turned, 3));
        assert!(!turned.iter().any(Readings::votes_column));
        // Unflagged, the same column readings vote upright.
        let column = reading(&[("置配认默的统系进改", 0.99, Vertical)]);
        assert!(column.votes_column());
        assert_eq!(page_turns(&[column]), 0);
    }

    #[test]
    fn columns_are_read_first_only_on_a_page_that_reads_as_columns() {
        use LineOrientation::*;
        let column = reading(&[
            ("子贡问师与商也", 1.0, Rotated90),
            ("子贡问师与商也", 0.97, Vertical),
        ]);
        let line = reading(&[("Total 12.50", 0.99, Upright)]);
        assert!(reads_columns(&[column.clone(), line.clone()]));
        // Only lines: nothing to read as columns.
        assert!(!reads_columns(&[line.clone(), line.clone()]));
        // A turned reading that clearly beats the column: not a column.
        let turned = reading(&[
            ("子贡问师与商也", 0.99, Rotated90),
            ("子贡问师与商", 0.6, Vertical),
        ]);
        assert!(!reads_columns(&[turned]));
        // A tall box whose turned line the classifier flagged (a page turned 270°, whose
        // sideways glyphs also read as columns) keeps every reading of the other boxes.
        let flagged = reading(&[
            ("也商与师问贡子", 0.98, Vertical),
            ("子贡问师与商也", 0.99, Rotated270),
        ]);
        assert!(!reads_columns(&[column, flagged]));
    }

    #[test]
    fn column_readings_must_be_mostly_cjk() {
        assert!(mostly_cjk("竖排文字"));
        assert!(mostly_cjk("第70回"));
        assert!(!mostly_cjk("ehtnehT.srevals"));
        assert!(!mostly_cjk(""));
    }

    #[test]
    fn the_preferred_reading_wins_unless_clearly_beaten() {
        use LineOrientation::*;
        let r = reading(&[("竖排", 0.85, Vertical), ("坚排", 0.9, Rotated90)]);
        assert_eq!(r.choose(Vertical).unwrap().0, Vertical);
        let r = reading(&[("噪声", 0.5, Vertical), ("LABEL", 0.95, Rotated90)]);
        assert_eq!(r.choose(Vertical).unwrap().1.text, "LABEL");
        assert!(Readings::default().choose(Upright).is_none());
    }
}
