"""GGUF fixtures for Hearth's GGUF reader and the WGSL decoder's GGUF kernels, with torch references.

    /usr/bin/python3 scripts/fixtures_gguf.py        (needs only numpy and torch; deterministic)

Writes tests/fixtures/gguf/:

  tiny-llama-{f32,f16,q8_0,q4_0,q4_k}.gguf   a 1-layer Llama (hidden 256, 4 heads / 2 KV heads of 64, SwiGLU 256,
                                             tied head) in one GGUF type each (norms stay F32, as llama.cpp keeps
                                             them); q/k rows permuted for RoPE the way llama.cpp's
                                             convert_hf_to_gguf.py does for the llama arch; stories260K's real
                                             SentencePiece vocabulary (tokenizer.ggml.model "llama", 512 tokens)
  tiny-qwen2-mixed.gguf, tiny-qwen2-q4_k.gguf
                                             a 2-layer Qwen2 (q/k/v biases, separate head, NEOX RoPE: no permutation,
                                             rope theta 1e6) with a byte-level BPE vocabulary built here
                                             (tokenizer.ggml.model "gpt2", pre "qwen2", ChatML template); "mixed"
                                             stores each tensor in a different type (F32, F16, Q8_0, Q4_0, Q4_K)
  stories260k-{f32,q8_0}.gguf                Karpathy's stories260K (../shared/models/stories260K/) as GGUF: its
                                             llama.c layout is already GGUF's (adjacent-pair RoPE); Q8_0 where the row
                                             length is a multiple of 32 (w2's 172 is not: F32, as llama-quantize falls
                                             back)
  reference.json                             per model: greedy tokens from torch on the *dequantised* weights
                                             (dequantised here in numpy from the bytes written), the first step's
                                             top-10 logits, and the smallest top-1/top-2 gap seen (ties would make
                                             the check meaningless)

The GGUF writer and the quantisers are written here from the GGUF/GGML format (v3, 32-byte alignment); when the
`gguf` Python package is importable (not a dependency), its dequantisers and reader are used as a cross-check.
"""

import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")
STORIES = os.path.join(ROOT, "..", "shared", "models", "stories260K")
if len(sys.argv) > 1:
    STORIES = sys.argv[1]

F32, F16, Q4_0, Q8_0, Q4_K = 0, 1, 2, 8, 12
TYPE_NAMES = {F32: "F32", F16: "F16", Q4_0: "Q4_0", Q8_0: "Q8_0", Q4_K: "Q4_K"}
ALIGN = 32

