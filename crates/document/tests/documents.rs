//! Documents end to end: PDFs and TIFFs built here from fixture images read like the images
//! themselves; broken PDFs give errors; the output formats load in the tools that read them.

use std::io::Cursor;
use std::process::Command;
use std::sync::OnceLock;

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref};
use wenzi::image::RgbImage;
use wenzi::Engine;
use wenzi_document::{
    alto, hocr, recognize_document, searchable_pdf, tsv, DocumentError, DocumentOptions, InputKind,
    Pages,
};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::builder().build().expect("default engine builds"))
}

fn fixture_bytes(path: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> RgbImage {
    engine()
        .decode(&fixture_bytes(&format!("images/{name}")))
        .expect("fixture decodes")
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    wenzi::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(image)
        .unwrap();
    out
}

/// How a test PDF stores a page's image.
enum Stored {
    /// Uncompressed RGB samples (exact pixels).
    Raw,
    /// A JPEG (DCTDecode), the usual scan.
    Jpeg(Vec<u8>),
}

/// A PDF whose pages each draw one image over the whole page (as scanners write them), at
/// 150 dpi. The page tree comes first in the file and the images last, so truncating the
/// file cuts images, not the structure.
fn scan_pdf(pages: &[(&RgbImage, Stored)]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let (catalog, tree) = (Ref::new(1), Ref::new(2));
    let ids = |k: usize| {
        (
            Ref::new(10 + 3 * k as i32),
            Ref::new(11 + 3 * k as i32),
            Ref::new(12 + 3 * k as i32),
        )
    };
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(|k| ids(k).0))
        .count(pages.len() as i32);
    for (k, (image, _)) in pages.iter().enumerate() {
        let (page_id, content_id, image_id) = ids(k);
        let (w, h) = (
            image.width() as f32 * 72.0 / 150.0,
            image.height() as f32 * 72.0 / 150.0,
        );
        let mut content = Content::new();
        content.save_state();
        content.transform([w, 0.0, 0.0, h, 0.0, 0.0]);
        content.x_object(Name(b"Scan"));
        content.restore_state();
        pdf.stream(content_id, &content.finish());
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, w, h));
        page.parent(tree);
        page.contents(content_id);
        page.resources().x_objects().pair(Name(b"Scan"), image_id);
        page.finish();
        let _ = image_id;
    }
    for (k, (image, stored)) in pages.iter().enumerate() {
        let image_id = ids(k).2;
        let data = match stored {
            Stored::Raw => image.as_raw().clone(),
            Stored::Jpeg(bytes) => bytes.clone(),
        };
        let mut x = pdf.image_xobject(image_id, &data);
        if let Stored::Jpeg(_) = stored {
            x.filter(Filter::DctDecode);
        }
        x.width(image.width() as i32);
        x.height(image.height() as i32);
        x.color_space().device_rgb();
        x.bits_per_component(8);
        x.finish();
    }
    pdf.finish()
}

fn texts(page: &wenzi::Page) -> Vec<String> {
    page.texts()
}

#[test]
fn a_scanned_pdf_reads_like_its_images() {
    let (a, b) = (fixture("page_008.png"), fixture("page_003.png"));
    let b_jpeg = jpeg(&b);
    // The JPEG page is compared with the same JPEG decoded as an image.
    let b_decoded = engine().decode(&b_jpeg).unwrap();
    let bytes = scan_pdf(&[(&a, Stored::Raw), (&b, Stored::Jpeg(b_jpeg))]);
    let doc = recognize_document(engine(), &bytes, &DocumentOptions::default()).unwrap();
    assert_eq!(doc.pages.len(), 2);
    let direct_a = engine().recognize_image(&a).unwrap();
    let direct_b = engine().recognize_image(&b_decoded).unwrap();
    assert_eq!(texts(&doc.pages[0]), texts(&direct_a));
    assert_eq!(
        (doc.pages[0].width, doc.pages[0].height),
        (a.width(), a.height())
    );
    assert_eq!(texts(&doc.pages[1]), texts(&direct_b));
    assert!(!doc.pages[0].lines[0].words.is_empty());

    // The page images come out pixel for pixel, at the scan's resolution.
    let mut pages = Pages::open(engine(), &bytes, &DocumentOptions::default()).unwrap();
    assert_eq!(pages.kind(), InputKind::Pdf);
    let first = pages.image(0).unwrap();
    assert_eq!(first.image, a);
    assert!((first.dpi - 150.0).abs() < 0.5, "{}", first.dpi);
}

