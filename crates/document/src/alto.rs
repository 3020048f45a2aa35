//! ALTO 4 XML: `Page` / `PrintSpace` / `TextBlock` / `TextLine` / `String`, with `SP` between
//! Latin words.

use std::fmt::Write;

use wenzi::Page;

use crate::structure::{blocks, is_cjk_word, unit_confidence, xml_escape, Bounds};

/// The pages as one ALTO 4.2 document, in pixels. Each wenzi block is a `TextBlock`; `WC` is
/// the word's confidence (0..1). An `SP` separates two words unless one of them is CJK
/// (Chinese text has no spaces between its one-character words).
pub fn alto(pages: &[Page]) -> String {
    let mut out = String::new();
    out.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<alto xmlns=\"http://www.loc.gov/standards/alto/ns-v4#\"",
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
        " xsi:schemaLocation=\"http://www.loc.gov/standards/alto/ns-v4#",
        " http://www.loc.gov/standards/alto/v4/alto-4-2.xsd\">\n",
        "  <Description>\n",
        "    <MeasurementUnit>pixel</MeasurementUnit>\n",
        "    <Processing ID=\"wenzi_ocr\">\n",
        "      <processingCategory>contentGeneration</processingCategory>\n",
        "      <processingSoftware>\n",
        "        <softwareName>wenzi</softwareName>\n",
    ));
    let _ = writeln!(
        out,
        "        <softwareVersion>{}</softwareVersion>",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(concat!(
        "      </processingSoftware>\n",
        "    </Processing>\n",
        "  </Description>\n",
        "  <Layout>\n",
    ));
    let (mut block_id, mut line_id, mut word_id) = (0usize, 0usize, 0usize);
    for (p, page) in pages.iter().enumerate() {
        let n = p + 1;
        let _ = writeln!(
            out,
            "    <Page ID=\"page_{n}\" PHYSICAL_IMG_NR=\"{n}\" WIDTH=\"{}\" HEIGHT=\"{}\">",
            page.width, page.height
        );
        let _ = writeln!(
            out,
            "      <PrintSpace HPOS=\"0\" VPOS=\"0\" WIDTH=\"{}\" HEIGHT=\"{}\">",
            page.width, page.height
        );
        for block in blocks(page) {
            block_id += 1;
            let _ = writeln!(
                out,
                "        <TextBlock ID=\"block_{block_id}\" {}>",
                position(block.bounds())
            );
            for line in block.lines {
                line_id += 1;
                let _ = writeln!(
                    out,
                    "          <TextLine ID=\"line_{line_id}\" {}>",
                    position(Bounds::of_quad(&line.quad))
                );
                for (k, word) in line.words.iter().enumerate() {
                    word_id += 1;
                    let b = Bounds::of_quad(&word.quad);
                    if k > 0 {
                        let prev = &line.words[k - 1];
                        if !is_cjk_word(&prev.text) && !is_cjk_word(&word.text) {
                            let pb = Bounds::of_quad(&prev.quad);
                            let (x0, x1) = (pb.x1.min(b.x0), pb.x1.max(b.x0));
                            let _ = writeln!(
                                out,
                                "            <SP WIDTH=\"{}\" HPOS=\"{x0}\" VPOS=\"{}\"/>",
                                x1 - x0,
                                pb.y0.min(b.y0)
                            );
                        }
                    }
                    let _ = writeln!(
                        out,
                        "            <String ID=\"string_{word_id}\" {} WC=\"{:.3}\" CONTENT=\"{}\"/>",
                        position(b),
                        unit_confidence(word.confidence),
                        xml_escape(&word.text)
                    );
                }
                out.push_str("          </TextLine>\n");
            }
            out.push_str("        </TextBlock>\n");
        }
        out.push_str("      </PrintSpace>\n    </Page>\n");
    }
    out.push_str("  </Layout>\n</alto>\n");
    out
}

fn position(b: Bounds) -> String {
    format!(
        "HPOS=\"{}\" VPOS=\"{}\" WIDTH=\"{}\" HEIGHT=\"{}\"",
        b.x0,
        b.y0,
        b.width(),
        b.height()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::testing;

    #[test]
    fn alto_is_well_formed_with_spaces_between_latin_words_only() {
        let out = alto(&[testing::page()]);
        let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let named = |name: &str| {
            doc.descendants()
                .filter(|n| n.tag_name().name() == name)
                .collect::<Vec<_>>()
        };
        assert_eq!(named("Page").len(), 1);
        assert_eq!(named("TextBlock").len(), 2);
        assert_eq!(named("TextLine").len(), 2);
        let strings: Vec<&str> = named("String")
            .iter()
            .filter_map(|n| n.attribute("CONTENT"))
            .collect();
        assert_eq!(
            strings,
            ["apt", "search", "a&b<\"c\"", "中", "文", "OK", "。"]
        );
        // SPs: between the three Latin words of line 1; none around CJK words.
        assert_eq!(named("SP").len(), 2);
        let first = named("String")[0];
        assert_eq!(first.attribute("HPOS"), Some("10"));
        assert_eq!(first.attribute("WIDTH"), Some("30"));
        assert_eq!(first.attribute("WC"), Some("0.900"));
    }
}