# --- quantisers / dequantisers (row-major [n, k], blocks along k) -----------------------------------------------


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def q8_0(w):
    b = w.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1)
    d = amax / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0)
    q = np.clip(np.round(b * inv[:, None]), -127, 127).astype(np.int8)
    out = np.zeros((b.shape[0], 34), np.uint8)
    out[:, 0:2] = f16(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def dq8_0(raw, n, k):
    b = np.frombuffer(raw, np.uint8).reshape(-1, 34)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    q = b[:, 2:].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(n, k)


def q4_0(w):
    b = w.reshape(-1, 32).astype(np.float32)
    idx = np.abs(b).argmax(axis=1)
    mx = b[np.arange(b.shape[0]), idx]
    d = mx / -8.0
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0)
    q = np.clip(np.floor(b * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    out = np.zeros((b.shape[0], 18), np.uint8)
    out[:, 0:2] = f16(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def dq4_0(raw, n, k):
    b = np.frombuffer(raw, np.uint8).reshape(-1, 18)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    qs = b[:, 2:]
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32) - 8
    return (d * q).reshape(n, k)


def q4_k(w):
    """Super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales/mins, 128 bytes of nibbles."""
    sb = w.reshape(-1, 256).astype(np.float32)
    out = np.zeros((sb.shape[0], 144), np.uint8)
    for i, x in enumerate(sb):
        sub = x.reshape(8, 32)
        mn = np.minimum(sub.min(axis=1), 0)
        sc = (sub.max(axis=1) - mn) / 15.0
        d = f16(sc.max() / 63.0).astype(np.float32)
        dmin = f16((-mn).max() / 63.0).astype(np.float32)
        ls = np.clip(np.round(sc / d), 0, 63).astype(np.uint8) if d > 0 else np.zeros(8, np.uint8)
        lm = np.clip(np.round(-mn / dmin), 0, 63).astype(np.uint8) if dmin > 0 else np.zeros(8, np.uint8)
        scales = np.zeros(12, np.uint8)
        for j in range(8):
            if j < 4:
                scales[j] = ls[j] & 63
                scales[j + 4] = lm[j] & 63
            else:
                scales[j + 4] = (ls[j] & 15) | ((lm[j] & 15) << 4)
                scales[j - 4] |= (ls[j] >> 4) << 6
                scales[j] |= (lm[j] >> 4) << 6
        L = np.zeros(256, np.uint8)
        for j in range(8):
            step = d * ls[j]
            L[j * 32:(j + 1) * 32] = np.clip(np.round((sub[j] + dmin * lm[j]) / step), 0, 15) if step > 0 else 0
        qs = np.zeros(128, np.uint8)
        for c in range(4):
            qs[c * 32:(c + 1) * 32] = L[c * 64:c * 64 + 32] | (L[c * 64 + 32:c * 64 + 64] << 4)
        out[i, 0:2] = f16([d]).view(np.uint8)
        out[i, 2:4] = f16([dmin]).view(np.uint8)
        out[i, 4:16] = scales
        out[i, 16:] = qs
    return out.tobytes()


def scale_min_k4(j, s):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def dq4_k(raw, n, k):
    b = np.frombuffer(raw, np.uint8).reshape(-1, 144)
    out = np.zeros((b.shape[0], 256), np.float32)
    for i, blk in enumerate(b):
        d = blk[0:2].copy().view(np.float16).astype(np.float32)[0]
        dmin = blk[2:4].copy().view(np.float16).astype(np.float32)[0]
        s = blk[4:16]
        qs = blk[16:]
        for c in range(4):
            sc1, m1 = scale_min_k4(2 * c, s)
            sc2, m2 = scale_min_k4(2 * c + 1, s)
            q = qs[c * 32:(c + 1) * 32]
            out[i, c * 64:c * 64 + 32] = d * sc1 * (q & 15) - dmin * m1
            out[i, c * 64 + 32:c * 64 + 64] = d * sc2 * (q >> 4) - dmin * m2
    return out.reshape(n, k)


def encode(w, t):
    """w: float32 [n, k] (or [n]) → (bytes, the dequantised float32 array of the same shape)."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    n, k = (1, w.shape[0]) if w.ndim == 1 else w.shape
    if t == F32:
        return w.tobytes(), w
    if t == F16:
        h = f16(w)
        return h.tobytes(), h.astype(np.float32)
    raw = {Q8_0: q8_0, Q4_0: q4_0, Q4_K: q4_k}[t](w)
    deq = {Q8_0: dq8_0, Q4_0: dq4_0, Q4_K: dq4_k}[t](raw, n, k)
    return raw, deq.reshape(w.shape)


# --- GGUF writer --------------------------------------------------------------------------------------------------

U32, I32, F32V, BOOL, STRING, ARRAY, U64 = 4, 5, 6, 7, 8, 9, 10


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gvalue(vtype, v):
    if vtype == U32:
        return struct.pack("<I", v)
    if vtype == I32:
        return struct.pack("<i", v)
    if vtype == F32V:
        return struct.pack("<f", v)
    if vtype == BOOL:
        return struct.pack("<?", v)
    if vtype == STRING:
        return gstr(v)
    if vtype == U64:
        return struct.pack("<Q", v)
    raise ValueError(vtype)


def write_gguf(path, kv, tensors):
    """kv: [(key, type, value) | (key, ARRAY, (elem_type, values))]; tensors: [(name, dims ne0-first, type, bytes)]."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, vtype, value in kv:
        head += gstr(key) + struct.pack("<I", vtype)
        if vtype == ARRAY:
            et, values = value
            head += struct.pack("<IQ", et, len(values)) + b"".join(gvalue(et, x) for x in values)
        else:
            head += gvalue(vtype, value)
    offset = 0
    infos = b""
    for name, dims, t, raw in tensors:
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", t, offset)
        offset += (len(raw) + ALIGN - 1) // ALIGN * ALIGN
    head += infos
    head += b"\0" * ((-len(head)) % ALIGN)
    data = b""
    for _, _, _, raw in tensors:
        data += raw + b"\0" * ((-len(raw)) % ALIGN)
    with open(path, "wb") as f:
        f.write(head + data)
    return len(head) + len(data)


# --- tokenizers ---------------------------------------------------------------------------------------------------


def read_tok512():
    with open(os.path.join(STORIES, "tok512.bin"), "rb") as f:
        raw = f.read()
    off = 4
    tokens, scores = [], []
    while off < len(raw):
        score, length = struct.unpack_from("<fi", raw, off)
        tokens.append(raw[off + 8:off + 8 + length].decode("utf-8"))
        scores.append(score)
        off += 8 + length
    return tokens, scores


def spm_kv(tokens, scores):
    """llama.c's vocabulary as GGUF's "llama" (SentencePiece) tokenizer: spaces are "▁", ids 3..258 byte tokens."""
    pieces, types = [], []
    for i, t in enumerate(tokens):
        if i == 0:
            pieces.append("<unk>"); types.append(2)
        elif i in (1, 2):
            pieces.append("<s>" if i == 1 else "</s>"); types.append(3)
        elif 3 <= i <= 258:
            pieces.append("<0x%02X>" % (i - 3)); types.append(6)
        else:
            pieces.append(t.replace(" ", "\u2581")); types.append(1)
    return [
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, pieces)),
        ("tokenizer.ggml.scores", ARRAY, (F32V, [float(s) for s in scores])),
        ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.unknown_token_id", U32, 0),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.ggml.add_eos_token", BOOL, False),
    ]


