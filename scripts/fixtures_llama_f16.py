"""A q4f16-style variant of the tiny Llama: the I/O layout of onnx-community's `onnx/model_q4f16.onnx` exports.

Those exports take `past_key_values.*` and return `logits` and `present.*` as float16 (transformers.js reads the KV
dtype from the session's input metadata). torch 1.13 cannot export fp16 on CPU, and onnxruntime's wasm backend and a
WebGPU adapter without `shader-f16` run few fp16 kernels, so this fixture keeps the arithmetic in float32 and makes
the boundary float16, which is what our decoder sees of a real q4f16 export:

  public/models/hearth-tiny-llama/model_q4f16.onnx
      model_q4.onnx (4-bit MatMulNBits linear layers) with
        past_key_values.{i}.key|value  float16 inputs  -> Cast(float) into the graph
        logits, present.{i}.key|value  float16 outputs <- Cast(float16) out of the graph
        model.embed_tokens.weight      stored float16 (half the file), Cast to float at load (real q4f16 exports
                                       keep the embedding in fp16 too)

  tests/fixtures/llm/reference-q4f16.json   torch references: the same model with the embedding rounded to fp16,
                                            the KV cache rounded to fp16 between steps and logits rounded to fp16.

Run after scripts/fixtures_llama.py (scripts/make_fixtures.py does): /usr/bin/python3 scripts/fixtures_llama_f16.py
Checks made here: onnx.checker; the graph (numpy interpreter) == the torch reference (greedy tokens, logits within
fp16 rounding). Each prompt's greedy reference stops before the first step whose top-1/top-2 gap is under 2 fp16
ulps (bos: 4 tokens, chat: 7; text and ids20 keep all 24), so an fp32 difference of 1e-5 before the rounding cannot
flip a reference token.
"""

import math
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_llama as base  # noqa: E402

OUT_FILE = "model_q4f16.onnx"
REF_FILE = "reference-q4f16.json"
EMB = "model.embed_tokens.weight"
KV_INPUTS = base.INPUT_NAMES[3:]
F16_OUTPUTS = base.OUTPUT_NAMES


def rebuild_models():
    """The fp32 torch model of fixtures_llama (same seed) and its q4-dequantised twin with an fp16-rounded embedding."""
    torch.manual_seed(base.SEED)
    model = base.TinyLlamaForCausalLM(base.CFG).eval()
    base.init_weights(model, base.SEED)
    qmodel = base.TinyLlamaForCausalLM(base.CFG).eval()
    qmodel.load_state_dict(model.state_dict())
    packed = {}
    with torch.no_grad():
        for name, m in base.linear_weights(qmodel).items():
            p, s, deq = base.quantize_q4(m.weight.detach().numpy(), base.Q4_BLOCK)
            packed[name] = (p, s)
            m.weight.copy_(torch.from_numpy(deq))
        qmodel.model.embed_tokens.weight.copy_(qmodel.model.embed_tokens.weight.half().float())
    return qmodel, packed


def make_f16_io(q4, packed):
    """model_q4.onnx -> float16 KV / logits at the boundary, fp16 embedding storage."""
    om = onnx.ModelProto()
    om.CopyFrom(q4)
    inits = {t.name: t for t in om.graph.initializer}
    for name, (p, s) in packed.items():  # the q4 file on disk is the one this seed makes
        assert np.array_equal(numpy_helper.to_array(inits[name + ".weight_Q4"]), p), name
        assert np.array_equal(numpy_helper.to_array(inits[name + ".weight_scales"]), s), name
    emb = numpy_helper.to_array(inits[EMB])
    keep = [t for t in om.graph.initializer if t.name != EMB]
    keep.append(numpy_helper.from_array(emb.astype(np.float16), EMB + "_fp16"))
    del om.graph.initializer[:]
    om.graph.initializer.extend(keep)
    head = [helper.make_node("Cast", [EMB + "_fp16"], [EMB], name="/embed_tokens/Cast_fp16", to=TensorProto.FLOAT)]
    for inp in om.graph.input:
        if inp.name in KV_INPUTS:
            inp.type.tensor_type.elem_type = TensorProto.FLOAT16
    rename_in = {n: n + "_fp32" for n in KV_INPUTS}
    rename_out = {n: n + "_fp32" for n in F16_OUTPUTS}
    nodes = list(om.graph.node)
    for n in nodes:
        for k, x in enumerate(n.input):
            if x in rename_in:
                n.input[k] = rename_in[x]
            elif x in rename_out:
                n.input[k] = rename_out[x]
        for k, x in enumerate(n.output):
            if x in rename_out:
                n.output[k] = rename_out[x]
    head += [helper.make_node("Cast", [x], [rename_in[x]], name=f"/{x}/Cast_in", to=TensorProto.FLOAT) for x in KV_INPUTS]
    tail = [helper.make_node("Cast", [rename_out[x]], [x], name=f"/{x}/Cast_out", to=TensorProto.FLOAT16)
            for x in F16_OUTPUTS]
    for out in om.graph.output:
        out.type.tensor_type.elem_type = TensorProto.FLOAT16
    del om.graph.node[:]
    om.graph.node.extend(head + nodes + tail)
    om.producer_name = "hearth/scripts/fixtures_llama_f16.py (q4, float16 I/O)"
    return om


