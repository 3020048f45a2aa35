//! The line-size limits of docs/robustness.md: a crop is never wider than `MAX_CROP_SIDE`
//! nor taller than the requested height, whatever the quad.

use image::{Rgb, RgbImage};
use proptest::prelude::*;
use wenzi_recognize::{crop_quad, MAX_CROP_SIDE};

fn page() -> RgbImage {
    RgbImage::from_fn(64, 32, |x, y| Rgb([(x * 4) as u8, (y * 8) as u8, 128]))
}

#[test]
fn a_quad_wider_than_the_cap_is_clamped_to_max_crop_side() {
    let q = [[0.0, 0.0], [1e9, 0.0], [1e9, 20.0], [0.0, 20.0]];
    let crop = crop_quad(&page(), &q, 48).expect("a valid quad");
    assert_eq!(crop.width(), MAX_CROP_SIDE);
    assert_eq!(crop.height(), 20);
}

#[test]
fn a_huge_quad_is_scaled_to_max_height_and_capped_in_width() {
    let q = [[-1e30, -1e30], [1e30, -1e30], [1e30, 1e30], [-1e30, 1e30]];
    if let Some(crop) = crop_quad(&page(), &q, 96) {
        assert!(crop.height() <= 96 && crop.width() <= MAX_CROP_SIDE);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any corners (NaN, infinite, huge, inverted) and any small height: never a panic,
    /// never a crop over the caps.
    #[test]
    fn any_quad_with_any_values_respects_the_caps(
        c in proptest::array::uniform8(prop_oneof![
            6 => -1e5f32..1e5,
            1 => any::<f32>(),
            1 => prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(-f32::MAX), Just(f32::MAX)],
        ]),
        max_height in 0u32..200,
    ) {
        let q = [[c[0], c[1]], [c[2], c[3]], [c[4], c[5]], [c[6], c[7]]];
        if let Some(crop) = crop_quad(&page(), &q, max_height) {
            prop_assert!(crop.width() >= 1 && crop.height() >= 1);
            prop_assert!(crop.width() <= MAX_CROP_SIDE);
            prop_assert!(crop.height() <= max_height.max(1));
        }
    }
}
