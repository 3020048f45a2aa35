#!/usr/bin/env python3
"""Writes the wenzi-nn exactness fixtures into fixtures/nn/.

For every case, onnxruntime computes the reference outputs that the Rust tests in
crates/nn/tests/ compare against. Two kinds of cases:

* ``ops/<name>.onnx``: tiny single-op (or single-pattern) models built with
  onnx.helper, one per operator kind / variant the engine implements;
* whole models from ``models/`` at small input sizes.

Layout (all little-endian .npy files written by numpy):

    fixtures/nn/manifest.txt       one block per case, see below
    fixtures/nn/ops/<case>.onnx    the op models
    fixtures/nn/data/<file>.npy    inputs (float16 or float32) and outputs (float32)

manifest.txt grammar (one directive per line, blank lines separate nothing):

    case <name> <model path relative to repo root> <tolerance>
    input <graph input name> <npy path relative to fixtures/nn>
    output <npy path> <stride> <full shape, comma separated>

``stride`` > 1 means the file holds every stride-th element (flat, row-major) of the
full output, to keep large softmax outputs small. Inputs are drawn in [-1, 1] from a
seeded generator and rounded to float16 so they can be stored in half the space
without the Rust side seeing different values. ``tolerance`` is ``abs:E`` (max
|wenzi - ort| <= E) or ``rel:E`` (|d| <= E * (1 + |ref|)).

Run from the repo root with the dev venv (the product never needs Python):

    ~/.cache/wenzi-peers/bin/python tools/make_nn_fixtures.py
"""

import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "nn")
MAX_STORED = 100_000  # elements per stored output

manifest = []


def rng(seed):
    return np.random.default_rng(seed)


def rand_input(shape, seed, lo=-1.0, hi=1.0):
    x = rng(seed).uniform(lo, hi, size=shape).astype(np.float16)
    return x


def save(name, arr):
    path = os.path.join("data", name + ".npy")
    np.save(os.path.join(OUT, path), arr)
    return path


