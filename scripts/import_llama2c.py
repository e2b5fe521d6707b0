"""Import a llama2.c checkpoint + tokenizer (Karpathy's stories260K) into the Hugging Face / onnx-community layout that
Hearth's ONNX decoder loads. Run from the repository root (Debian's python3-torch, python3-onnx, python3-numpy):

    /usr/bin/python3 scripts/import_llama2c.py [SOURCE_DIR]        # or: npm run import:llama2c

SOURCE_DIR (default ../shared/models/stories260K, i.e. /work/shared/models/stories260K) must hold stories260K.bin and
tok512.bin with exactly the sha256 listed below; any other file is refused before anything is written.

It writes, deterministically:

  public/models/hearth-stories260k/
      model.onnx              LlamaForCausalLM decoder with KV cache, fp32, opset 17, IR 8 (the tiny Llama fixture's
                              I/O: input_ids, attention_mask, position_ids, past_key_values.{i}.key|value → logits,
                              present.{i}.key|value; 5 layers, 4 KV heads of head_dim 8)
      model_q4.onnx           the same graph, the 35 linear-layer MatMuls as com.microsoft MatMulNBits (bits 4,
                              block_size 32, symmetric, no zero points; K = 172 is zero-padded to 6 blocks);
                              the embedding Gather and the tied lm_head stay fp32
      config.json             HF LlamaConfig (GQA 8/4, tied embeddings, rope_theta 10000, eps 1e-5, 512 positions)
      generation_config.json  bos 1; eos [2, 1]: the model was trained on BOS-separated stories and ends a story by
                              predicting BOS, as llama2.c's run.c stops on it
      tokenizer.json          SentencePiece-style BPE from tok512.bin: "▁" for spaces, a dummy-prefix "▁" (Prepend
                              normalizer), byte fallback (<0x00>…<0xFF>), merges ordered by the merged piece's score
      tokenizer_config.json   LlamaTokenizer settings + a minimal chat template: BOS + the last user message, trimmed,
                              as the beginning of a story

  tests/fixtures/stories260k/reference.json   greedy tokens and text (fp32 and q4), first-step top logprobs

Checks made here (the script fails on any): source sha256; header and array sizes; an independent numpy forward in
llama2.c's own layout (adjacent-pair RoPE, unpermuted weights, no KV cache) equals the torch model in the HF layout
(permuted wq/wk, rotate-half RoPE, KV cache) on logits and greedy tokens; a llama2.c-style encoder gives the
published prompt tokens and decoding the greedy tokens gives the published text exactly; the exported graphs (numpy
interpreter of scripts/fixtures_llama.py, MatMulNBits included) reproduce torch with the KV cache fed back.
"""

import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_llama as fl  # noqa: E402  (the Llama module in the HF layout, the numpy ONNX interpreter)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SRC = os.path.join(os.path.dirname(ROOT), "shared", "models", "stories260K")
MODEL_NAME = "hearth-stories260k"
MODEL_DIR = os.path.join(ROOT, "public", "models", MODEL_NAME)
REF_DIR = os.path.join(ROOT, "tests", "fixtures", "stories260k")

