//! Prints each model's node count and op histogram after optimization.
//! `cargo run --release -p wenzi-nn --example summary -- models/*.onnx`

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read model");
        let raw = wenzi_nn::Model::load_with(&bytes, wenzi_nn::LoadOptions { optimize: false })
            .expect("load");
        let m = wenzi_nn::Model::load(&bytes).expect("load");
        println!(
            "{path}: {} nodes unoptimized, {} optimized",
            raw.node_count(),
            m.node_count()
        );
        if std::env::var_os("WENZI_NN_DUMP").is_some() {
            print!("{}", m.debug_graph());
        }
        for (op, n) in m.op_summary() {
            println!("  {n:5}  {op}");
        }
    }
}
