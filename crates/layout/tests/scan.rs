//! A scanned two-column page, slightly skewed, whose short lines are set solid and happen to
//! line up across the gutter: two columns, not a table (the line boxes of the generated scan
//! `degraded_007`, listed row by row as a table reading would give them).

/// Left and right column lines alternate: even indices left, odd right.
const Q: &[[[f32; 2]; 4]] = &[
    [[90.5, 93.5], [329.0, 78.6], [330.5, 105.2], [92.0, 120.1]],
    [[411.1, 73.6], [700.4, 54.7], [701.8, 79.1], [412.6, 97.9]],
    [[57.2, 123.0], [347.5, 104.5], [348.9, 128.6], [58.6, 147.1]],
    [
        [414.1, 100.4],
        [587.5, 87.2],
        [589.2, 111.9],
        [415.8, 125.1],
    ],
    [[59.7, 150.4], [117.7, 146.7], [119.1, 170.6], [61.1, 174.3]],
    [
        [450.9, 124.3],
        [704.5, 107.2],
        [706.1, 132.1],
        [452.4, 149.3],
    ],
    [[97.5, 174.3], [351.1, 157.3], [352.5, 180.5], [98.9, 197.5]],
    [
        [417.0, 153.0],
        [706.4, 133.4],
        [707.9, 158.2],
        [418.5, 177.7],
    ],
    [[63.4, 202.9], [352.3, 184.8], [353.7, 208.5], [64.8, 226.6]],
    [
        [419.3, 179.7],
        [687.2, 162.8],
        [688.6, 186.6],
        [420.7, 203.5],
    ],
    [[66.1, 228.9], [222.3, 218.0], [223.9, 242.9], [67.6, 253.9]],
    [
        [422.6, 203.7],
        [632.2, 191.4],
        [633.6, 218.1],
        [424.0, 230.5],
    ],
    [
        [101.1, 252.0],
        [355.6, 235.8],
        [357.0, 260.8],
        [102.5, 277.0],
    ],
    [
        [465.0, 228.5],
        [667.7, 216.7],
        [669.0, 241.8],
        [466.4, 253.6],
    ],
];

#[test]
fn solid_set_narrow_columns_are_columns_not_a_table() {
    let lines: Vec<wenzi_layout::LineBox> = Q
        .iter()
        .map(|q| wenzi_layout::LineBox::horizontal(*q))
        .collect();
    let order = wenzi_layout::reading_order(&lines);
    let want: Vec<usize> = (0..Q.len())
        .step_by(2)
        .chain((1..Q.len()).step_by(2))
        .collect();
    assert_eq!(order, want);
    let blocks = wenzi_layout::analyze(&lines);
    assert!(
        blocks
            .iter()
            .all(|b| b.kind != wenzi_layout::BlockKind::Table),
        "{blocks:?}"
    );
}