#[test]
fn broken_pdfs_give_errors_not_panics() {
    let a = fixture("page_008.png");
    let bytes = scan_pdf(&[(&a, Stored::Raw), (&a, Stored::Raw)]);
    let opts = DocumentOptions::default();
    // Cut inside the images, or before them: an error.
    for cut in [bytes.len() / 2, bytes.len() * 3 / 4, 200, 20] {
        let result = recognize_document(engine(), &bytes[..cut], &opts);
        assert!(
            result.is_err(),
            "cut at {cut} of {}: not an error",
            bytes.len()
        );
    }
    // Only the cross-reference table and trailer lost: the reader rebuilds them, as viewers
    // do, and the pages read in full; whatever it does, it does not panic.
    let repaired = recognize_document(engine(), &bytes[..bytes.len() - 300], &opts);
    if let Ok(doc) = repaired {
        assert_eq!(doc.pages.len(), 2);
    }
    let garbage = recognize_document(engine(), b"%PDF-1.7\n1 0 obj <<", &opts);
    assert!(
        matches!(garbage, Err(DocumentError::InvalidPdf(_))),
        "{garbage:?}"
    );
    assert!(matches!(
        recognize_document(engine(), b"", &opts),
        Err(DocumentError::Empty)
    ));
}

#[test]
fn damaged_pdfs_never_panic() {
    // A small scan PDF with bytes overwritten all over it: every outcome is Ok or an error.
    let small = RgbImage::from_fn(40, 20, |x, y| {
        wenzi::image::Rgb([(x * 6) as u8, (y * 12) as u8, 9])
    });
    let jpeg_bytes = jpeg(&small);
    let bytes = scan_pdf(&[(&small, Stored::Raw), (&small, Stored::Jpeg(jpeg_bytes))]);
    let opts = DocumentOptions::default();
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for _ in 0..300 {
        let mut damaged = bytes.clone();
        for _ in 0..1 + next() % 8 {
            let at = next() as usize % damaged.len();
            damaged[at] = next() as u8;
        }
        if let Ok(mut pages) = Pages::open(engine(), &damaged, &opts) {
            for i in 0..pages.len() {
                let _ = pages.image(i);
            }
        }
    }
}

#[test]
fn page_limits_are_enforced() {
    let a = fixture("page_008.png");
    let bytes = scan_pdf(&[(&a, Stored::Raw), (&a, Stored::Raw)]);
    let few = DocumentOptions {
        max_pages: 1,
        ..Default::default()
    };
    assert!(matches!(
        recognize_document(engine(), &bytes, &few),
        Err(DocumentError::TooManyPages { pages: 2, max: 1 })
    ));
    let small = DocumentOptions {
        max_page_pixels: Some(10_000),
        ..Default::default()
    };
    assert!(matches!(
        recognize_document(engine(), &bytes, &small),
        Err(DocumentError::PageTooLarge { page: 1, .. })
    ));
}

