//! Block analysis on synthetic layouts: tables, agendas, forms, columns, posters, skew and
//! vertical text.

mod common;

use common::{blocks_of, order_of, r, rotate_page, rows_of, seq, v};
use wenzi_layout::{analyze, BlockKind, LineBox};

fn kinds(blocks: &[wenzi_layout::Block]) -> Vec<BlockKind> {
    blocks.iter().map(|b| b.kind).collect()
}

/// Title, two prose columns of 6 lines with aligned baselines and a paragraph break, footer.
fn two_column_page() -> Vec<LineBox> {
    let mut lines = vec![r(300.0, 20.0, 860.0, 60.0)]; // centered title
    let ys = [100.0, 132.0, 164.0, 220.0, 252.0, 284.0];
    for (i, y) in ys.iter().enumerate() {
        let x1 = if i == 2 || i == 5 { 330.0 } else { 540.0 };
        lines.push(r(40.0, *y, x1, y + 22.0));
    }
    for (i, y) in ys.iter().enumerate() {
        let x1 = if i == 1 { 900.0 } else { 1120.0 };
        lines.push(r(620.0, *y, x1, y + 22.0));
    }
    lines.push(r(40.0, 340.0, 1120.0, 362.0)); // footer
    lines
}

#[test]
fn two_columns_read_column_by_column_with_title_and_footer_in_place() {
    let lines = two_column_page();
    assert_eq!(order_of(&lines), seq(lines.len()));
    let blocks = blocks_of(&lines);
    assert!(
        blocks.iter().all(|b| b.kind == BlockKind::Paragraph),
        "{blocks:?}"
    );
    // Title and footer are blocks of their own; the columns never share a block.
    assert_eq!(blocks.first().unwrap().lines, vec![0]);
    assert_eq!(blocks.last().unwrap().lines, vec![13]);
    for b in &blocks {
        let left = b.lines.iter().any(|i| (1..7).contains(i));
        let right = b.lines.iter().any(|i| (7..13).contains(i));
        assert!(!(left && right), "{blocks:?}");
    }
}

#[test]
fn table_is_one_block_with_rows() {
    let mut lines = vec![r(48.0, 40.0, 300.0, 70.0)]; // caption
    for row in 0..5 {
        let y = 100.0 + 36.0 * row as f32;
        for (x0, x1) in [
            (48.0, 110.0),
            (145.0, 240.0),
            (283.0, 330.0),
            (370.0, 530.0),
        ] {
            lines.push(r(x0, y, x1, y + 18.0));
        }
    }
    assert_eq!(order_of(&lines), seq(21));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Paragraph, BlockKind::Table]);
    let rows = rows_of(&blocks[1]);
    assert_eq!(rows.len(), 5);
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(*row, (1 + 4 * k..5 + 4 * k).collect::<Vec<_>>());
    }
    assert_eq!(blocks[1].bounds, [48.0, 100.0, 530.0, 262.0]);
}

/// The known failure: a time column that is as wide as a short text column, beside an event
/// column with one entry per row, was read as two columns (all times, then all events).
#[test]
fn agenda_reads_row_by_row() {
    let mut lines = vec![r(40.0, 20.0, 420.0, 56.0)]; // "会议日程"
    let times = [190.0, 190.0, 120.0, 190.0, 190.0, 120.0]; // "上午 09:00 - 10:30" / "12:00"
    let events = [520.0, 300.0, 560.0, 260.0, 470.0, 330.0];
    for (i, (tw, ew)) in times.iter().zip(events).enumerate() {
        let y = 90.0 + 52.0 * i as f32;
        lines.push(r(40.0, y + 2.0, 40.0 + tw, y + 20.0)); // digits: a bit shorter
        lines.push(r(280.0, y, 280.0 + ew, y + 22.0));
    }
    assert_eq!(order_of(&lines), seq(lines.len()));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Paragraph, BlockKind::Table]);
    let rows = rows_of(&blocks[1]);
    assert_eq!(rows.len(), 6);
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(*row, vec![1 + 2 * k, 2 + 2 * k]);
    }
}

#[test]
fn narrow_agenda_with_time_ranges_reads_row_by_row() {
    // "09:00", "10:30-11:00", … beside one event per row; rows 44 px apart.
    let times = [62.0, 130.0, 62.0, 130.0, 130.0];
    let mut lines = Vec::new();
    for (i, tw) in times.iter().enumerate() {
        let y = 40.0 + 44.0 * i as f32;
        lines.push(r(20.0, y + 3.0, 20.0 + tw, y + 19.0));
        lines.push(r(180.0, y, 180.0 + 200.0 + 37.0 * i as f32, y + 22.0));
    }
    assert_eq!(order_of(&lines), seq(10));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Table]);
    assert_eq!(blocks[0].rows.len(), 5);
}