SOURCES = {
    "stories260K.bin": (1_056_540, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"),
    "tok512.bin": (6_227, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"),
}

OPSET = 17
IR_VERSION = 8
Q4_BLOCK = 32
BOS, EOS = 1, 2
PROMPT = "Once upon a time"
PROMPT_IDS = [1, 403, 407, 261, 378]
NEW_TOKENS = 30
# llama2.c doc/stories260K.md: the greedy sample (prompt included) of `./run stories260K.bin -z tok512.bin -t 0.0`.
PUBLISHED = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
             "One day,")

CHAT_TEMPLATE = (
    "{#- stories260K is not a chat model: the last user message, trimmed, is the beginning of a story -#}\n"
    "{%- set ns = namespace(story='') -%}\n"
    "{%- for message in messages -%}\n"
    "{%- if message['role'] == 'user' -%}{%- set ns.story = message['content'] -%}{%- endif -%}\n"
    "{%- endfor -%}\n"
    "{{- bos_token + (ns.story | trim) -}}"
)


def fail(msg):
    print(f"import_llama2c: {msg}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------------------


def read_sources(src):
    data = {}
    for name, (size, sha) in SOURCES.items():
        path = os.path.join(src, name)
        if not os.path.isfile(path):
            fail(f"{path} is missing (expected {size} bytes, sha256 {sha})")
        raw = open(path, "rb").read()
        got = hashlib.sha256(raw).hexdigest()
        if got != sha or len(raw) != size:
            fail(f"{path} is not the expected file: sha256 {got} ({len(raw)} bytes), expected {sha} ({size} bytes). "
                 "This importer is pinned to Karpathy's stories260K; refusing to convert anything else.")
        data[name] = raw
    return data


def read_checkpoint(raw):
    """llama2.c legacy format: 7 int32 header, then float32 arrays (see the README beside the source)."""
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack_from("<7i", raw, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // heads
    kv_dim = kv_heads * hd
    f = np.frombuffer(raw, dtype="<f4", offset=28)
    shapes = [
        ("token_embedding", (vocab, dim)), ("rms_att", (layers, dim)), ("wq", (layers, dim, dim)),
        ("wk", (layers, kv_dim, dim)), ("wv", (layers, kv_dim, dim)), ("wo", (layers, dim, dim)),
        ("rms_ffn", (layers, dim)), ("w1", (layers, hidden, dim)), ("w2", (layers, dim, hidden)),
        ("w3", (layers, hidden, dim)), ("rms_final", (dim,)),
        ("freq_cis_real", (seq_len, hd // 2)), ("freq_cis_imag", (seq_len, hd // 2)),
    ]
    if not shared:
        shapes.append(("wcls", (vocab, dim)))
    w, o = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        w[name] = f[o:o + n].reshape(shape).astype(np.float32)
        o += n
    if o != f.size:
        fail(f"checkpoint holds {f.size} floats after the header, the header implies {o}")
    hp = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq_len=seq_len,
              head_dim=hd, shared=shared)
    expected = dict(dim=64, hidden=172, layers=5, heads=8, kv_heads=4, vocab=512, seq_len=512, shared=True)
    if {k: hp[k] for k in expected} != expected:
        fail(f"unexpected header {hp}")
    n_floats = sum(v.size for v in w.values())  # the README's 264,128 counts the unused freq_cis tables too
    if n_floats != 264_128:
        fail(f"{n_floats} floats, expected 264,128")
    return hp, w


def read_tokenizer(raw):
    """tok512.bin: int32 max_token_length, then per token float32 score, int32 length, bytes."""
    (max_len,) = struct.unpack_from("<i", raw, 0)
    o, pieces, scores = 4, [], []
    while o < len(raw):
        score, n = struct.unpack_from("<fi", raw, o)
        o += 8
        pieces.append(raw[o:o + n])
        scores.append(score)
        o += n
    if len(pieces) != 512 or max(len(p) for p in pieces) > max_len:
        fail(f"tok512.bin: {len(pieces)} tokens (max length {max_len})")
    return pieces, scores


# --------------------------------------------------------------------------------------------------------------
# llama2.c in numpy, in its own layout (the independent reference)
# --------------------------------------------------------------------------------------------------------------


def llama2c_logits(hp, w, tokens):
    """Full forward over `tokens` (no cache), as llama2.c's run.c computes it; returns logits [len, vocab]."""
    dim, hd, H, KV = hp["dim"], hp["head_dim"], hp["heads"], hp["kv_heads"]
    T = len(tokens)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * g

    def rope(x, heads):  # x [T, heads*hd]; llama2.c rotates adjacent pairs (2i, 2i+1) with freq theta^(-2i/hd)
        x = x.reshape(T, heads, hd // 2, 2).astype(np.float64)
        freq = 1.0 / (10000.0 ** (np.arange(0, hd, 2) / hd))
        ang = np.arange(T)[:, None] * freq[None, :]  # [T, hd/2]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0], x[..., 1]
        return np.stack([x0 * c - x1 * s, x0 * s + x1 * c], -1).reshape(T, heads * hd)

    x = w["token_embedding"][tokens].astype(np.float64)
    causal = np.tril(np.ones((T, T), bool))
    for l in range(hp["layers"]):
        h = rms(x, w["rms_att"][l])
        q = rope(h @ w["wq"][l].T, H)
        k = rope(h @ w["wk"][l].T, KV)
        v = h @ w["wv"][l].T
        out = np.zeros((T, H * hd))
        for head in range(H):
            g = head // (H // KV)
            qh, kh, vh = q[:, head * hd:(head + 1) * hd], k[:, g * hd:(g + 1) * hd], v[:, g * hd:(g + 1) * hd]
            att = np.where(causal, qh @ kh.T / math.sqrt(hd), -np.inf)
            att = np.exp(att - att.max(-1, keepdims=True))
            out[:, head * hd:(head + 1) * hd] = (att / att.sum(-1, keepdims=True)) @ vh
        x = x + out @ w["wo"][l].T
        h = rms(x, w["rms_ffn"][l])
        a = h @ w["w1"][l].T
        x = x + ((a / (1 + np.exp(-a))) * (h @ w["w3"][l].T)) @ w["w2"][l].T
    x = rms(x, w["rms_final"])
    return x @ w["token_embedding"].T.astype(np.float64)


def llama2c_greedy(hp, w, prompt, n):
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(llama2c_logits(hp, w, seq)[-1].argmax()))
    return seq[len(prompt):]


def llama2c_encode(pieces, scores, text):
    """run.c's encode (BOS, dummy prefix, code points or byte fallback, best-scored merge first, leftmost on ties)."""
    lookup = {p: i for i, p in enumerate(pieces)}
    tokens = [BOS]
    if text:
        tokens.append(lookup[b" "])
    for ch in text:
        b = ch.encode("utf-8")
        tokens.extend([lookup[b]] if b in lookup else [x + 3 for x in b])
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            j = lookup.get(pieces[tokens[i]] + pieces[tokens[i + 1]])
            if j is not None and scores[j] > best:
                best, best_i, best_id = scores[j], i, j
        if best_i < 0:
            return tokens
        tokens[best_i:best_i + 2] = [best_id]


def llama2c_decode(pieces, tokens, prev=BOS):
    """run.c's decode, concatenated: byte tokens are raw bytes; the first piece after BOS loses its leading space."""
    out = b""
    for t in tokens:
        p = pieces[t]
        if prev == BOS and p.startswith(b" "):
            p = p[1:]
        if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
            p = bytes([int(p[3:5], 16)])
        out += p
        prev = t
    return out.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------------------------
# Hugging Face layout
# --------------------------------------------------------------------------------------------------------------


def hf_config(hp):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": hp["vocab"],
        "hidden_size": hp["dim"],
        "intermediate_size": hp["hidden"],
        "num_hidden_layers": hp["layers"],
        "num_attention_heads": hp["heads"],
        "num_key_value_heads": hp["kv_heads"],
        "head_dim": hp["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": hp["seq_len"],
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
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


def permute_rope(wt, heads, hd):
    """llama2.c's export.py `permute_reverse`: rows (2i, 2i+1) of each head → (i, hd/2 + i), so that HF's
    rotate-half RoPE computes what llama2.c's adjacent-pair RoPE did."""
    out_dim, in_dim = wt.shape
    return wt.reshape(heads, hd // 2, 2, in_dim).transpose(0, 2, 1, 3).reshape(out_dim, in_dim)


def torch_model(cfg, hp, w):
    model = fl.TinyLlamaForCausalLM(cfg).eval()
    sd = {"model.embed_tokens.weight": w["token_embedding"], "model.norm.weight": w["rms_final"]}
    for l in range(hp["layers"]):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = w["rms_att"][l]
        sd[p + "post_attention_layernorm.weight"] = w["rms_ffn"][l]
        sd[p + "self_attn.q_proj.weight"] = permute_rope(w["wq"][l], hp["heads"], hp["head_dim"])
        sd[p + "self_attn.k_proj.weight"] = permute_rope(w["wk"][l], hp["kv_heads"], hp["head_dim"])
        sd[p + "self_attn.v_proj.weight"] = w["wv"][l]
        sd[p + "self_attn.o_proj.weight"] = w["wo"][l]
        sd[p + "mlp.gate_proj.weight"] = w["w1"][l]
        sd[p + "mlp.down_proj.weight"] = w["w2"][l]
        sd[p + "mlp.up_proj.weight"] = w["w3"][l]
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    return model


def io_names(cfg):
    inputs, outputs = ["input_ids", "attention_mask", "position_ids"], ["logits"]
    for i in range(cfg["num_hidden_layers"]):
        inputs += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        outputs += [f"present.{i}.key", f"present.{i}.value"]
    return inputs, outputs


def empty_past(cfg, b=1):
    return [torch.zeros(b, cfg["num_key_value_heads"], 0, cfg["head_dim"]) for _ in range(2 * cfg["num_hidden_layers"])]


def torch_greedy(model, cfg, prompt, n):
    """Greedy with the KV cache; returns (tokens, per-step last logits)."""
    ids = torch.tensor([prompt])
    mask = torch.ones_like(ids)
    pos = torch.arange(len(prompt))[None]
    past, toks, steps = empty_past(cfg), [], []
    with torch.no_grad():
        for _ in range(n):
            logits, *past = model(ids, mask, pos, *past)
            steps.append(logits[0, -1].clone())
            toks.append(int(steps[-1].argmax()))
            ids = torch.tensor([[toks[-1]]])
            pos = pos[:, -1:] + 1
            mask = torch.cat([mask, torch.ones(1, 1, dtype=torch.int64)], 1)
    return toks, steps


def export(model, cfg, path):
    inputs, outputs = io_names(cfg)
    g = torch.Generator().manual_seed(260)
    ids = torch.tensor([[10, 11, 12], [13, 14, 15]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]])
    pos = fl.positions(mask)[:, 2:]
    pkv = [torch.randn(2, cfg["num_key_value_heads"], 2, cfg["head_dim"], generator=g)
           for _ in range(2 * cfg["num_hidden_layers"])]
    dyn = {"input_ids": {0: "batch_size", 1: "sequence_length"},
           "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
           "position_ids": {0: "batch_size", 1: "sequence_length"},
           "logits": {0: "batch_size", 1: "sequence_length"}}
    dyn.update({n: {0: "batch_size", 2: "past_sequence_length"} for n in inputs[3:]})
    dyn.update({n: {0: "batch_size", 2: "total_sequence_length"} for n in outputs[1:]})
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, pos, *pkv), path, input_names=inputs, output_names=outputs,
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    om = onnx.load(path)
    fl.tidy_initializers(om, model)
    om.ir_version = IR_VERSION
    om.producer_name = "hearth/scripts/import_llama2c.py"
    return om


def quantize_q4(w, block):
    """w float32 [N, K] → MatMulNBits B uint8 [N, ceil(K/block), block/2] (element 2j low nibble, 2j+1 high),
    scales float32 [N * blocks], and the dequantised [N, K]. Symmetric (zero point 8); K is zero-padded."""
    n, k = w.shape
    nb = (k + block - 1) // block
    wp = np.zeros((n, nb * block), np.float64)
    wp[:, :k] = w
    wb = wp.reshape(n, nb, block)
    scale = (np.abs(wb).max(-1) / 7.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(wb / scale[..., None].astype(np.float64)) + 8, 0, 15).astype(np.uint8)
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    deq = ((q.astype(np.float32) - 8.0) * scale[..., None]).reshape(n, nb * block)[:, :k].astype(np.float32)
    return packed, scale.reshape(-1), np.ascontiguousarray(deq)


def make_q4(om_fp32, model):
    om = onnx.ModelProto()
    om.CopyFrom(om_fp32)
    lin = {name + ".weight": m for name, m in fl.linear_weights(model).items()}
    nodes, inits, deq = [], [], {}
    for n in om.graph.node:
        if n.op_type == "MatMul" and n.input[1] in lin:
            name = n.input[1]
            w = lin[name].weight.detach().numpy()
            packed, scales, deq[name] = quantize_q4(w, Q4_BLOCK)
            base = name[: -len(".weight")]
            inits += [numpy_helper.from_array(packed, base + ".weight_Q4"),
                      numpy_helper.from_array(scales, base + ".weight_scales")]
            nodes.append(helper.make_node("MatMulNBits", [n.input[0], base + ".weight_Q4", base + ".weight_scales"],
                                          list(n.output), name=base + "/MatMulNBits", domain="com.microsoft",
                                          K=w.shape[1], N=w.shape[0], bits=4, block_size=Q4_BLOCK))
        else:
            nodes.append(n)
    if len(deq) != len(lin):
        fail(f"q4: replaced {len(deq)} MatMuls, expected {len(lin)}")
    keep = [t for t in om.graph.initializer if t.name not in lin]
    del om.graph.initializer[:]
    om.graph.initializer.extend(keep + inits)
    del om.graph.node[:]
    om.graph.node.extend(nodes)
    om.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    om.producer_name = "hearth/scripts/import_llama2c.py (q4)"
    return om, deq


def graph_greedy(om, cfg, prompt, n):
    inputs, _ = io_names(cfg)
    ids = np.array([prompt], np.int64)
    mask = np.ones_like(ids)
    pos = np.arange(len(prompt), dtype=np.int64)[None]
    past = {name: np.zeros((1, cfg["num_key_value_heads"], 0, cfg["head_dim"]), np.float32) for name in inputs[3:]}
    toks, steps = [], []
    for _ in range(n):
        out = fl.numpy_run(om, {"input_ids": ids, "attention_mask": mask, "position_ids": pos, **past})
        steps.append(out["logits"][0, -1])
        toks.append(int(steps[-1].argmax()))
        past = {name: out[name.replace("past_key_values", "present")] for name in inputs[3:]}
        ids = np.array([[toks[-1]]], np.int64)
        pos = pos[:, -1:] + 1
        mask = np.concatenate([mask, np.ones((1, 1), np.int64)], 1)
    return toks, steps


# --------------------------------------------------------------------------------------------------------------
# Tokenizer files
# --------------------------------------------------------------------------------------------------------------


def hf_piece(i, raw):
    if i == 0:
        return "<unk>"
    if i == BOS:
        return "<s>"
    if i == EOS:
        return "</s>"
    return raw.decode("utf-8").replace(" ", "\u2581")


def tokenizer_json(pieces, scores):
    vocab = {}
    for i, raw in enumerate(pieces):
        p = hf_piece(i, raw)
        if 3 <= i <= 258 and p != f"<0x{i - 3:02X}>":
            fail(f"tok512.bin: id {i} is {p!r}, expected the byte token <0x{i - 3:02X}>")
        if p in vocab:
            fail(f"tok512.bin: piece {p!r} appears twice ({vocab[p]}, {i})")
        vocab[p] = i
    # Every split of a scored piece into two pieces of the vocabulary is a merge; llama2.c merges the best-scored
    # result first, so merges are ranked by the merged piece's score (ties: vocabulary order, then the split point).
    mergeable = {hf_piece(i, r): i for i, r in enumerate(pieces) if i > 258}
    merges = []
    for i in sorted(range(259, len(pieces)), key=lambda i: (-scores[i], i)):
        p = hf_piece(i, pieces[i])
        chars = list(p)
        for k in range(1, len(chars)):
            a, b = "".join(chars[:k]), "".join(chars[k:])
            if a in mergeable and b in mergeable:
                merges.append([a, b])
    special = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                            "normalized": False, "special": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        ]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def tokenizer_config(seq_len):
    dec = lambda c: {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                     "special": True}
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {"0": dec("<unk>"), "1": dec("<s>"), "2": dec("</s>")},
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": None,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": seq_len,
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "chat_template": CHAT_TEMPLATE,
    }


# --------------------------------------------------------------------------------------------------------------


def r7(x):
    return float(f"{float(x):.7g}")


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, **({"separators": (",", ":")} if compact else {"indent": 2}))
        f.write("\n")


def top_logprobs(logits, k=5):
    lp = torch.log_softmax(logits.double(), -1)
    v, i = torch.topk(lp, k)
    return [[int(a), r7(b)] for a, b in zip(i.tolist(), v.tolist())]


def build(src):
    t0 = time.time()
    data = read_sources(src)
    hp, w = read_checkpoint(data["stories260K.bin"])
    pieces, scores = read_tokenizer(data["tok512.bin"])
    cfg = hf_config(hp)
    print(f"{MODEL_NAME}: sources verified ({', '.join(SOURCES)}); {hp}")

    # ---- tokenizer facts -------------------------------------------------------------------------------------------
    ids = llama2c_encode(pieces, scores, PROMPT)
    if ids != PROMPT_IDS:
        fail(f"llama2.c encoding of {PROMPT!r} is {ids}, expected {PROMPT_IDS}")

    # ---- model: llama2.c layout (numpy) vs HF layout (torch, KV cache) ---------------------------------------------
    ref_tokens = llama2c_greedy(hp, w, PROMPT_IDS, NEW_TOKENS)
    text = PROMPT + llama2c_decode(pieces, ref_tokens, prev=PROMPT_IDS[-1])
    if text != PUBLISHED:
        fail(f"greedy text differs from the published sample:\n  got      {text!r}\n  expected {PUBLISHED!r}")
    model = torch_model(cfg, hp, w)
    toks, steps = torch_greedy(model, cfg, PROMPT_IDS, NEW_TOKENS)
    if toks != ref_tokens:
        fail(f"torch (HF layout) greedy {toks} != llama2.c layout {ref_tokens}")
    full = llama2c_logits(hp, w, PROMPT_IDS + ref_tokens[:-1])
    d = max(float(np.abs(full[len(PROMPT_IDS) - 1 + i] - s.numpy()).max()) for i, s in enumerate(steps))
    if d > 1e-4:
        fail(f"torch (HF layout, KV cache) logits differ from llama2.c layout by {d}")
    margin = min(float(torch.topk(s, 2).values[0] - torch.topk(s, 2).values[1]) for s in steps)
    print(f"  greedy {ref_tokens}\n  text   {text!r}\n  llama2.c layout vs HF layout max |diff| {d:.1e}, "
          f"min top-1/top-2 margin {margin:.3f}")

    # ---- ONNX fp32 -----------------------------------------------------------------------------------------------
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(REF_DIR, exist_ok=True)
    inputs, outputs = io_names(cfg)
    path = os.path.join(MODEL_DIR, "model.onnx")
    om = export(model, cfg, path)
    onnx.save(om, path)
    om = onnx.load(path)
    onnx.checker.check_model(om, full_check=True)
    if [i.name for i in om.graph.input] != inputs or [o.name for o in om.graph.output] != outputs:
        fail("unexpected ONNX I/O names")
    g_toks, g_steps = graph_greedy(om, cfg, PROMPT_IDS, NEW_TOKENS)
    g_err = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(g_steps, steps))
    if g_toks != ref_tokens or g_err > 1e-4:
        fail(f"fp32 graph greedy {g_toks} (max |diff| {g_err}) != torch {ref_tokens}")
    print(f"  model.onnx {os.path.getsize(path)} bytes; graph vs torch max |diff| {g_err:.1e}")

    # ---- ONNX q4 -------------------------------------------------------------------------------------------------
    q4, deq = make_q4(om, model)
    q4_path = os.path.join(MODEL_DIR, "model_q4.onnx")
    onnx.save(q4, q4_path)
    q4 = onnx.load(q4_path)
    onnx.checker.check_model(q4)
    qmodel = torch_model(cfg, hp, w)
    with torch.no_grad():
        for name, m in fl.linear_weights(qmodel).items():
            m.weight.copy_(torch.from_numpy(deq[name + ".weight"]))
    q_toks, q_steps = torch_greedy(qmodel, cfg, PROMPT_IDS, NEW_TOKENS)
    qg_toks, qg_steps = graph_greedy(q4, cfg, PROMPT_IDS, NEW_TOKENS)
    qg_err = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(qg_steps, q_steps))
    if qg_toks != q_toks or qg_err > 1e-4:
        fail(f"q4 graph greedy {qg_toks} (max |diff| {qg_err}) != torch {q_toks}")
    q_text = PROMPT + llama2c_decode(pieces, q_toks, prev=PROMPT_IDS[-1])
    q_margin = min(float(torch.topk(s, 2).values[0] - torch.topk(s, 2).values[1]) for s in q_steps)
    n_nbits = sum(1 for n in q4.graph.node if n.op_type == "MatMulNBits")
    print(f"  model_q4.onnx {os.path.getsize(q4_path)} bytes, {n_nbits} MatMulNBits; graph vs torch max |diff| "
          f"{qg_err:.1e}\n  q4 greedy {q_toks}\n  q4 text {q_text!r} (min margin {q_margin:.3f})")

    # ---- configs, tokenizer, reference ---------------------------------------------------------------------------
    write_json(os.path.join(MODEL_DIR, "config.json"), cfg)
    write_json(os.path.join(MODEL_DIR, "generation_config.json"),
               {"bos_token_id": BOS, "eos_token_id": [EOS, BOS], "do_sample": False,
                "transformers_version": "4.45.0"})
    write_json(os.path.join(MODEL_DIR, "tokenizer.json"), tokenizer_json(pieces, scores), compact=True)
    write_json(os.path.join(MODEL_DIR, "tokenizer_config.json"), tokenizer_config(hp["seq_len"]))
    write_json(os.path.join(REF_DIR, "reference.json"), {
        "model_dir": f"public/models/{MODEL_NAME}",
        "source": {name: {"bytes": s, "sha256": h} for name, (s, h) in SOURCES.items()},
        "prompt": PROMPT,
        "prompt_ids": PROMPT_IDS,
        "max_new_tokens": NEW_TOKENS,
        "published": PUBLISHED,
        "greedy": {"new_tokens": ref_tokens, "text": text, "min_margin": r7(margin),
                   "top5_logprobs_first_steps": [top_logprobs(s) for s in steps[:8]]},
        "q4": {"model_file": "model_q4.onnx", "bits": 4, "block_size": Q4_BLOCK, "new_tokens": q_toks,
               "text": q_text, "min_margin": r7(q_margin), "equals_fp32": q_toks == ref_tokens},
    })
    print(f"wrote {os.path.relpath(MODEL_DIR, ROOT)}/ and {os.path.relpath(REF_DIR, ROOT)}/reference.json "
          f"in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC)