#[test]
fn a_pdf_page_without_a_scan_needs_rendering() {
    // A page of vector text only, in a standard font.
    let mut pdf = Pdf::new();
    pdf.catalog(Ref::new(1)).pages(Ref::new(2));
    pdf.pages(Ref::new(2)).kids([Ref::new(3)]).count(1);
    pdf.type1_font(Ref::new(5)).base_font(Name(b"Helvetica"));
    let mut content = Content::new();
    content.begin_text();
    content.set_font(Name(b"F0"), 36.0);
    content.next_line(20.0, 30.0);
    content.show(pdf_writer::Str(b"Hello World 2026"));
    content.end_text();
    pdf.stream(Ref::new(4), &content.finish());
    let mut page = pdf.page(Ref::new(3));
    page.media_box(Rect::new(0.0, 0.0, 360.0, 100.0));
    page.parent(Ref::new(2));
    page.contents(Ref::new(4));
    page.resources().fonts().pair(Name(b"F0"), Ref::new(5));
    page.finish();
    let bytes = pdf.finish();
    let result = recognize_document(engine(), &bytes, &DocumentOptions::default());
    if cfg!(feature = "render") {
        // Rendered at 200 dpi and read.
        let doc = result.unwrap();
        // 360 × 100 pt at 200 dpi (the rasterizer truncates: 999 or 1000 columns).
        assert!(
            (999..=1000).contains(&doc.pages[0].width),
            "{}",
            doc.pages[0].width
        );
        assert_eq!(doc.pages[0].height, 277);
        assert_eq!(doc.texts(), ["Hello World 2026"]);
    } else {
        assert!(
            matches!(result, Err(DocumentError::NeedsRendering { page: 1 })),
            "{result:?}"
        );
    }
}

#[test]
fn a_multi_page_tiff_reads_like_its_images() {
    let (a, b) = (fixture("page_008.png"), fixture("page_003.png"));
    let gray_b: Vec<u8> = b.pixels().map(|p| p[1]).collect();
    let mut buf = Cursor::new(Vec::new());
    {
        let mut encoder = tiff::encoder::TiffEncoder::new(&mut buf).unwrap();
        encoder
            .write_image::<tiff::encoder::colortype::RGB8>(a.width(), a.height(), a.as_raw())
            .unwrap();
        encoder
            .write_image::<tiff::encoder::colortype::Gray8>(b.width(), b.height(), &gray_b)
            .unwrap();
    }
    let bytes = buf.into_inner();
    let doc = recognize_document(engine(), &bytes, &DocumentOptions::default()).unwrap();
    assert_eq!(doc.pages.len(), 2);
    assert_eq!(
        texts(&doc.pages[0]),
        texts(&engine().recognize_image(&a).unwrap())
    );
    let b_gray = RgbImage::from_fn(b.width(), b.height(), |x, y| {
        let v = b.get_pixel(x, y)[1];
        wenzi::image::Rgb([v, v, v])
    });
    assert_eq!(
        texts(&doc.pages[1]),
        texts(&engine().recognize_image(&b_gray).unwrap())
    );
}

#[test]
fn a_single_image_is_a_one_page_document() {
    let bytes = fixture_bytes("images/page_008.png");
    let doc = recognize_document(engine(), &bytes, &DocumentOptions::default()).unwrap();
    assert_eq!(doc.pages.len(), 1);
    assert_eq!(doc.texts(), engine().recognize(&bytes).unwrap().texts());
}

/// Runs an external tool the test needs, or says why it is skipped. `require` names the
/// environment variable that makes a missing tool a failure.
fn tool(name: &str, require: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var(require).as_deref() != Ok("1"),
            "{name} is required ({require}=1) but not installed"
        );
        eprintln!("SKIPPED: {name} is not installed (set {require}=1 to require it)");
    }
    found
}

fn recognized_pages() -> (Vec<wenzi::Page>, Vec<RgbImage>) {
    let images = vec![fixture("page_008.png"), fixture("page_003.png")];
    let pages = images
        .iter()
        .map(|i| engine().recognize_image(i).unwrap())
        .collect();
    (pages, images)
}

#[test]
fn alto_validates_against_the_alto_4_schema() {
    let (pages, _) = recognized_pages();
    let xml = alto(&pages);
    roxmltree::Document::parse(&xml).expect("ALTO parses");
    if !tool("xmllint", "WENZI_REQUIRE_XMLLINT") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wenzi-alto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("page.alto.xml");
    std::fs::write(&file, &xml).unwrap();
    let schema = format!(
        "{}/../../fixtures/alto/alto-4-2.xsd",
        env!("CARGO_MANIFEST_DIR")
    );
    // The schema's xlink import resolves to a local copy through an XML catalog (offline).
    let catalog = format!(
        "{}/../../fixtures/alto/catalog.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let validate = |file: &std::path::Path| {
        Command::new("xmllint")
            .env("XML_CATALOG_FILES", &catalog)
            .args(["--noout", "--nonet", "--schema", &schema])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = validate(&file);
    // The check is real: a page without its required image number is refused.
    let broken = dir.join("broken.alto.xml");
    std::fs::write(&broken, xml.replace(" PHYSICAL_IMG_NR=\"1\"", "")).unwrap();
    let refused = validate(&broken);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "xmllint: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !refused.status.success(),
        "xmllint accepted a page without PHYSICAL_IMG_NR"
    );
}

