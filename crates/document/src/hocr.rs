//! hOCR: XHTML with `ocr_page`, `ocr_carea`, `ocr_par`, `ocr_line` and `ocrx_word` elements.

use std::fmt::Write;

use wenzi::{LineOrientation, Page};

use crate::structure::{blocks, unit_confidence, xml_escape, Bounds};

/// The pages as one hOCR document (well-formed XHTML). Element ids count across the
/// document: `page_1`, `block_1_2`, `par_1_2`, `line_1_3`, `word_1_7`. Word titles carry
/// `bbox x0 y0 x1 y1; x_wconf NN` (confidence in percent); lines turned with the page carry
/// `textangle` (degrees counter-clockwise); blocks carry wenzi's block kind as `x_block`.
pub fn hocr(pages: &[Page]) -> String {
    let mut out = String::new();
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n",
        "    \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n",
        "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"zh\" lang=\"zh\">\n",
        " <head>\n",
        "  <title></title>\n",
        "  <meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n",
    ));
    let _ = writeln!(
        out,
        "  <meta name=\"ocr-system\" content=\"wenzi {}\"/>",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(concat!(
        "  <meta name=\"ocr-capabilities\" content=\"ocr_page ocr_carea ocr_par ocr_line ",
        "ocrx_word ocrp_wconf\"/>\n",
        " </head>\n",
        " <body>\n",
    ));
    let (mut block_id, mut line_id, mut word_id) = (0usize, 0usize, 0usize);
    for (p, page) in pages.iter().enumerate() {
        let n = p + 1;
        let _ = writeln!(
            out,
            "  <div class=\"ocr_page\" id=\"page_{n}\" title=\"bbox 0 0 {} {}; ppageno {p}\">",
            page.width, page.height
        );
        for block in blocks(page) {
            block_id += 1;
            let b = bbox(block.bounds());
            // wenzi's block kind (paragraph, table, vertical), as an engine-specific property.
            let _ = writeln!(
                out,
                "   <div class=\"ocr_carea\" id=\"block_{n}_{block_id}\" title=\"{b}; x_block {}\">",
                block.kind.as_str()
            );
            let _ = writeln!(
                out,
                "    <p class=\"ocr_par\" id=\"par_{n}_{block_id}\" title=\"{b}\">"
            );
            for line in block.lines {
                line_id += 1;
                let angle = match line.orientation {
                    LineOrientation::Rotated90 => "; textangle 270",
                    LineOrientation::Rotated180 => "; textangle 180",
                    LineOrientation::Rotated270 => "; textangle 90",
                    _ => "",
                };
                let _ = write!(
                    out,
                    "     <span class=\"ocr_line\" id=\"line_{n}_{line_id}\" title=\"{}{angle}\">",
                    bbox(Bounds::of_quad(&line.quad))
                );
                for (k, word) in line.words.iter().enumerate() {
                    word_id += 1;
                    if k > 0 {
                        out.push(' ');
                    }
                    let conf = (unit_confidence(word.confidence) * 100.0).round() as u32;
                    let _ = write!(
                        out,
                        "<span class=\"ocrx_word\" id=\"word_{n}_{word_id}\" title=\"{}; x_wconf {conf}\">{}</span>",
                        bbox(Bounds::of_quad(&word.quad)),
                        xml_escape(&word.text)
                    );
                }
                out.push_str("</span>\n");
            }
            out.push_str("    </p>\n   </div>\n");
        }
        out.push_str("  </div>\n");
    }
    out.push_str(" </body>\n</html>\n");
    out
}

fn bbox(b: Bounds) -> String {
    format!("bbox {} {} {} {}", b.x0, b.y0, b.x1, b.y1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::testing;

    #[test]
    fn hocr_is_well_formed_with_the_expected_classes() {
        let out = hocr(&[testing::page(), testing::page()]);
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(&out, options)
            .unwrap_or_else(|e| panic!("{e}\n{out}"));
        let class = |c: &str| {
            doc.descendants()
                .filter(|n| n.attribute("class") == Some(c))
                .collect::<Vec<_>>()
        };
        assert_eq!(class("ocr_page").len(), 2);
        assert_eq!(class("ocr_carea").len(), 4);
        assert_eq!(class("ocr_par").len(), 4);
        assert_eq!(class("ocr_line").len(), 4);
        let words = class("ocrx_word");
        assert_eq!(words.len(), 14);
        assert_eq!(words[2].text(), Some("a&b<\"c\""));
        assert_eq!(
            words[0].attribute("title"),
            Some("bbox 10 10 40 30; x_wconf 90")
        );
        assert_eq!(words[3].text(), Some("中"));
        // Ids are unique across the document.
        let mut ids: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("id"))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
