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

# Test data for `good`: valid, wrong dtype, wrong rank, wrong size.
def tensor_file(path, t):
    with open(path, "wb") as f:
        f.write(t.SerializeToString())

for name, arr in {
    "data_ok": np.array([[1, 2, 3], [4, 5, 0]], dtype=np.int64),
    "data_wrong_dtype": np.array([[1, 2, 3], [4, 5, 0]], dtype=np.float32),
    "data_wrong_rank": np.array([1, 2, 3], dtype=np.int64),
    "data_out_of_vocab": np.array([[1, 2, 3], [4, 500, 0]], dtype=np.int64),
}.items():
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    tensor_file(os.path.join(HERE, name, "input_0.pb"), numpy_helper.from_array(arr))

# A .pb whose raw_data is shorter than its shape says.
os.makedirs(os.path.join(HERE, "data_wrong_size"), exist_ok=True)
t = numpy_helper.from_array(np.array([[1, 2, 3], [4, 5, 0]], dtype=np.int64))
t.raw_data = t.raw_data[:-8]
tensor_file(os.path.join(HERE, "data_wrong_size", "input_0.pb"), t)
print("wrote bad-input fixtures to", HERE)
