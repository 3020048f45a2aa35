//! Word and character boxes on a fixture page whose glyph positions were measured once by
//! ink projection (columns with dark pixels, per text row band) and recorded here.

use wenzi::{Engine, Line, LineOrientation};

fn page_008() -> wenzi::Page {
    let path = format!(
        "{}/../../fixtures/images/page_008.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Engine::builder()
        .build()
        .expect("default engine builds")
        .recognize(&bytes)
        .expect("page_008 is recognized")
}

/// `(line text, [(word, ink x0, ink x1)], ink band y0..y1)` of fixtures/images/page_008.png.
#[allow(clippy::type_complexity)]
const TRUTH: &[(&str, &[(&str, f32, f32)], (f32, f32))] = &[
    (
        "apt search search-string",
        &[
            ("apt", 43.0, 67.0),
            ("search", 74.0, 126.0),
            ("search-string", 133.0, 240.0),
        ],
        (46.0, 65.0),
    ),
    (
        "在软件包名和说明中查找 search-string.",
        &[
            ("在", 44.0, 61.0),
            ("软", 64.0, 83.0),
            ("件", 85.0, 104.0),
            ("包", 107.0, 125.0),
            ("名", 129.0, 145.0),
            ("和", 148.0, 166.0),
            ("说", 169.0, 188.0),
            ("明", 191.0, 208.0),
            ("中", 212.0, 229.0),
            ("查", 232.0, 251.0),
            ("找", 253.0, 272.0),
            ("search-string.", 279.0, 391.0),
        ],
        (80.0, 102.0),
    ),
    ("/etc/", &[("/etc/", 42.0, 78.0)], (122.0, 136.0)),
    (
        "所有系统配置文件都在目录 /etc/ 下。",
        &[
            ("所", 43.0, 62.0),
            ("有", 65.0, 82.0),
            ("系", 87.0, 103.0),
            ("统", 106.0, 125.0),
            ("配", 127.0, 146.0),
            ("置", 148.0, 166.0),
            ("文", 169.0, 188.0),
            ("件", 190.0, 209.0),
            ("都", 211.0, 230.0),
            ("在", 233.0, 250.0),
            ("目", 256.0, 270.0),
            ("录", 274.0, 293.0),
            ("/etc/", 299.0, 336.0),
            ("下", 342.0, 361.0),
        ],
        (155.0, 176.0),
    ),
    (
        "kill [-9] number",
        &[
            ("kill", 43.0, 69.0),
            ("[-9]", 77.0, 105.0),
            ("number", 113.0, 176.0),
        ],
        (195.0, 213.0),
    ),
    (
        "向进程发送信号(比如终止它)。",
        &[
            ("向", 44.0, 61.0),
            ("进", 64.0, 83.0),
            ("程", 85.0, 104.0),
            ("发", 107.0, 125.0),
            ("送", 127.0, 146.0),
            ("信", 148.0, 167.0),
            ("号", 169.0, 187.0),
            ("比", 199.0, 216.0),
            ("如", 218.0, 236.0),
            ("终", 239.0, 258.0),
            ("止", 260.0, 278.0),
            ("它", 281.0, 300.0),
        ],
        (229.0, 250.0),
    ),
];

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: [f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

/// The recognized line that holds the first measured word.
fn line<'a>(page: &'a wenzi::Page, first_word: &str) -> &'a Line {
    page.lines
        .iter()
        .find(|l| l.text.replace(' ', "").starts_with(first_word))
        .unwrap_or_else(|| panic!("no line starting {first_word:?} in {:?}", page.texts()))
}

fn union(boxes: impl Iterator<Item = [f32; 4]>) -> [f32; 4] {
    boxes.fold(
        [
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ],
        |a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        },
    )
}

fn quad_bounds(q: &[[f32; 2]; 4]) -> [f32; 4] {
    union(q.iter().map(|p| [p[0], p[1], p[0], p[1]]))
}

/// Each measured word is checked against the recognized word of the same text; where the
/// recognizer merged or split words (v4 reads "apt search" as "aptsearch"), against the union
/// of the boxes of the characters that spell the measured word.
#[test]
fn word_boxes_overlap_the_measured_ink_boxes() {
    let page = page_008();
    let (mut worst, mut words_checked, mut via_chars, mut total) = (1.0f32, 0, 0, 0);
    let mut sum = 0.0f32;
    for &(_, truth, (y0, y1)) in TRUTH {
        let line = line(&page, truth[0].0);
        let chars: Vec<&wenzi::Char> = line.words.iter().flat_map(|w| &w.chars).collect();
        let spelled: Vec<&str> = chars.iter().map(|c| c.text.as_str()).collect();
        let (mut next_word, mut next_char) = (0, 0);
        for &(word, x0, x1) in truth {
            total += 1;
            let got = if let Some(k) = line.words[next_word..].iter().position(|w| w.text == word) {
                next_word += k + 1;
                words_checked += 1;
                line.words[next_word - 1].bounds()
            } else {
                // The first run of characters from `next_char` on that spells `word`.
                let n = word.chars().count();
                let Some(at) = (next_char..spelled.len().saturating_sub(n - 1))
                    .find(|&i| spelled[i..i + n].concat() == word)
                else {
                    continue; // misread: nothing to compare
                };
                next_char = at + n;
                via_chars += 1;
                union(chars[at..at + n].iter().map(|c| quad_bounds(&c.quad)))
            };
            let score = iou(got, [x0, y0, x1, y1]);
            assert!(
                score >= 0.5,
                "{word:?} box {got:?} vs ink {x0}..{x1} × {y0}..{y1}: IoU {score:.2}"
            );
            worst = worst.min(score);
            sum += score;
        }
    }
    println!(
        "page_008: {words_checked} words and {via_chars} character runs of {total} measured; \
         mean IoU {:.2}, worst {worst:.2}",
        sum / (words_checked + via_chars) as f32
    );
    assert!(
        words_checked + via_chars >= total * 9 / 10,
        "too many misreads"
    );
    assert!(
        words_checked >= total * 3 / 4,
        "too few words match the measured ones"
    );
}

#[test]
fn words_lie_inside_their_line_in_reading_order() {
    let page = page_008();
    assert!(!page.lines.is_empty());
    for line in &page.lines {
        assert_eq!(line.orientation, LineOrientation::Upright);
        let joined: String = line.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(joined, line.text.replace(' ', ""), "{line:?}");
        let lb = line.bounds();
        let mut last_x = f32::NEG_INFINITY;
        for w in &line.words {
            let b = w.bounds();
            assert!(
                b[0] >= lb[0] - 1.0
                    && b[1] >= lb[1] - 1.0
                    && b[2] <= lb[2] + 1.0
                    && b[3] <= lb[3] + 1.0,
                "{:?} {b:?} outside its line {lb:?}",
                w.text
            );
            assert!(
                b[0] >= last_x - 0.5,
                "{:?} starts before the previous word ends",
                w.text
            );
            last_x = b[2];
            assert!((0.0..=1.0).contains(&w.confidence));
            let chars: String = w.chars.iter().map(|c| c.text.as_str()).collect();
            assert_eq!(chars, w.text);
        }
    }
}
