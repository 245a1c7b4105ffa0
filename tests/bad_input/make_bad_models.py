#!/usr/bin/python3
"""Writes the small, deliberately broken ONNX models the bad-input test feeds to vmaskc.

Run with Debian's /usr/bin/python3 (python3-onnx): the outputs are committed, so the test suite
needs no Python. Each model is the smallest graph that shows one kind of bad input.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, nodes, inputs, outputs, inits=(), opset=13, check=True):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="vmaskc-tests")
    m.ir_version = 7
    if check:
        onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))


ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])
rng = np.random.default_rng(7)
emb = numpy_helper.from_array(rng.standard_normal((20, 4)).astype(np.float32), "emb.weight")
w = numpy_helper.from_array(rng.standard_normal((2, 4)).astype(np.float32), "fc.weight")
b = numpy_helper.from_array(rng.standard_normal((2,)).astype(np.float32), "fc.bias")
axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")

# A valid tiny classifier: embedding -> mean over tokens -> linear. The data tests use it.
good = [
    helper.make_node("Gather", ["emb.weight", "input_ids"], ["e"], name="embed"),
    helper.make_node("ReduceMean", ["e"], ["m"], name="pool", axes=[1], keepdims=0),
    helper.make_node("Gemm", ["m", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
]
save("good", good, [ids], [logits], [emb, w, b])

# Two unsupported ops: both must be named in one message.
save("unsupported_ops", [
    helper.make_node("Gather", ["emb.weight", "input_ids"], ["e"], name="embed"),
    helper.make_node("TopK", ["e", "k"], ["v", "i"], name="topk", axis=1),
    helper.make_node("Hardmax", ["v"], ["h"], name="hardmax", axis=-1),
    helper.make_node("ReduceMean", ["h"], ["m"], name="pool", axes=[1], keepdims=0),
    helper.make_node("Gemm", ["m", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
], [ids], [logits], [emb, w, b, numpy_helper.from_array(np.array([2], dtype=np.int64), "k")])

# fc.weight is referenced but never defined.
save("missing_initializer", good, [ids], [logits], [emb, b], check=False)

# Linear layer of the wrong width: 4-d features into a 3-d weight.
w3 = numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np.float32), "fc.weight")
save("inconsistent_shapes", good, [ids], [logits], [emb, w3, b], check=False)

# A convolution whose kernel is longer than the (fixed) sequence.
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
cw = numpy_helper.from_array(rng.standard_normal((3, 4, 7)).astype(np.float32), "conv.weight")
save("conv_kernel_too_long", [helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="/convs.0/Conv", kernel_shape=[7])],
     [x], [y], [cw], check=False)

# An attribute vmaskc does not know must not be ignored silently.
save("unknown_attribute", [helper.make_node("Relu", ["x"], ["y"], name="relu", mystery=3)], [x], [y], check=False)

# Malformed nodes that once crashed vmaskc (issue 10): each must be a clear error naming the node.
# A Constant whose one attribute has no name.
const = helper.make_node("Constant", [], ["c"], name="const")
attr = onnx.AttributeProto()
attr.type = onnx.AttributeProto.TENSOR
attr.t.CopyFrom(numpy_helper.from_array(np.array([1], dtype=np.int64)))
const.attribute.append(attr)
save("constant_unnamed_attr", [const, helper.make_node("Unsqueeze", ["x", "c"], ["y"], name="unsq")], [x], [y], check=False)
# Squeeze whose data input is named "" (omitted), with the axes input present.
save("squeeze_empty_input", [helper.make_node("Squeeze", ["", "axes"], ["y"], name="squeeze")], [x], [y], [axes], check=False)
# LSTM whose W is named "".
lx = helper.make_tensor_value_info("lx", TensorProto.FLOAT, [5, 1, 4])
lr = numpy_helper.from_array(rng.standard_normal((1, 12, 3)).astype(np.float32), "lstm.R")
save("lstm_empty_w", [helper.make_node("LSTM", ["lx", "", "lstm.R"], ["ly"], name="lstm", hidden_size=3)],
     [lx], [helper.make_tensor_value_info("ly", TensorProto.FLOAT, None)], [lr], check=False)
# An LSTM exported from pack_padded_sequence: texts sorted by length (TopK), unsorted with
# ScatterElements, the LSTM given a per-text sequence_lens. The message must say what to change.
lw = numpy_helper.from_array(rng.standard_normal((1, 12, 4)).astype(np.float32), "lstm.W")
zero = numpy_helper.from_array(np.array(0, dtype=np.int64), "zero")
save("lstm_packed", [
    helper.make_node("Gather", ["emb.weight", "input_ids"], ["e"], name="embed"),
    helper.make_node("Transpose", ["e"], ["x"], name="time_major", perm=[1, 0, 2]),
    helper.make_node("Equal", ["input_ids", "zero"], ["is_pad"], name="is_pad"),
    helper.make_node("Not", ["is_pad"], ["real"], name="real"),
    helper.make_node("Cast", ["real"], ["real64"], name="real64", to=TensorProto.INT64),
    helper.make_node("ReduceSum", ["real64", "axes"], ["lengths"], name="lengths", keepdims=0),
    helper.make_node("Shape", ["lengths"], ["k"], name="k"),
    helper.make_node("TopK", ["lengths", "k"], ["sorted", "order"], name="sort_by_length"),
    helper.make_node("ScatterElements", ["order", "order", "order"], ["unsort"], name="unsort", axis=0),
    helper.make_node("Cast", ["sorted"], ["seq_lens"], name="seq_lens", to=TensorProto.INT32),
    helper.make_node("LSTM", ["x", "lstm.W", "lstm.R", "", "seq_lens"], ["ly", "lh"], name="lstm", hidden_size=3),
    helper.make_node("Gather", ["lh", "unsort"], ["h"], name="unsorted", axis=1),
    helper.make_node("ReduceMean", ["h"], ["m"], name="last", axes=[0], keepdims=0),
    helper.make_node("Gemm", ["m", "fc3.weight", "fc.bias"], ["logits"], name="fc", transB=1),
], [ids], [logits], [emb, lw, lr, zero, axes, numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np.float32), "fc3.weight"), b])
# Cast without its required `to`; Transpose whose perm is a float, not a list of ints.
save("cast_without_to", [helper.make_node("Cast", ["x"], ["y"], name="cast")], [x], [y], check=False)
save("transpose_float_perm", [helper.make_node("Transpose", ["x"], ["y"], name="transpose", perm=1.5)], [x], [y], check=False)
# A tiny file whose ConstantOfShape asks for 4 GiB, and an Expand to 2^40 elements.
big = numpy_helper.from_array(np.array([1 << 30], dtype=np.int64), "big_shape")
save("constant_of_shape_4gib", [
    helper.make_node("ConstantOfShape", ["big_shape"], ["z"], name="huge", value=numpy_helper.from_array(np.array([1.0], dtype=np.float32))),
    helper.make_node("ReduceSum", ["z"], ["s"], name="sum", keepdims=0),
    helper.make_node("Add", ["x", "s"], ["y"], name="add"),
], [x], [y], [big], check=False)
one = numpy_helper.from_array(np.ones((1, 1, 1, 1, 1), dtype=np.float32), "one")
shp = numpy_helper.from_array(np.array([1 << 20, 1 << 10], dtype=np.int64), "more_dims")
bx = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4, 5])
save("expand_huge", [
    helper.make_node("Shape", ["x"], ["xs"], name="shape"),
    helper.make_node("Concat", ["xs", "more_dims"], ["expand_shape"], name="concat", axis=0),
    helper.make_node("Expand", ["one", "expand_shape"], ["z"], name="expand"),
    helper.make_node("ReduceSum", ["z"], ["s"], name="sum", keepdims=0),
    helper.make_node("Add", ["x", "s"], ["y"], name="add"),
], [bx], [y], [one, shp], check=False)

# Test data for `good`: valid, wrong dtype, wrong rank, wrong size.
def tensor_file(path, t):
    with open(path, "wb") as f:
        f.write(t.SerializeToString())

for name, arr in {
    "data_ok": np.array([[1, 2, 3], [4, 5, 0]], dtype=np.int64),
    "data_wrong_dtype": np.array([[1, 2, 3], [4, 5, 0]], dtype=np.float32),
    "data_wrong_rank": np.array([1, 2, 3], dtype=np.int64),
    "data_out_of_vocab": np.array([[1, 2, 3], [4, 500, 0]], dtype=np.int64),
    "data_x": np.zeros((1, 4, 5), dtype=np.float32),
    "data_empty_text": np.zeros((2, 0), dtype=np.int64),
}.items():
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    tensor_file(os.path.join(HERE, name, "input_0.pb"), numpy_helper.from_array(arr))

# A .pb whose raw_data is shorter than its shape says.
os.makedirs(os.path.join(HERE, "data_wrong_size"), exist_ok=True)
t = numpy_helper.from_array(np.array([[1, 2, 3], [4, 5, 0]], dtype=np.int64))
t.raw_data = t.raw_data[:-8]
tensor_file(os.path.join(HERE, "data_wrong_size", "input_0.pb"), t)
print("wrote bad-input fixtures to", HERE)