#[test]
fn hocr_parses_with_one_word_element_per_word() {
    let (pages, _) = recognized_pages();
    let html = hocr(&pages);
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, options).expect("hOCR parses");
    let words: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("ocrx_word"))
        .filter_map(|n| n.text())
        .collect();
    let expected: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.lines)
        .flat_map(|l| &l.words)
        .map(|w| w.text.as_str())
        .collect();
    assert_eq!(words, expected);
    assert!(words.len() > 20);
}

#[test]
fn tsv_loads_with_tesseracts_header() {
    let (pages, _) = recognized_pages();
    let out = tsv(&pages);
    let mut rows = out.lines();
    let header: Vec<&str> = rows.next().unwrap().split('\t').collect();
    assert_eq!(
        header,
        [
            "level",
            "page_num",
            "block_num",
            "par_num",
            "line_num",
            "word_num",
            "left",
            "top",
            "width",
            "height",
            "conf",
            "text"
        ]
    );
    let mut words = 0;
    let mut pages_seen = 0;
    for row in rows {
        let cols: Vec<&str> = row.split('\t').collect();
        assert_eq!(cols.len(), 12, "{row:?}");
        for c in &cols[..10] {
            c.parse::<u32>().unwrap_or_else(|_| panic!("{row:?}"));
        }
        let conf: f32 = cols[10].parse().unwrap();
        match cols[0] {
            "5" => {
                words += 1;
                assert!((0.0..=100.0).contains(&conf));
                assert!(!cols[11].is_empty());
            }
            level => {
                assert_eq!(conf, -1.0);
                assert_eq!(cols[11], "");
                pages_seen += (level == "1") as usize;
            }
        }
    }
    assert_eq!(pages_seen, 2);
    let expected: usize = pages
        .iter()
        .flat_map(|p| &p.lines)
        .map(|l| l.words.len())
        .sum();
    assert_eq!(words, expected);
}

/// Longest common subsequence length of two character sequences.
fn lcs(a: &[char], b: &[char]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for &x in a {
        let mut diag = 0;
        for (j, &y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()]
}

#[test]
fn searchable_pdf_text_extracts_in_order_and_reads_back() {
    let (pages, images) = recognized_pages();
    let bytes = searchable_pdf(&pages, &images, 150.0).unwrap();
    let recognized: Vec<char> = pages
        .iter()
        .flat_map(|p| p.texts())
        .flat_map(|t| t.chars().collect::<Vec<_>>())
        .filter(|c| !c.is_whitespace())
        .collect();

    // Read back by wenzi: each page is one scan under invisible text, so its image is read.
    let doc = recognize_document(engine(), &bytes, &DocumentOptions::default()).unwrap();
    assert_eq!(doc.pages.len(), 2);
    let again: Vec<char> = doc
        .texts()
        .iter()
        .flat_map(|t| t.chars().collect::<Vec<_>>())
        .filter(|c| !c.is_whitespace())
        .collect();
    let kept = lcs(&recognized, &again) as f32 / recognized.len() as f32;
    assert!(kept >= 0.9, "re-read {kept:.3} of the characters");

    if !tool("pdftotext", "WENZI_REQUIRE_POPPLER") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wenzi-pdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("searchable.pdf");
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let extracted: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let share = lcs(&recognized, &extracted) as f32 / recognized.len() as f32;
    println!(
        "pdftotext extracted {:.1}% of the recognized characters in order",
        100.0 * share
    );
    assert!(share >= 0.95, "only {share:.3} extracted in order:\n{text}");
    // Latin words keep their spaces.
    assert!(text.contains("search-string"), "{text}");
}
