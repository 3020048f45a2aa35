//! Debug helper: runs a model on a raw little-endian f32 input and writes each output
//! as raw f32 (`<out_prefix>.<i>.f32`) plus its shape on stdout.
//!
//! `cargo run --release -p wenzi-nn --example run_raw -- model.onnx input.f32 1,3,48,320 /tmp/out [--no-opt]`

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: run_raw MODEL INPUT.f32 SHAPE OUT_PREFIX [--no-opt]");
        std::process::exit(2);
    }
    let bytes = std::fs::read(&a[1]).expect("model");
    let optimize = !a.iter().any(|x| x == "--no-opt");
    let m = wenzi_nn::Model::load_with(&bytes, wenzi_nn::LoadOptions { optimize }).expect("load");
    let raw = std::fs::read(&a[2]).expect("input");
    let data: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let shape: Vec<usize> = a[3].split(',').map(|s| s.parse().unwrap()).collect();
    let x = ndarray::ArrayD::from_shape_vec(shape, data).expect("shape");
    let name = m.input_names()[0].to_string();
    let outs = m.run(&[(name.as_str(), x.view())]).expect("run");
    for (i, (o, n)) in outs.iter().zip(m.output_names()).enumerate() {
        let bytes: Vec<u8> = o.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(format!("{}.{i}.f32", a[4]), bytes).unwrap();
        println!("{i} {n} {:?}", o.shape());
    }
}