def fp16_ulp(x):
    return float(np.spacing(np.float16(abs(x))))


def torch_greedy_f16(model, prompt, n_new):
    """Greedy decoding as the fp16-boundary graph computes it: KV rounded to fp16 between steps, logits in fp16."""
    c = base.CFG
    ids = torch.tensor([prompt], dtype=torch.int64)
    mask = torch.ones_like(ids)
    pos = base.positions(mask)
    past = [torch.zeros(1, c["num_key_value_heads"], 0, c["head_dim"]) for _ in KV_INPUTS]
    toks, steps = [], []
    with torch.no_grad():
        for _ in range(n_new):
            logits, *present = model(ids, mask, pos, *past)
            last = logits[0, -1].half().float()
            steps.append(last)
            toks.append(int(last.argmax()))
            past = [p.half().float() for p in present]
            ids = torch.tensor([[toks[-1]]], dtype=torch.int64)
            pos = pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones(1, 1, dtype=torch.int64)], dim=1)
    return toks, steps


def graph_greedy_f16(om, prompt, n_new):
    c = base.CFG
    ids = np.array([prompt], np.int64)
    mask = np.ones_like(ids)
    past = {n: np.zeros((1, c["num_key_value_heads"], 0, c["head_dim"]), np.float16) for n in KV_INPUTS}
    pos = np.arange(len(prompt), dtype=np.int64)[None]
    toks, steps = [], []
    for _ in range(n_new):
        out = base.numpy_run(om, {"input_ids": ids, "attention_mask": mask, "position_ids": pos, **past})
        assert all(out[n].dtype == np.float16 for n in F16_OUTPUTS)
        last = out["logits"][0, -1].astype(np.float32)
        steps.append(last)
        toks.append(int(last.argmax()))
        past = {n: out[n.replace("past_key_values", "present")] for n in KV_INPUTS}
        ids = np.array([[toks[-1]]], np.int64)
        pos = pos[:, -1:] + 1
        mask = np.concatenate([mask, np.ones((1, 1), np.int64)], axis=1)
    return toks, steps


def build():
    t0 = time.time()
    qmodel, packed = rebuild_models()
    q4 = onnx.load(os.path.join(base.MODEL_DIR, "model_q4.onnx"))
    om = make_f16_io(q4, packed)
    path = os.path.join(base.MODEL_DIR, OUT_FILE)
    onnx.save(om, path)
    om = onnx.load(path)
    onnx.checker.check_model(om, full_check=True)
    greedy, first, min_gap_ulps, err = [], [], math.inf, 0.0
    for p in base.PROMPTS:
        toks, steps = torch_greedy_f16(qmodel, p["input_ids"], base.MAX_NEW_TOKENS)
        # keep the steps before the first near-tie (top-1/top-2 within 1 fp16 ulp): there an fp32 difference of
        # 1e-6 before the rounding could tie or flip the argmax, so no implementation could be held to it
        for n, st in enumerate(steps):
            v = torch.topk(st, 2).values
            gap = float(v[0] - v[1]) / fp16_ulp(float(v[0]))
            if gap < 2:
                toks, steps = toks[:n], steps[:n]
                break
            min_gap_ulps = min(min_gap_ulps, gap)
        assert len(toks) >= 4, (p["name"], len(toks))
        top10 = base.topk(steps[0], 10)
        logprobs = [base.r7(torch.log_softmax(st.double(), -1)[t]) for st, t in zip(steps, toks)]
        greedy.append({"prompt": p["name"], "new_tokens": toks})
        first.append({"prompt": p["name"], "top10": top10, "greedy_logprobs": logprobs})
        n_check = min(8, len(toks)) if p["name"] in ("text", "chat") else 0
        if n_check:
            gtoks, gsteps = graph_greedy_f16(om, p["input_ids"], n_check)
            assert gtoks == toks[:n_check], (p["name"], gtoks, toks[:n_check])
            err = max(err, max(float(np.abs(a - b.numpy()).max()) for a, b in zip(gsteps, steps)))
        print(f"  q4f16 {p['name']:6s} -> {toks}")
    assert min_gap_ulps >= 2, f"a greedy step's top-1/top-2 gap is only {min_gap_ulps:.2f} fp16 ulps"
    assert err < 0.05, f"graph vs torch logits differ by {err}"
    ref = {
        "model_file": OUT_FILE,
        "io_dtype": {"past_key_values": "float16", "logits": "float16", "present": "float16"},
        "max_new_tokens": base.MAX_NEW_TOKENS,
        "min_greedy_gap_fp16_ulps": base.r7(min_gap_ulps),
        "greedy": greedy,
        "logits_first_step": first,
    }
    base.write_json(os.path.join(base.REF_DIR, REF_FILE), ref, compact=True)
    print(f"{OUT_FILE}: {os.path.getsize(path)} bytes, graph vs torch max |logit diff| {err:.1e}, "
          f"min greedy gap {min_gap_ulps:.1f} fp16 ulps ({time.time() - t0:.1f} s)")
    return ref


if __name__ == "__main__":
    build()
