"""fp16 and q4f16 variants of stories260K (a real trained Llama) in the layout of onnx-community's fp16 / q4f16
exports, for Hearth's WGSL decoder, which reads float16 weights and float16 MatMulNBits scales as the file stores them.

    /usr/bin/python3 scripts/fixtures_stories_f16.py      # after scripts/import_llama2c.py (same sources)

transformers.js's conversion (scripts/quantize.py there) makes q4f16 by quantising the fp32 graph's MatMuls to
MatMulNBits (symmetric, float32 scales) and then converting every float tensor of the graph to float16; fp16 is the
second step alone. This script does the same to import_llama2c.py's graphs (a small float16 pass written here:
every float initializer and Constant becomes float16, values clamped to ±1e4 and away from 0 by 1e-7 as that
converter does, Casts to float become Casts to float16, and the float graph inputs and outputs become float16, as
onnx-community's exports declare `kv_cache_dtype: float16`), so the files hold what a real export holds: the
embedding, the norms and every matrix in float16 (the tied lm_head reads the fp16 embedding through a Transpose),
MatMulNBits with float16 scales and float16 activations. It writes, deterministically:

  public/models/hearth-stories260k/model_fp16.onnx     ~0.6 MB
  public/models/hearth-stories260k/model_q4f16.onnx    ~0.2 MB (block 32; K = 172 zero-padded to 6 blocks)
  tests/fixtures/stories260k/reference-f16.json        torch references (see below)

The references are what a decoder with float16 storage and float32 arithmetic must produce: the torch model in
float32 with every stored weight rounded to float16 (fp16), or with the 4-bit weights dequantised with float16-rounded
scales and the embedding and norms rounded to float16 (q4f16): greedy tokens, the smallest top-1/top-2 logit gap over
those steps (how far any float32 rounding difference is from flipping a token) and the first step's top-10 logits.
Checks made here: onnx.checker; the converted graphs, run in float16 arithmetic by the numpy interpreter of
fixtures_llama.py (as onnxruntime would run them), stay within fp16 rounding of the references (first-step logits, and
their greedy tokens are reported against torch's).
"""

import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_llama as fl  # noqa: E402
import import_llama2c as il  # noqa: E402

OUT_REF = os.path.join(il.REF_DIR, "reference-f16.json")
N_NEW = il.NEW_TOKENS
F16_MAX, F16_MIN_POSITIVE = 1e4, 1e-7


def to_f16_array(a):
    a = np.asarray(a, np.float32)
    a = np.where((a > 0) & (a < F16_MIN_POSITIVE), F16_MIN_POSITIVE, a)
    a = np.where((a < 0) & (a > -F16_MIN_POSITIVE), -F16_MIN_POSITIVE, a)
    return np.clip(a, -F16_MAX, F16_MAX).astype(np.float16)


def convert_float16(om_in, producer):
    """Every float tensor of the graph → float16 (initializers, Constants, ConstantOfShape values, Casts, I/O)."""
    om = onnx.ModelProto()
    om.CopyFrom(om_in)
    g = om.graph
    inits = []
    for t in g.initializer:
        inits.append(numpy_helper.from_array(to_f16_array(numpy_helper.to_array(t)), t.name) if t.data_type == TensorProto.FLOAT else t)
    del g.initializer[:]
    g.initializer.extend(inits)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(to_f16_array(numpy_helper.to_array(a.t)), a.t.name))
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    om.producer_name = producer
    return om


def f16_model(cfg, hp, w):
    """The fp32 torch model with every stored weight rounded to float16 (float32 arithmetic)."""
    model = il.torch_model(cfg, hp, w)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(to_f16_array(p.detach().numpy()).astype(np.float32)))
    return model


def q4f16_weights(q4_graph):
    """Dequantised [N, K] weights of the q4 graph's MatMulNBits with their scales rounded to float16."""
    inits = {t.name: numpy_helper.to_array(t) for t in q4_graph.graph.initializer}
    out = {}
    for n in q4_graph.graph.node:
        if n.op_type != "MatMulNBits":
            continue
        k, nn_, block = (fl._attr(n, x) for x in ("K", "N", "block_size"))
        packed, scales = inits[n.input[1]], to_f16_array(inits[n.input[2]]).astype(np.float32)
        nb = packed.shape[1]
        q = np.empty((nn_, nb, block), np.float32)
        q[..., 0::2] = packed & 0x0F
        q[..., 1::2] = packed >> 4
        out[n.input[1][: -len(".weight_Q4")]] = ((q - 8.0) * scales.reshape(nn_, nb, 1)).reshape(nn_, nb * block)[:, :k]
    return out