#[test]
fn form_label_value_pairs_are_table_rows() {
    // Right-aligned labels ("姓名：", "出生日期：", …) and left-aligned values ("张三", …).
    let labels = [60.0, 100.0, 60.0, 80.0];
    let values = [80.0, 140.0, 200.0, 120.0];
    let mut lines = vec![r(40.0, 10.0, 240.0, 40.0)]; // form title
    for (i, (lw, vw)) in labels.iter().zip(values).enumerate() {
        let y = 70.0 + 40.0 * i as f32;
        lines.push(r(160.0 - lw, y, 160.0, y + 20.0));
        lines.push(r(180.0, y + 1.0, 180.0 + vw, y + 21.0));
    }
    assert_eq!(order_of(&lines), seq(9));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Paragraph, BlockKind::Table]);
    assert_eq!(
        rows_of(&blocks[1]),
        vec![vec![1, 2], vec![3, 4], vec![5, 6], vec![7, 8]]
    );
}

#[test]
fn price_list_reads_item_then_price() {
    let mut lines = vec![r(150.0, 10.0, 350.0, 46.0)]; // "价目表"
    let items = [160.0, 90.0, 200.0, 120.0, 140.0];
    for (i, w) in items.iter().enumerate() {
        let y = 70.0 + 34.0 * i as f32;
        lines.push(r(40.0, y, 40.0 + w, y + 22.0));
        lines.push(r(470.0 - 10.0 * (i % 2) as f32, y + 2.0, 520.0, y + 20.0)); // "¥12.50"
    }
    assert_eq!(order_of(&lines), seq(11));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Paragraph, BlockKind::Table]);
    assert_eq!(rows_of(&blocks[1])[4], vec![9, 10]);
}

#[test]
fn skewed_photo_of_a_page_reads_like_the_page() {
    let page = two_column_page();
    for deg in [-8.0, -5.0, 5.0, 6.5, 8.0] {
        let photo = rotate_page(&page, deg, 580.0, 190.0);
        assert_eq!(order_of(&photo), seq(page.len()), "{deg}°");
    }
}

#[test]
fn skewed_photo_of_a_form_keeps_its_rows() {
    let mut form = Vec::new();
    for i in 0..5 {
        let y = 70.0 + 40.0 * i as f32;
        form.push(r(40.0, y, 140.0, y + 20.0));
        form.push(r(400.0, y, 560.0, y + 20.0));
    }
    for deg in [-7.0, 7.0] {
        let photo = rotate_page(&form, deg, 300.0, 150.0);
        assert_eq!(order_of(&photo), seq(10), "{deg}°");
        let blocks = analyze(&photo);
        assert_eq!(kinds(&blocks), vec![BlockKind::Table], "{deg}°");
        assert_eq!(blocks[0].rows.len(), 5);
    }
}

#[test]
fn poster_with_centered_lines_reads_top_to_bottom() {
    // Centered lines of very different widths and sizes.
    let spec = [
        (600.0, 60.0),
        (200.0, 24.0),
        (420.0, 36.0),
        (120.0, 20.0),
        (520.0, 28.0),
    ];
    let mut y = 40.0;
    let mut lines = Vec::new();
    for (w, h) in spec {
        lines.push(r(400.0 - w / 2.0, y, 400.0 + w / 2.0, y + h));
        y += h + 30.0;
    }
    lines.push(r(60.0, y + 40.0, 200.0, y + 60.0)); // small print, bottom left
    lines.push(r(600.0, y + 40.0, 740.0, y + 60.0)); // small print, bottom right
    assert_eq!(order_of(&lines), seq(lines.len()));
}

#[test]
fn offset_baselines_in_a_row_keep_left_to_right() {
    // A photo: each row's right box sits a few pixels higher than its left box.
    let mut lines = Vec::new();
    for i in 0..4 {
        let y = 100.0 + 30.0 * i as f32;
        lines.push(r(40.0, y, 200.0, y + 20.0));
        lines.push(r(230.0, y - 6.0, 420.0, y + 14.0));
    }
    assert_eq!(order_of(&lines), seq(8));
    // Even a lone row with the right box higher.
    let row = vec![r(40.0, 100.0, 200.0, 120.0), r(215.0, 93.0, 400.0, 113.0)];
    assert_eq!(order_of(&row), vec![0, 1]);
}

