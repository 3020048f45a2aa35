#!/usr/bin/env python3
"""Writes one-node (or one-pattern) ONNX models with the shapes of the PP-OCR models' hot
nodes, for timing a kernel change on that node alone with `tools/ab_bench.sh`: a whole
model's run mixes ~100 nodes and this VM's drift hides a few percent on one of them.

    ~/.cache/wenzi-peers/bin/python tools/one_node_models.py [OUT_DIR]   # default /tmp/wenzi-nodes
    tools/ab_bench.sh /tmp/bench_old target/release/examples/bench_shapes \\
        /tmp/wenzi-nodes/conv3x3_96to24.onnx 1,96,240,240 1 10 8

Each model takes one input `x` with free spatial sizes (or a free sequence length), so
any input shape of the listed channel count works. Printed: file, the input shape the
node sees in its model, and where it comes from. Weights are seeded random values, so
timings (not outputs) are what these are for. Dev-only: needs the `onnx` package.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


def weight(name, shape, scale=0.05):
    return numpy_helper.from_array(
        (RNG.standard_normal(shape) * scale).astype(np.float32), name
    )


def save(out_dir, name, nodes, inits, in_shape, out_name):
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [None] * len(in_shape))],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(out_dir, name + ".onnx")
    onnx.save(m, path)
    return path


def conv(out_dir, name, cin, cout, k, stride=1, pad=None, group=1, act=None):
    pad = k // 2 if pad is None else pad
    w = weight("W", (cout, cin // group, k, k))
    b = weight("B", (cout,), 1.0)
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "W", "B"],
            ["c"],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=group,
        )
    ]
    out = "c"
    if act in ("Relu", "HardSwish"):
        nodes.append(helper.make_node(act, ["c"], ["y"]))
        out = "y"
    return save(out_dir, name, nodes, [w, b], [1, cin, None, None], out)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/wenzi-nodes"
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    rows.append((conv(out_dir, "conv3x3_96to24", 96, 24, 3, act="Relu"),
                 "1,96,240,240", "v4 det Conv.58/61, v6 det Conv.82 (Winograd path)"))
    rows.append((conv(out_dir, "conv3x3s2_48to24", 48, 24, 3, stride=2, act="Relu"),
                 "1,48,480,480", "v6 det Conv.3 (direct, stride 2)"))
    rows.append((conv(out_dir, "conv3x3s2_96to48", 96, 48, 3, stride=2, act="Relu"),
                 "1,96,24,160", "v6 rec Conv.3 (the stem's stride-2 conv, small map)"))
    rows.append((conv(out_dir, "conv1x1_16to32", 16, 32, 1),
                 "1,16,480,480", "v4 det p2o.Conv.2 (short k loop)"))
    rows.append((conv(out_dir, "conv1x1_16to32_hswish", 16, 32, 1, act="HardSwish"),
                 "1,16,480,480", "v4 det p2o.Conv.2 with its fused activation"))
    rows.append((conv(out_dir, "conv1x1_192to384", 192, 384, 1),
                 "1,192,6,80", "v6 rec Conv.22 and its kind (1x1 GEMM)"))
    rows.append((conv(out_dir, "conv1x1_384to768", 384, 768, 1),
                 "1,384,3,80", "v6 rec Conv.49/52 (1x1 GEMM, 240 pixels)"))
    rows.append((conv(out_dir, "conv1x1_768to384", 768, 384, 1),
                 "1,768,3,80", "v6 rec Conv.50/53 (1x1 GEMM, 240 pixels)"))
    rows.append((conv(out_dir, "dw7x7_96", 96, 96, 7, group=96),
                 "1,96,240,240", "v6 det Conv.78 (depthwise)"))
    mp = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[1, 1],
                          auto_pad="SAME_UPPER")
    rows.append((save(out_dir, "maxpool2x2s1", [mp], [], [1, 24, None, None], "y"),
                 "1,24,480,480", "v6 det MaxPool.0"))
    head = [
        helper.make_node("MatMul", ["x", "W"], ["m"]),
        helper.make_node("Add", ["m", "B"], ["a"]),
        helper.make_node("Softmax", ["a"], ["y"], axis=2),
    ]
    rows.append((save(out_dir, "rec_head_18710", head,
                      [weight("W", (120, 18710)), weight("B", (18710,), 1.0)],
                      [1, None, 120], "y"),
                 "1,40,120", "v6 rec MatMul.12 + Softmax.2"))
    up = [
        helper.make_node("ConvTranspose", ["x", "W1", "B1"], ["u"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Relu", ["u"], ["r"]),
        helper.make_node("ConvTranspose", ["r", "W2", "B2"], ["v"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Sigmoid", ["v"], ["y"]),
    ]
    rows.append((save(out_dir, "convt_head_24", up,
                      [weight("W1", (24, 24, 2, 2)), weight("B1", (24,), 1.0),
                       weight("W2", (24, 1, 2, 2)), weight("B2", (1,), 1.0)],
                      [1, 24, None, None], "y"),
                 "1,24,240,240", "v4/v6 det ConvTranspose.0 + .2 (the DB head's upsampling)"))
    for path, shape, what in rows:
        print(f"{path}\t{shape}\t{what}")


if __name__ == "__main__":
    main()