def f16_matmul_nbits(node, a, b, scales, zp=None):
    """MatMulNBits as onnxruntime runs it on float16 A and scales: the output in A's type."""
    return fl.np.asarray(ORIGINAL_NBITS(node, a.astype(np.float32), b, scales.astype(np.float32), zp)).astype(a.dtype)


ORIGINAL_NBITS = fl._matmul_nbits


def reference(model, cfg):
    toks, steps = il.torch_greedy(model, cfg, il.PROMPT_IDS, N_NEW)
    margin = min(float(torch.topk(s, 2).values[0] - torch.topk(s, 2).values[1]) for s in steps)
    return toks, steps, margin


def graph_check(om, cfg, steps, label):
    """Runs the float16 graph (fp16 arithmetic) and compares it with the float32-arithmetic reference."""
    g_toks, g_steps = il.graph_greedy(om, cfg, il.PROMPT_IDS, N_NEW)
    first = float(np.abs(g_steps[0].astype(np.float32) - steps[0].numpy()).max())
    scale = float(np.abs(steps[0].numpy()).max())
    if first > 0.02 * scale + 0.05:
        il.fail(f"{label}: the float16 graph's first-step logits differ from the reference by {first} (scale {scale})")
    return g_toks, first


def build():
    data = il.read_sources(il.DEFAULT_SRC)
    hp, w = il.read_checkpoint(data["stories260K.bin"])
    pieces, scores = il.read_tokenizer(data["tok512.bin"])
    cfg = il.hf_config(hp)
    fl._matmul_nbits = f16_matmul_nbits  # the interpreter runs fp16 MatMulNBits in A's type
    fp32 = onnx.load(os.path.join(il.MODEL_DIR, "model.onnx"))
    q4 = onnx.load(os.path.join(il.MODEL_DIR, "model_q4.onnx"))
    result = {"model_dir": f"public/models/{il.MODEL_NAME}", "prompt": il.PROMPT, "prompt_ids": il.PROMPT_IDS,
              "max_new_tokens": N_NEW,
              "compare": "greedy tokens exactly (torch float32 arithmetic over the float16-rounded weights: what a "
                         "decoder storing float16 and computing in float32 must give); first-step top-10 logits "
                         "within 1e-3; min_margin is the smallest top-1/top-2 gap over the greedy steps"}
    for variant, om_in, build_model in (
        ("fp16", fp32, lambda: f16_model(cfg, hp, w)),
        ("q4f16", q4, None),
    ):
        om = convert_float16(om_in, f"hearth/scripts/fixtures_stories_f16.py ({variant})")
        path = os.path.join(il.MODEL_DIR, f"model_{variant}.onnx")
        onnx.save(om, path)
        om = onnx.load(path)
        onnx.checker.check_model(om)
        if build_model:
            model = build_model()
        else:
            model = f16_model(cfg, hp, w)  # embedding and norms rounded to fp16
            deq = q4f16_weights(q4)
            with torch.no_grad():
                for name, m in fl.linear_weights(model).items():
                    m.weight.copy_(torch.from_numpy(np.ascontiguousarray(deq[name])))
        toks, steps, margin = reference(model, cfg)
        g_toks, first = graph_check(om, cfg, steps, variant)
        agree = next((i for i, (a, b) in enumerate(zip(toks, g_toks)) if a != b), len(toks))
        text = il.PROMPT + il.llama2c_decode(pieces, toks, prev=il.PROMPT_IDS[-1])
        kinds = sorted({t.data_type for t in om.graph.initializer})
        print(f"{variant}: {os.path.getsize(path)} bytes, initializer types {kinds}; greedy {toks}\n  text {text!r}\n"
              f"  min margin {margin:.4f}; fp16-arithmetic graph: first-step max |diff| {first:.4f}, greedy agrees "
              f"for {agree}/{len(toks)} tokens")
        result[variant] = {
            "model_file": f"model_{variant}.onnx", "new_tokens": toks, "text": text, "min_margin": il.r7(margin),
            "top10_first_step": [[int(i), il.r7(v)] for v, i in zip(*torch.topk(steps[0], 10))],
            "fp16_arithmetic_graph_agrees_for": agree,
        }
    il.write_json(OUT_REF, result)
    print(f"wrote {os.path.relpath(OUT_REF, il.ROOT)}")


if __name__ == "__main__":
    build()