#[test]
fn vertical_columns_read_right_to_left_after_a_horizontal_title() {
    let mut lines = vec![r(150.0, 20.0, 450.0, 60.0)]; // horizontal title
                                                       // Five columns right to left; slightly different tops, a short last column (a poem).
    let cols = [
        (430.0, 100.0, 500.0),
        (380.0, 104.0, 496.0),
        (330.0, 98.0, 500.0),
        (280.0, 110.0, 480.0),
        (230.0, 100.0, 260.0),
    ];
    for (x, y0, y1) in cols {
        lines.push(v(x, y0, x + 30.0, y1));
    }
    assert_eq!(order_of(&lines), seq(6));
    let blocks = blocks_of(&lines);
    assert_eq!(
        kinds(&blocks),
        vec![BlockKind::Paragraph, BlockKind::Vertical]
    );
    assert_eq!(blocks[1].lines, vec![1, 2, 3, 4, 5]);
}

#[test]
fn vertical_column_split_in_two_reads_top_piece_first() {
    let lines = vec![
        v(300.0, 100.0, 330.0, 250.0),
        v(300.0, 262.0, 330.0, 400.0),
        v(250.0, 100.0, 280.0, 400.0),
    ];
    assert_eq!(order_of(&lines), vec![0, 1, 2]);
}

#[test]
fn vertical_block_beside_a_horizontal_paragraph_is_its_own_block() {
    let mut lines = Vec::new();
    for i in 0..6 {
        let y = 100.0 + 30.0 * i as f32;
        lines.push(r(40.0, y, 400.0, y + 20.0));
    }
    for k in 0..3 {
        let x = 600.0 - 45.0 * k as f32;
        lines.push(v(x, 100.0, x + 30.0, 270.0 - 20.0 * k as f32));
    }
    assert_eq!(order_of(&lines), seq(9));
    let blocks = blocks_of(&lines);
    assert_eq!(
        kinds(&blocks),
        vec![BlockKind::Paragraph, BlockKind::Vertical]
    );
    assert_eq!(blocks[0].lines, seq(6));
    assert_eq!(blocks[1].lines, vec![6, 7, 8]);
    assert_eq!(blocks[1].bounds, [510.0, 100.0, 630.0, 270.0]);
}

#[test]
fn two_vertical_blocks_read_right_block_first() {
    let mut lines = Vec::new();
    for k in 0..3 {
        let x = 700.0 - 40.0 * k as f32;
        lines.push(v(x, 100.0, x + 30.0, 400.0));
    }
    for k in 0..3 {
        let x = 300.0 - 40.0 * k as f32;
        lines.push(v(x, 100.0, x + 30.0, 400.0));
    }
    assert_eq!(order_of(&lines), seq(6));
    let blocks = blocks_of(&lines);
    assert_eq!(
        kinds(&blocks),
        vec![BlockKind::Vertical, BlockKind::Vertical]
    );
}

#[test]
fn skewed_vertical_page_reads_right_to_left() {
    let mut page = vec![r(150.0, 20.0, 450.0, 60.0)];
    for k in 0..5 {
        let x = 430.0 - 50.0 * k as f32;
        page.push(v(x, 100.0, x + 30.0, 500.0));
    }
    for deg in [-6.0, 6.0] {
        let photo = rotate_page(&page, deg, 300.0, 300.0);
        assert_eq!(order_of(&photo), seq(6), "{deg}°");
    }
}

#[test]
fn paragraph_lines_form_one_block() {
    let mut lines = Vec::new();
    for i in 0..5 {
        let y = 50.0 + 28.0 * i as f32;
        let x1 = if i == 4 { 200.0 } else { 600.0 };
        lines.push(r(if i == 0 { 80.0 } else { 40.0 }, y, x1, y + 20.0));
    }
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Paragraph]);
    assert_eq!(blocks[0].lines, seq(5));
    assert!(blocks[0].rows.is_empty());
    assert_eq!(blocks[0].bounds, [40.0, 50.0, 600.0, 182.0]);
}