def ort_run(model_bytes, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    # Reference semantics, not onnxruntime's own fusions.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds), [o.name for o in sess.get_outputs()]


def add_case(name, model_path, model_bytes, inputs, tol="rel:1e-4"):
    """inputs: dict name -> float16 or float32 numpy array."""
    feeds = {k: v.astype(np.float32) for k, v in inputs.items()}
    outs, _ = ort_run(model_bytes, feeds)
    manifest.append(f"case {name} {model_path} {tol}")
    for k, v in inputs.items():
        manifest.append(f"input {k} {save(f'{name}.in.{k}', v)}")
    for i, o in enumerate(outs):
        o = np.asarray(o)
        full = o.astype(np.float32)
        stride = 1
        if full.size > MAX_STORED:
            stride = -(-full.size // MAX_STORED)
            if stride % 2 == 0:
                stride += 1
        stored = full.reshape(-1)[::stride].copy()
        shape = ",".join(str(d) for d in full.shape) if full.ndim else "scalar"
        manifest.append(f"output {save(f'{name}.out{i}', stored)} {stride} {shape}")


# ---------------------------------------------------------------------------
# Single-op models

def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def const(name, arr):
    arr = np.asarray(arr)
    return numpy_helper.from_array(arr, name)


def op_model(name, nodes, inputs, outputs, inits=(), opset=11):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 15 else 9
    # No onnx.checker: outputs carry no shape, which it rejects; onnxruntime validates.
    rel = os.path.join("fixtures", "nn", "ops", name + ".onnx")
    data = m.SerializeToString()
    with open(os.path.join(ROOT, rel), "wb") as f:
        f.write(data)
    return rel, data


def op_case(name, nodes, in_specs, n_out=1, inits=(), opset=11, tol="rel:1e-4", seed=0):
    """in_specs: list of (name, shape[, (lo, hi)])."""
    ins = [f32(s[0], list(s[1])) for s in in_specs]
    outs = [helper.make_tensor_value_info(f"y{i}" if n_out > 1 else "y", TensorProto.FLOAT, None) for i in range(n_out)]
    rel, data = op_model(name, nodes, ins, outs, inits, opset)
    feeds = {}
    for i, s in enumerate(in_specs):
        lo, hi = s[2] if len(s) > 2 else (-1.0, 1.0)
        feeds[s[0]] = rand_input(s[1], seed * 100 + i, lo, hi)
    add_case(name, rel, data, feeds, tol)


def W(shape, seed, scale=0.5):
    return (rng(1000 + seed).standard_normal(shape) * scale).astype(np.float32)


def make_op_cases():
    N = helper.make_node
    # Conv variants
    conv_variants = [
        ("conv_3x3_s1_p1", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 4, 8, 1),
        ("conv_3x3_s2_p1_bias", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), 3, 6, 1),
        ("conv_1x1", dict(kernel_shape=[1, 1]), 8, 5, 1),
        ("conv_1x1_s2", dict(kernel_shape=[1, 1], strides=[2, 2]), 8, 5, 1),
        ("conv_dw_3x3_s1", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=6), 6, 6, 6),
        ("conv_dw_3x3_s2", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=6), 6, 6, 6),
        ("conv_dw_5x5_s2_1", dict(kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[2, 1], group=4), 4, 4, 4),
        ("conv_group2", dict(kernel_shape=[3, 3], pads=[1, 0, 1, 0], group=2), 4, 6, 2),
        ("conv_dilated_asym", dict(kernel_shape=[3, 2], pads=[2, 1, 0, 0], dilations=[2, 1], strides=[1, 2]), 3, 4, 1),
        ("conv_same_upper_2x2", dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER"), 3, 4, 1),
        ("conv_1x7_pad", dict(kernel_shape=[1, 7], pads=[0, 3, 0, 3]), 3, 4, 1),
        ("conv_dw_7x7_s2", dict(kernel_shape=[7, 7], pads=[3, 3, 3, 3], strides=[2, 2], group=4), 4, 4, 4),
        ("conv_dw_5x5_s2_asym", dict(kernel_shape=[5, 5], pads=[2, 1, 1, 2], strides=[2, 2], group=3), 3, 3, 3),
        ("conv_dw_3x3_s2_nopad", dict(kernel_shape=[3, 3], strides=[2, 2], group=5), 5, 5, 5),
        ("conv_dw_1x7_s12", dict(kernel_shape=[1, 7], pads=[0, 3, 0, 3], strides=[1, 2], group=2), 2, 2, 2),
        ("conv_dw_3x3_dil2", dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2], dilations=[2, 2], group=3), 3, 3, 3),
    ]
    for i, (name, attrs, cin, cout, g) in enumerate(conv_variants):
        kh, kw = attrs["kernel_shape"]
        w = W([cout, cin // g, kh, kw], i)
        inits = [const("w", w)]
        ins = ["x", "w"]
        if "bias" in name or i % 2 == 1:
            inits.append(const("b", W([cout], 50 + i)))
            ins.append("b")
        op_case(name, [N("Conv", ins, ["y"], **attrs)], [("x", [2, cin, 9, 11])], inits=inits, seed=i)
    op_case("convtranspose_2x2_s2", [N("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
            [("x", [1, 4, 5, 6])], inits=[const("w", W([4, 3, 2, 2], 20)), const("b", W([3], 21))])
    op_case("convtranspose_3x3_pad", [N("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
            [("x", [2, 2, 4, 5])], inits=[const("w", W([2, 3, 3, 3], 22))])
    op_case("batchnorm", [N("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], epsilon=1e-5)], [("x", [2, 3, 4, 5])],
            inits=[const("g", W([3], 30)), const("b", W([3], 31)), const("m", W([3], 32)), const("v", np.abs(W([3], 33)) + 0.1)])
    # Unary
    op_case("relu", [N("Relu", ["x"], ["y"])], [("x", [2, 3, 4, 5])])
    op_case("sigmoid", [N("Sigmoid", ["x"], ["y"])], [("x", [2, 3, 4, 5], (-8, 8))])
    op_case("hardsigmoid", [N("HardSigmoid", ["x"], ["y"], alpha=0.1666667, beta=0.5)], [("x", [2, 3, 4, 5], (-5, 5))])
    op_case("clip_inputs", [N("Clip", ["x", "lo", "hi"], ["y"])], [("x", [2, 3, 4, 5], (-8, 8))],
            inits=[const("lo", np.array(0.0, np.float32)), const("hi", np.array(6.0, np.float32))])
    op_case("erf", [N("Erf", ["x"], ["y"])], [("x", [2, 3, 4, 5], (-3, 3))])
    op_case("sqrt", [N("Sqrt", ["x"], ["y"])], [("x", [2, 3, 4, 5], (0, 4))])
    # Binary with broadcasting
    for op in ["Add", "Sub", "Mul", "Div"]:
        op_case(f"{op.lower()}_bcast", [N(op, ["a", "b"], ["y"])],
                [("a", [2, 3, 4, 5]), ("b", [3, 1, 1], (0.5, 2.0))])
    op_case("add_bcast_both", [N("Add", ["a", "b"], ["y"])], [("a", [2, 1, 5]), ("b", [3, 1])])
    op_case("mul_scalar_const", [N("Mul", ["c", "a"], ["y"])], [("a", [2, 3, 4])], inits=[const("c", np.array([1.5], np.float32))])
    op_case("pow_2", [N("Pow", ["a", "p"], ["y"])], [("a", [2, 3, 4])], inits=[const("p", np.array(2.0, np.float32))])
    op_case("pow_tensor", [N("Pow", ["a", "b"], ["y"])], [("a", [2, 3, 4], (0.1, 2)), ("b", [4], (-2, 2))])
    # Pooling
    op_case("globalavgpool", [N("GlobalAveragePool", ["x"], ["y"])], [("x", [2, 3, 7, 9])])
    op_case("avgpool_3x2", [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], strides=[3, 2])], [("x", [2, 3, 9, 10])])
    op_case("avgpool_pad_excl", [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)],
            [("x", [1, 2, 7, 8])])
    op_case("avgpool_pad_incl", [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)],
            [("x", [1, 2, 7, 8])])
    op_case("maxpool_2x2_s2", [N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], [("x", [2, 3, 8, 9])])
    op_case("maxpool_same_upper", [N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_UPPER")],
            [("x", [1, 3, 6, 7])])
    op_case("maxpool_3x3_ceil", [N("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)],
            [("x", [1, 2, 8, 9])])
    # Resize
    op_case("resize_nearest_asym_floor", [N("Resize", ["x", "roi", "s"], ["y"], mode="nearest",
                                            coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
            [("x", [1, 2, 4, 5])], inits=[const("roi", np.array([], np.float32)), const("s", np.array([1, 1, 2, 2], np.float32))])
    op_case("resize_nearest_x4", [N("Resize", ["x", "roi", "s"], ["y"], mode="nearest",
                                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
            [("x", [1, 2, 3, 4])], inits=[const("roi", np.array([], np.float32)), const("s", np.array([1, 1, 4, 4], np.float32))])
    op_case("resize_linear_half_pixel", [N("Resize", ["x", "roi", "s"], ["y"], mode="linear")],
            [("x", [1, 2, 4, 5])], inits=[const("roi", np.array([], np.float32)), const("s", np.array([1, 1, 2, 1.5], np.float32))])
    op_case("resize_sizes_nearest", [N("Resize", ["x", "roi", "s", "sz"], ["y"], mode="nearest")],
            [("x", [1, 2, 4, 5])], inits=[const("roi", np.array([], np.float32)), const("s", np.array([], np.float32)),
                                          const("sz", np.array([1, 2, 7, 3], np.int64))])
    # Shape ops
    op_case("concat_axis1", [N("Concat", ["a", "b", "c"], ["y"], axis=1)], [("a", [2, 1, 3]), ("b", [2, 4, 3]), ("c", [2, 2, 3])])
    op_case("reshape_0_m1", [N("Reshape", ["x", "s"], ["y"])], [("x", [2, 3, 4, 5])], inits=[const("s", np.array([0, -1, 5], np.int64))])
    op_case("transpose_5d", [N("Transpose", ["x"], ["y"], perm=[2, 0, 3, 1, 4])], [("x", [2, 5, 3, 4, 6])])
    op_case("transpose_0132", [N("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])], [("x", [2, 3, 4, 5])])
    op_case("squeeze_unsqueeze", [N("Squeeze", ["x"], ["t"], axes=[0, 2]), N("Unsqueeze", ["t"], ["y"], axes=[1, 3])],
            [("x", [1, 3, 1, 5])])
    op_case("slice_steps", [N("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [("x", [4, 10, 6])],
            inits=[const("st", np.array([1, -1, 0], np.int64)), const("en", np.array([4, -100, 1000], np.int64)),
                   const("ax", np.array([0, 1, 2], np.int64)), const("sp", np.array([2, -3, 2], np.int64))])
    # A dynamic-shape chain like the rec models': Shape -> Cast -> Slice -> Concat -> Reshape.
    op_case("shape_chain_reshape", [
        N("Shape", ["x"], ["s"]),
        N("Cast", ["s"], ["s32"], to=TensorProto.INT32),
        N("Slice", ["s32", "z", "two", "z"], ["hw"]),
        N("Cast", ["hw"], ["hw64"], to=TensorProto.INT64),
        N("Concat", ["hw64", "m1"], ["shape"], axis=0),
        N("Reshape", ["x", "shape"], ["y"]),
    ], [("x", [2, 3, 4, 5])], inits=[const("z", np.array([0], np.int64)), const("two", np.array([2], np.int64)),
                                     const("m1", np.array([-1], np.int64))])
    op_case("shape_out_cast", [N("Shape", ["x"], ["s"]), N("Cast", ["s"], ["y"], to=TensorProto.FLOAT)], [("x", [2, 3, 4])])
    op_case("identity", [N("Identity", ["x"], ["t"]), N("Relu", ["t"], ["y"])], [("x", [2, 3])])
    op_case("reducemean_last", [N("ReduceMean", ["x"], ["y"], axes=[-1])], [("x", [2, 3, 7])])
    op_case("reducemean_hw", [N("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)], [("x", [2, 3, 4, 5])])
    op_case("reducemean_0_2_nokeep", [N("ReduceMean", ["x"], ["y"], axes=[0, 2], keepdims=0)], [("x", [2, 3, 4, 5])])
    op_case("matmul_const_b", [N("MatMul", ["a", "w"], ["y"])], [("a", [2, 7, 12])], inits=[const("w", W([12, 9], 40))])
    op_case("matmul_batched_bcast", [N("MatMul", ["a", "b"], ["y"])], [("a", [2, 3, 5, 4]), ("b", [3, 4, 6])])
    op_case("matmul_1d", [N("MatMul", ["a", "b"], ["y"])], [("a", [4]), ("b", [2, 4, 3])])
    op_case("softmax_legacy_axis1", [N("Softmax", ["x"], ["y"], axis=1)], [("x", [2, 3, 4], (-5, 5))])
    op_case("softmax_last_axis", [N("Softmax", ["x"], ["y"], axis=3)], [("x", [2, 2, 3, 7], (-5, 5))])
    op_case("softmax13_mid_axis", [N("Softmax", ["x"], ["y"], axis=1)], [("x", [2, 3, 4], (-5, 5))], opset=13)
    op_case("cast_float_int_float", [N("Cast", ["x"], ["i"], to=TensorProto.INT64), N("Cast", ["i"], ["y"], to=TensorProto.FLOAT)],
            [("x", [2, 5], (-4, 4))])
    # Fusion patterns (fused kernel vs onnxruntime's unfused reference).
    op_case("pattern_layernorm", [
        N("ReduceMean", ["x"], ["m"], axes=[-1]), N("Sub", ["x", "m"], ["d"]), N("Pow", ["d", "two"], ["d2"]),
        N("ReduceMean", ["d2"], ["v"], axes=[-1]), N("Add", ["v", "eps"], ["ve"]), N("Sqrt", ["ve"], ["s"]),
        N("Div", ["d", "s"], ["n"]), N("Mul", ["n", "g"], ["ng"]), N("Add", ["ng", "b"], ["y"]),
    ], [("x", [2, 5, 16])], inits=[const("two", np.array(2.0, np.float32)), const("eps", np.array(1e-6, np.float32)),
                                   const("g", W([16], 60)), const("b", W([16], 61))])
    op_case("pattern_gelu", [
        N("Div", ["x", "r2"], ["a"]), N("Erf", ["a"], ["e"]), N("Add", ["e", "one"], ["p"]),
        N("Mul", ["x", "p"], ["q"]), N("Mul", ["q", "half"], ["y"]),
    ], [("x", [2, 3, 4, 5], (-4, 4))], inits=[const("r2", np.array(1.4142135381698608, np.float32)),
                                               const("one", np.array(1.0, np.float32)), const("half", np.array(0.5, np.float32))])
    op_case("pattern_conv_bn_hardswish", [
        N("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        N("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], epsilon=1e-5),
        N("Add", ["n", "three"], ["a"]), N("Clip", ["a", "zero", "six"], ["cl"]),
        N("Mul", ["n", "cl"], ["p"]), N("Div", ["p", "six"], ["y"]),
    ], [("x", [1, 3, 8, 9])], inits=[const("w", W([6, 3, 3, 3], 70)), const("g", W([6], 71)), const("b", W([6], 72)),
                                     const("m", W([6], 73)), const("v", np.abs(W([6], 74)) + 0.1),
                                     const("three", np.array(3.0, np.float32)), const("zero", np.array(0.0, np.float32)),
                                     const("six", np.array(6.0, np.float32))])
    op_case("pattern_conv_affine_hsig_swish", [
        N("Conv", ["x", "w", "cb"], ["c"], kernel_shape=[1, 1]),
        N("Mul", ["s", "c"], ["c1"]), N("Add", ["c1", "t"], ["c2"]),
        N("HardSigmoid", ["c2"], ["h"], alpha=0.1666667, beta=0.5), N("Mul", ["c2", "h"], ["hs"]),
        N("Mul", ["hs", "one"], ["m1"]), N("Sigmoid", ["m1"], ["sg"]), N("Mul", ["hs", "sg"], ["y"]),
    ], [("x", [1, 4, 5, 6])], inits=[const("w", W([5, 4, 1, 1], 80)), const("cb", W([5], 81)),
                                     const("s", np.array([0.9], np.float32)), const("t", np.array([0.1], np.float32)),
                                     const("one", np.array([1.0], np.float32))])
    op_case("pattern_conv_chanbias_relu", [
        N("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
        N("Add", ["c", "cb"], ["a"]), N("Relu", ["a"], ["y"]),
    ], [("x", [1, 4, 5, 6])], inits=[const("w", W([4, 1, 3, 3], 90)), const("cb", W([1, 4, 1, 1], 91))])
    op_case("pattern_matmul_bias_residual", [
        N("MatMul", ["x", "w"], ["m"]), N("Add", ["m", "b"], ["a"]), N("Add", ["x", "a"], ["y"]),
    ], [("x", [2, 5, 8])], inits=[const("w", W([8, 8], 95)), const("b", W([8], 96))])


def make_error_models():
    """Models that must fail to load, for the error tests (no reference data)."""
    N = helper.make_node
    os.makedirs(os.path.join(OUT, "errors"))
    cases = {
        "unsupported_op": helper.make_graph(
            [N("Relu", ["x"], ["r"], name="first_relu"), N("Gather", ["r", "idx"], ["y"], name="my_gather", axis=0)],
            "g", [f32("x", [2, 3])], [f32("y", None)], initializer=[const("idx", np.array([0], np.int64))]),
        "undefined_input": helper.make_graph(
            [N("Add", ["x", "nowhere"], ["y"], name="bad_add")], "g", [f32("x", [2, 3])], [f32("y", None)]),
    }
    for name, g in cases.items():
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
        m.ir_version = 8
        with open(os.path.join(OUT, "errors", name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


# ---------------------------------------------------------------------------
# Whole models

MODELS = [
    # (case prefix, file, [input shapes])
    # 32×480: the 1/4-scale maps are 120 wide, where the 3×3 convs take F(4×4, 3×3).
    ("v4_det", "ch_PP-OCRv4_det_infer.onnx", [(1, 3, 64, 96), (1, 3, 160, 224), (1, 3, 32, 480)]),
    ("v6_det", "PP-OCRv6_det_small.onnx", [(1, 3, 64, 96), (1, 3, 160, 224), (1, 3, 32, 480)]),
    ("v4_rec", "ch_PP-OCRv4_rec_infer.onnx", [(1, 3, 48, 96), (2, 3, 48, 160)]),
    ("v6_rec", "PP-OCRv6_rec_small.onnx", [(1, 3, 48, 96), (2, 3, 48, 160)]),
    ("cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", [(2, 3, 48, 192)]),
]


def make_model_cases():
    for prefix, fname, shapes in MODELS:
        rel = os.path.join("models", fname)
        with open(os.path.join(ROOT, rel), "rb") as f:
            data = f.read()
        for shape in shapes:
            name = f"{prefix}_{'x'.join(str(d) for d in shape)}"
            # Same seed per shape: v4 and v6 share nothing but it keeps inputs reproducible.
            seed = 7 + sum(shape)
            add_case(name, rel, data, {"x": rand_input(shape, seed)}, tol="abs:1e-4")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "ops"))
    os.makedirs(os.path.join(OUT, "data"))
    make_op_cases()
    make_error_models()
    make_model_cases()
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("# Generated by tools/make_nn_fixtures.py; do not edit.\n")
        f.write("\n".join(manifest) + "\n")
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(OUT) for x in fs)
    print(f"wrote {sum(1 for l in manifest if l.startswith('case'))} cases, {total / 1e6:.2f} MB total", file=sys.stderr)


if __name__ == "__main__":
    main()