def byte_unicode():
    """GPT-2's byte → printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def bpe_kv():
    """A byte-level BPE vocabulary (256 bytes + merges of a few English words + ChatML specials), GGUF "gpt2"."""
    m = byte_unicode()
    tokens = [m[b] for b in range(256)]
    merges = []
    for word in [" the", " a", " time", " upon", "Once", " there", " was", "Hello", " world", " hi"]:
        cur = "".join(m[b] for b in word.encode())
        parts = list(cur)
        while len(parts) > 1:
            merges.append(parts[0] + " " + parts[1])
            joined = parts[0] + parts[1]
            if joined not in tokens:
                tokens.append(joined)
            parts = [joined] + parts[2:]
    merges = list(dict.fromkeys(merges))
    types = [1] * len(tokens)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    for s in specials:
        tokens.append(s); types.append(3)
    eot = tokens.index("<|endoftext|>")
    return tokens, [
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.pre", STRING, "qwen2"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
        ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
        ("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
        ("tokenizer.ggml.eos_token_id", U32, tokens.index("<|im_end|>")),
        ("tokenizer.ggml.padding_token_id", U32, eot),
        ("tokenizer.ggml.bos_token_id", U32, eot),
        ("tokenizer.ggml.add_bos_token", BOOL, False),
        ("tokenizer.chat_template", STRING, CHATML),
    ]


# --- the model, in torch (Hugging Face layout: rotate-half RoPE) ----------------------------------------------------


def rope_half(x, pos, theta):
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = pos[:, None].float() * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def rope_pairs(x, pos, theta):
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = pos[:, None].float() * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def forward(W, cfg, ids):
    """Full-sequence logits [seq, vocab] from float32 weights W (torch [out, in])."""
    T = len(ids)
    pos = torch.arange(T)
    H, KV, D = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    rope = rope_pairs if cfg.get("pairs") else rope_half

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg["eps"]) * w

    x = W["embed"][torch.tensor(ids)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for L in W["layers"]:
        h = norm(x, L["attn_norm"])
        q = h @ L["q"].T + (L["q_bias"] if "q_bias" in L else 0)
        k = h @ L["k"].T + (L["k_bias"] if "k_bias" in L else 0)
        v = h @ L["v"].T + (L["v_bias"] if "v_bias" in L else 0)
        q = rope(q.view(T, H, D).transpose(0, 1), pos, cfg["theta"])
        k = rope(k.view(T, KV, D).transpose(0, 1), pos, cfg["theta"])
        v = v.view(T, KV, D).transpose(0, 1)
        k = k.repeat_interleave(H // KV, 0)
        v = v.repeat_interleave(H // KV, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / D ** 0.5 + mask, -1) @ v
        x = x + att.transpose(0, 1).reshape(T, H * D) @ L["o"].T
        h = norm(x, L["mlp_norm"])
        x = x + (torch.nn.functional.silu(h @ L["gate"].T) * (h @ L["up"].T)) @ L["down"].T
    return norm(x, W["final_norm"]) @ W["head"].T


def greedy(W, cfg, ids, steps):
    ids = list(ids)
    out, gaps, first = [], [], None
    with torch.no_grad():
        for _ in range(steps):
            logits = forward(W, cfg, ids)[-1].double()
            if first is None:
                first = logits
            top = torch.topk(logits, 2)
            gaps.append(float(top.values[0] - top.values[1]))
            out.append(int(top.indices[0]))
            ids.append(out[-1])
    top10 = torch.topk(first, 10)
    return out, [[int(i), float(v)] for v, i in zip(top10.values, top10.indices)], min(gaps)


def permute_rope(w, heads):
    """convert_hf_to_gguf.py's LlamaModel.permute: rotate-half rows → adjacent-pair rows."""
    n = w.shape[0]
    return w.reshape(heads, 2, n // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def build(path, arch, cfg, weights, types, tok_kv, tied, permute=None):
    """Writes the GGUF of `weights` (HF layout, float32 numpy) with per-role types; returns torch weights dequantised."""
    H, KV = cfg["heads"], cfg["kv_heads"]
    tensors, W = [], {"layers": []}

    def add(name, w, t, permute_heads=None):
        raw_src = permute_rope(w, permute_heads) if permute_heads else w
        raw, deq = encode(raw_src, t)
        if permute_heads:  # undo on the dequantised copy: rows are quantised independently
            _, deq_hf = encode(w, t)
            deq = deq_hf
        dims = [w.shape[0]] if w.ndim == 1 else [w.shape[1], w.shape[0]]
        tensors.append((name, dims, t, raw))
        return torch.tensor(np.array(deq, dtype=np.float32))

    W["embed"] = add("token_embd.weight", weights["embed"], types["embed"])
    for i, L in enumerate(weights["layers"]):
        p = f"blk.{i}."
        perm = arch == "llama" if permute is None else permute
        T = {}
        T["attn_norm"] = add(p + "attn_norm.weight", L["attn_norm"], F32)
        T["q"] = add(p + "attn_q.weight", L["q"], types["q"], H if perm else None)
        T["k"] = add(p + "attn_k.weight", L["k"], types["k"], KV if perm else None)
        T["v"] = add(p + "attn_v.weight", L["v"], types["v"])
        for b in ("q", "k", "v"):
            if b + "_bias" in L:
                T[b + "_bias"] = add(p + f"attn_{b}.bias", L[b + "_bias"], F32)
        T["o"] = add(p + "attn_output.weight", L["o"], types["o"])
        T["mlp_norm"] = add(p + "ffn_norm.weight", L["mlp_norm"], F32)
        T["gate"] = add(p + "ffn_gate.weight", L["gate"], types["gate"])
        T["up"] = add(p + "ffn_up.weight", L["up"], types["up"])
        T["down"] = add(p + "ffn_down.weight", L["down"], types["down"])
        W["layers"].append(T)
    W["final_norm"] = add("output_norm.weight", weights["final_norm"], F32)
    W["head"] = W["embed"] if tied else add("output.weight", weights["head"], types["head"])
    kv = [
        ("general.architecture", STRING, arch),
        ("general.name", STRING, os.path.basename(path)[:-5]),
        ("general.alignment", U32, ALIGN),
        (f"{arch}.context_length", U32, cfg["ctx"]),
        (f"{arch}.embedding_length", U32, cfg["hidden"]),
        (f"{arch}.block_count", U32, len(weights["layers"])),
        (f"{arch}.feed_forward_length", U32, cfg["ffn"]),
        (f"{arch}.attention.head_count", U32, H),
        (f"{arch}.attention.head_count_kv", U32, KV),
        (f"{arch}.attention.layer_norm_rms_epsilon", F32V, cfg["eps"]),
        (f"{arch}.rope.freq_base", F32V, cfg["theta"]),
    ] + tok_kv
    size = write_gguf(path, kv, tensors)
    check_with_gguf_py(path, tensors)
    return W, size


def check_with_gguf_py(path, tensors):
    try:
        sys.path.insert(0, "/tmp/gguf-py")
        import gguf  # noqa: F401  (optional cross-check, not a dependency)
        from gguf import GGUFReader
        from gguf.quants import dequantize
    except Exception:
        return
    print("  cross-checked with gguf-py:", os.path.basename(path))
    reader = GGUFReader(path)
    by_name = {t.name: t for t in reader.tensors}
    for name, dims, t, raw in tensors:
        rt = by_name[name]
        assert int(rt.tensor_type) == t, name
        ours = {F32: lambda r: np.frombuffer(r, np.float32), F16: lambda r: np.frombuffer(r, np.float16).astype(np.float32),
                Q8_0: lambda r: dq8_0(r, 1, len(r) // 34 * 32), Q4_0: lambda r: dq4_0(r, 1, len(r) // 18 * 32),
                Q4_K: lambda r: dq4_k(r, 1, len(r) // 144 * 256)}[t](raw).reshape(-1)
        theirs = dequantize(rt.data, rt.tensor_type).reshape(-1)
        assert np.array_equal(ours, theirs.astype(np.float32)), f"{name}: our dequantisation differs from gguf-py's"


def random_model(rng, cfg, layers, biases, tied, embed_scale=1.0):
    hid, H, KV, D, ffn, V = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["ffn"], cfg["vocab"]

    def m(n, k, s=None):
        return (rng.standard_normal((n, k)) * (s or 1 / np.sqrt(k))).astype(np.float32)

    def vec(n, mean=1.0, s=0.1):
        return (mean + rng.standard_normal(n) * s).astype(np.float32)

    out = {"embed": m(V, hid, embed_scale), "layers": [], "final_norm": vec(hid)}
    for _ in range(layers):
        L = {"attn_norm": vec(hid), "q": m(H * D, hid), "k": m(KV * D, hid), "v": m(KV * D, hid), "o": m(hid, H * D, 4 / np.sqrt(H * D)),
             "mlp_norm": vec(hid), "gate": m(ffn, hid), "up": m(ffn, hid), "down": m(hid, ffn, 4 / np.sqrt(ffn))}
        if biases:
            L.update(q_bias=vec(H * D, 0, 0.5), k_bias=vec(KV * D, 0, 0.5), v_bias=vec(KV * D, 0, 0.5))
        out["layers"].append(L)
    if not tied:
        out["head"] = m(V, hid, 0.2)
    return out


def gguf_py_blocks():
    """blocks.json: random blocks of each type with the `gguf` package's dequantisation (an independent reference for
    the TypeScript one, Q6_K included, which no fixture model uses). Kept as committed when gguf is not importable."""
    try:
        sys.path.insert(0, "/tmp/gguf-py")
        from gguf.quants import dequantize
        from gguf import GGMLQuantizationType as T
    except Exception:
        print("gguf-py not importable: blocks.json left as it is")
        return
    rng = np.random.default_rng(1403)
    out = []
    for name, t, block, nbytes, d_at in (("F16", T.F16, 1, 2, []), ("Q8_0", T.Q8_0, 32, 34, [0]), ("Q4_0", T.Q4_0, 32, 18, [0]),
                                         ("Q4_K", T.Q4_K, 256, 144, [0, 2]), ("Q6_K", T.Q6_K, 256, 210, [208])):
        n, k = 3, 512 if block == 256 else (64 if block == 32 else 45)
        raw = rng.integers(0, 256, size=(n, k // block * nbytes), dtype=np.uint8)
        rows = raw.reshape(n, k // block, nbytes)
        for o in d_at:  # scales: finite halves of a sensible size
            rows[:, :, o:o + 2] = f16(rng.uniform(-0.05, 0.05, size=(n, k // block))).view(np.uint8).reshape(n, k // block, 2)
        if name == "F16":
            rows[:] = f16(rng.standard_normal((n, k))).view(np.uint8).reshape(n, k, 2)
        values = dequantize(rows.reshape(n, -1), t).reshape(n, k).astype(np.float32)
        out.append({"type": name, "n": n, "k": k, "hex": rows.tobytes().hex(), "values": [float(v) for v in values.reshape(-1)]})
    with open(os.path.join(OUT, "blocks.json"), "w") as f:
        json.dump(out, f)
    print("blocks.json from gguf-py")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    ref = {"steps": 12, "models": {}}
    tokens, scores = read_tok512()
    llama_cfg = dict(hidden=256, heads=4, kv_heads=2, head_dim=64, ffn=256, vocab=512, eps=1e-5, theta=10000.0, ctx=256)
    llama = random_model(np.random.default_rng(1401), llama_cfg, 1, False, True, embed_scale=0.1)
    prompts = {"bos": [1], "story": [1, 403, 407, 261, 378]}
    for t in (F32, F16, Q8_0, Q4_0, Q4_K):
        name = f"tiny-llama-{TYPE_NAMES[t].lower()}"
        types = {r: t for r in ("embed", "q", "k", "v", "o", "gate", "up", "down", "head")}
        path = os.path.join(OUT, name + ".gguf")
        W, size = build(path, "llama", llama_cfg, llama, types, spm_kv(tokens, scores), True)
        record(ref, name, path, size, W, llama_cfg, prompts)

    qcfg = dict(hidden=256, heads=4, kv_heads=2, head_dim=64, ffn=256, vocab=None, eps=1e-6, theta=1000000.0, ctx=512)
    vocab_tokens, bpe = bpe_kv()
    qcfg["vocab"] = len(vocab_tokens)
    qwen = random_model(np.random.default_rng(1402), qcfg, 2, True, False)
    hello = [vocab_tokens.index("Hello")]
    qprompts = {"hello": hello, "chat": [vocab_tokens.index("<|im_start|>")] + hello}
    mixed = {"embed": Q8_0, "q": Q4_K, "k": Q8_0, "v": Q4_0, "o": F16, "gate": Q4_K, "up": F32, "down": Q4_0, "head": Q4_K}
    for name, types in (("tiny-qwen2-mixed", mixed), ("tiny-qwen2-q4_k", {r: Q4_K for r in mixed})):
        path = os.path.join(OUT, name + ".gguf")
        W, size = build(path, "qwen2", qcfg, qwen, types, bpe, False)
        record(ref, name, path, size, W, qcfg, qprompts)

    stories(ref, tokens, scores)
    gguf_py_blocks()
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print("wrote", OUT)


def record(ref, name, path, size, W, cfg, prompts, steps=None):
    entry = {"file": os.path.basename(path), "bytes": size, "sha256": sha(path), "greedy": []}
    for pname, ids in prompts.items():
        toks, top10, gap = greedy(W, cfg, ids, steps or ref["steps"])
        entry["greedy"].append({"prompt": pname, "input_ids": ids, "new_tokens": toks, "top10": top10, "min_gap": gap})
        assert gap > 2e-3, f"{name}/{pname}: a near tie ({gap}) would make the check meaningless"
    ref["models"][name] = entry
    print(name, size, "bytes", [g["new_tokens"][:6] for g in entry["greedy"]])


def stories(ref, tokens, scores):
    with open(os.path.join(STORIES, "stories260K.bin"), "rb") as f:
        raw = f.read()
    dim, hid, layers, H, KV, V, seq = struct.unpack_from("<7i", raw, 0)
    D = dim // H
    off = 28

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = np.frombuffer(raw, np.float32, n, off).reshape(shape).copy()
        off += 4 * n
        return a

    embed = take(V, dim)
    ra, wq, wk, wv, wo = take(layers, dim), take(layers, dim, dim), take(layers, KV * D, dim), take(layers, KV * D, dim), take(layers, dim, dim)
    rf, w1, w2, w3, fn = take(layers, dim), take(layers, hid, dim), take(layers, dim, hid), take(layers, hid, dim), take(dim)
    weights = {"embed": embed, "final_norm": fn, "layers": [
        {"attn_norm": ra[i], "q": wq[i], "k": wk[i], "v": wv[i], "o": wo[i], "mlp_norm": rf[i], "gate": w1[i], "up": w3[i], "down": w2[i]}
        for i in range(layers)]}
    cfg = dict(hidden=dim, heads=H, kv_heads=KV, head_dim=D, ffn=hid, vocab=V, eps=1e-5, theta=10000.0, ctx=seq, pairs=True)
    prompt = [1, 403, 407, 261, 378]
    for t in (F32, Q8_0):
        name = f"stories260k-{TYPE_NAMES[t].lower()}"
        types = {r: t for r in ("embed", "q", "k", "v", "o", "gate", "up", "down", "head")}
        if t == Q8_0:
            types["down"] = F32  # 172-wide rows are not whole Q8_0 blocks
        path = os.path.join(OUT, name + ".gguf")
        # llama.c's rows are already in GGUF's adjacent-pair order: the torch reference rotates pairs, nothing permuted.
        W, size = build(path, "llama", cfg, weights, types, spm_kv(tokens, scores), True, permute=False)
        entry = {"file": os.path.basename(path), "bytes": size, "sha256": sha(path), "greedy": []}
        toks, top10, gap = greedy(W, cfg, prompt, 30)
        entry["greedy"].append({"prompt": "once", "input_ids": prompt, "new_tokens": toks, "top10": top10, "min_gap": gap})
        ref["models"][name] = entry
        print(name, size, "bytes", toks)


if __name__ == "__main__":
    main()