#[test]
fn empty_and_single_inputs() {
    assert!(analyze(&[]).is_empty());
    let one = analyze(&[r(1.0, 2.0, 3.0, 4.0)]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].lines, vec![0]);
    assert_eq!(one[0].bounds, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn huge_inputs_fall_back_to_rows() {
    let mut lines = Vec::new();
    for row in 0..80 {
        for col in 0..40 {
            let (x, y) = (10.0 + 30.0 * col as f32, 10.0 + 20.0 * row as f32);
            lines.push(r(x, y, x + 20.0, y + 12.0));
        }
    }
    assert!(lines.len() > wenzi_layout::MAX_LAYOUT_LINES);
    let start = std::time::Instant::now();
    assert_eq!(order_of(&lines), seq(lines.len()));
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn agenda_with_times_centered_beside_two_line_entries() {
    // Each time is vertically centered against its entry (title + smaller location line), so it
    // lines up with neither line: still one record per row, time first.
    let mut lines = vec![r(40.0, 20.0, 300.0, 50.0)];
    for i in 0..4 {
        let y = 80.0 + 70.0 * i as f32;
        lines.push(r(40.0, y + 16.0, 150.0, y + 32.0)); // time
        lines.push(r(200.0, y, 560.0 - 20.0 * i as f32, y + 22.0)); // title
        lines.push(r(200.0, y + 28.0, 380.0, y + 44.0)); // location
    }
    assert_eq!(order_of(&lines), seq(13));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Paragraph, BlockKind::Table]);
    let rows = rows_of(&blocks[1]);
    assert_eq!(rows.len(), 4);
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(*row, (1 + 3 * k..4 + 3 * k).collect::<Vec<_>>());
    }
}

#[test]
fn agenda_with_header_row_and_two_line_entries_is_one_table() {
    let mut lines = vec![r(40.0, 40.0, 90.0, 60.0), r(200.0, 40.0, 250.0, 60.0)]; // 时间 活动
    for i in 0..4 {
        let y = 80.0 + 60.0 * i as f32;
        lines.push(r(40.0, y + 2.0, 150.0, y + 20.0));
        lines.push(r(200.0, y, 560.0, y + 22.0));
        lines.push(r(200.0, y + 26.0, 420.0, y + 42.0));
    }
    assert_eq!(order_of(&lines), seq(14));
    let blocks = blocks_of(&lines);
    // The last entry's second line stays in the table.
    assert_eq!(kinds(&blocks), vec![BlockKind::Table]);
    assert_eq!(rows_of(&blocks[0])[0], vec![0, 1]);
    assert_eq!(rows_of(&blocks[0]).last().unwrap(), &vec![13]);
}

#[test]
fn form_with_a_two_line_value() {
    let lines = vec![
        r(40.0, 40.0, 100.0, 60.0), // 姓名：
        r(140.0, 40.0, 300.0, 60.0),
        r(40.0, 80.0, 100.0, 100.0), // 地址：
        r(140.0, 80.0, 500.0, 100.0),
        r(140.0, 106.0, 400.0, 126.0), // second line of the address
        r(40.0, 146.0, 100.0, 166.0),  // 电话：
        r(140.0, 146.0, 260.0, 166.0),
    ];
    assert_eq!(order_of(&lines), seq(7));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Table]);
    assert_eq!(
        rows_of(&blocks[0]),
        vec![vec![0, 1], vec![2, 3], vec![4], vec![5, 6]]
    );
}

#[test]
fn text_after_a_table_is_its_own_paragraph() {
    let mut lines = Vec::new();
    for i in 0..3 {
        let y = 40.0 + 36.0 * i as f32;
        lines.push(r(40.0, y, 120.0, y + 20.0));
        lines.push(r(300.0, y, 380.0, y + 20.0));
    }
    lines.push(r(40.0, 180.0, 600.0, 200.0)); // a note well below the table
    assert_eq!(order_of(&lines), seq(7));
    let blocks = blocks_of(&lines);
    assert_eq!(kinds(&blocks), vec![BlockKind::Table, BlockKind::Paragraph]);
    assert_eq!(blocks[1].lines, vec![6]);
}

#[test]
fn long_two_column_page_below_the_cap_stays_fast() {
    // Every row strip is merged back into the columns one at a time, each merge re-checking
    // the gutter: this must stay near-quadratic, not cubic.
    let mut lines = vec![r(40.0, 0.0, 1140.0, 15.0)];
    for col in 0..2 {
        for i in 0..1400 {
            let (x, y) = (
                40.0 + 600.0 * col as f32,
                20.0 + 30.0 * i as f32 + 7.0 * col as f32,
            );
            lines.push(r(x, y, x + 500.0, y + 20.0));
        }
    }
    let start = std::time::Instant::now();
    let order = wenzi_layout::reading_order(&lines);
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    assert_eq!(order, seq(lines.len()));
}
