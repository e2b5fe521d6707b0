"""Tiny Llama-layout model.safetensors fixtures in BF16 and F16 (the dtypes Hugging Face checkpoints ship in), with
torch greedy references, for the WGSL decoder's 16-bit weight storage (tests/unit/wgsl-llm-safetensors.test.ts).

    /usr/bin/python3 scripts/fixtures_llama_safetensors.py   (also run by scripts/make_fixtures.py)

Writes, deterministically (fixed seed), under tests/fixtures/llm-safetensors/:
  config.json                  HF LlamaConfig: hidden 272 (> 256, so the GEMVs over hidden take the 32-lane row
                               path), 2 layers, 4 heads of 68 / 2 KV heads (GQA), intermediate 135 (odd: the down
                               projection's rows start mid-word), vocab 263, tied head
  model-bf16.safetensors       the weights rounded to bfloat16, torch's names and [out, in] layout
  model-f16.safetensors        the same weights rounded to IEEE float16
  reference.json               per dtype: the prompt, torch's 16 greedy tokens, the smallest top-1/top-2 logit gap over
                               those steps, and the first step's top-10 logits

torch computes in float32 over the 16-bit-rounded weights (norms included), which is what the decoder does (it widens
each weight exactly in its kernels). The model classes are scripts/fixtures_llama.py's (its RMSNorm, rotate-half RoPE,
GQA, SwiGLU, tied lm_head) and its random init. The safetensors files are written by hand (8-byte header length,
JSON header, raw little-endian bytes): the format is that small and the `safetensors` package is not installed here.
"""

import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_llama as fl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "llm-safetensors")
SEED = 1414
NEW_TOKENS = 16
CFG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "hidden_size": 272, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 68,
    "intermediate_size": 135, "vocab_size": 263, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "max_position_embeddings": 128, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
}
PROMPT = [1, 17, 200, 5, 93, 141, 262, 8, 77]
DTYPES = {"bf16": (torch.bfloat16, "BF16"), "f16": (torch.float16, "F16")}


def greedy(model, prompt, n_new):
    """Greedy decoding by full recompute (no cache): tokens, first-step logits, smallest top-1/top-2 gap."""
    seq, first, gap = list(prompt), None, float("inf")
    kv, hd, layers = CFG["num_key_value_heads"], CFG["head_dim"], CFG["num_hidden_layers"]
    with torch.no_grad():
        for _ in range(n_new):
            x = torch.tensor([seq], dtype=torch.int64)
            m = torch.ones_like(x)
            past = [torch.zeros(1, kv, 0, hd) for _ in range(2 * layers)]
            logits = model(x, m, fl.positions(m), *past)[0][0, -1]
            first = logits.clone() if first is None else first
            gap = min(gap, fl.margin(logits))
            seq.append(int(logits.argmax()))
    return seq[len(prompt):], first, gap


def save_safetensors(path, tensors):
    """tensors: [(name, torch tensor in its storage dtype, safetensors dtype name)]."""
    header, blobs, offset = {}, [], 0
    for name, t, dtype in tensors:
        raw = t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # as the reference writer pads: data starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def build():
    os.makedirs(OUT, exist_ok=True)
    model = fl.TinyLlamaForCausalLM(CFG)
    fl.init_weights(model, SEED)
    reference = {"config": "config.json", "prompt_ids": PROMPT, "new_tokens_count": NEW_TOKENS}
    for key, (dtype, st_name) in DTYPES.items():
        rounded = fl.TinyLlamaForCausalLM(CFG)
        rounded.load_state_dict(model.state_dict())
        with torch.no_grad():
            for p in rounded.parameters():
                p.copy_(p.to(dtype).float())
        tokens, first, gap = greedy(rounded, PROMPT, NEW_TOKENS)
        tensors = [(name, p.detach().to(dtype), st_name) for name, p in rounded.state_dict().items()
                   if name != "inv_freq"]
        save_safetensors(os.path.join(OUT, f"model-{key}.safetensors"), tensors)
        reference[key] = {"model_file": f"model-{key}.safetensors", "new_tokens": tokens, "min_margin": fl.r7(gap),
                          "top10_first_step": fl.topk(first, 10)}
        print(f"{key}: tokens {tokens}, smallest top-1/top-2 gap {gap:.4g}")
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
        f.write("\n")
    fl.write_json(os.path.join(OUT, "reference.json"), reference)


if __name__ == "__main__":
    build()
