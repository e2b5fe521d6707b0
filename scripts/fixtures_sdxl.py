"""Hearth's tiny SDXL fixture: every part of an Optimum ONNX SDXL export at toy size (random weights, real I/O names),
a CLIP-style byte-level BPE tokenizer, the scheduler config, and torch references for the parts and for whole
K_DPMPP_2M runs (text-to-image, image-to-image, ControlNet).

Run by scripts/make_fixtures.py (last); also runnable alone:

    /usr/bin/python3 scripts/fixtures_sdxl.py

It writes, deterministically (fixed seeds):

  public/models/hearth-tiny-sdxl/
      model_index.json                  StableDiffusionXLPipeline-style component index
      text_encoder/model.onnx           CLIP-L-like text encoder (CLIPTextModel)
      text_encoder_2/model.onnx         CLIP-G-like text encoder with projection (CLIPTextModelWithProjection)
      unet/model.onnx                   UNet2DConditionModel-like, `timestep` float32 rank 0
      unet/model_int64ts.onnx           the same weights, `timestep` int64 [1] (older exports)
      unet/model_controlnet.onnx        the same weights, plus ControlNet residual inputs
      controlnet/model.onnx             ControlNetModel-like (names chosen here, see the README)
      vae_decoder/model.onnx            AutoencoderKL decoder (post_quant_conv included)
      vae_encoder/model.onnx            AutoencoderKL encoder (quant_conv included) -> latent_parameters
      */config.json                     HF-style configs (vae_decoder/config.json carries scaling_factor)
      tokenizer/, tokenizer_2/          tokenizer.json (+ vocab.json, merges.txt, tokenizer_config.json,
                                        special_tokens_map.json); same vocabulary, different pad token (as SDXL)
      scheduler/scheduler_config.json   SDXL's EulerDiscreteScheduler config

  tests/fixtures/sdxl/reference.json    torch references (tensors as base64 little-endian float32 / uint8); its
                                        `seeded` section uses noise made from a seed alone by a bit-for-bit port of
                                        src/util/rng.ts + src/engines/image/noise.ts (gaussian_noise below)

See tests/fixtures/sdxl/README.md for every name, shape and formula.

The graphs are checked with onnx.checker here and run against torch by onnxruntime when it is importable (Debian's
python3 has no onnxruntime: then tests/unit/fixture-sdxl.test.ts does that check, in onnxruntime-web).
"""

import base64
import json
import math
import os
import re
import sys
import time
import unicodedata

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAME = "hearth-tiny-sdxl"
MODEL_DIR = os.path.join(ROOT, "public", "models", MODEL_NAME)
REF_DIR = os.path.join(ROOT, "tests", "fixtures", "sdxl")

OPSET = 17
IR_VERSION = 8
SEED = 5005
MAX_LEN = 77
NEG = -1e9  # additive causal-mask bias

# ----- sizes ---------------------------------------------------------------------------------------------------------
TE1 = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 64,
       "hidden_act": "quick_gelu"}
TE2 = {"hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 96,
       "hidden_act": "gelu", "projection_dim": 48}
CROSS_DIM = TE1["hidden_size"] + TE2["hidden_size"]  # 80: penultimate hidden states of both, concatenated
POOLED_DIM = TE2["projection_dim"]  # 48
LATENT_CH = 4
GROUPS = 4  # GroupNorm groups everywhere
C0, C1 = 16, 32  # UNet block channels
TIME_IN = 32  # sinusoidal timestep embedding width (flip_sin_to_cos, shift 0)
TEMB = 64  # time embedding width
ADD_TIME = 16  # sinusoidal width per time_id (addition_time_embed_dim)
HEAD_DIM = 8
VAE_CH = (8, 16, 16, 16)  # 3 downsamples / upsamples: factor 8
SCALING_FACTOR = 0.13025
CN_EMB_CH = (8, 16, 16, 32)  # controlnet_conditioning_embedding_out_channels

SCHEDULER_CONFIG = {
    "_class_name": "EulerDiscreteScheduler",
    "_diffusers_version": "0.19.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

# ----- prompts and run settings ------------------------------------------------------------------------------------
PROMPT = "A lighthouse on a cliff, at sunset: 2 red boats!"
NEGATIVE = ""
LONG_PROMPT = ("a photo of a small red house in the forest near a river, with snow on the mountain, a blue sky, "
               "two birds, an old tree, soft light, warm colors, and a cat sitting by the door at night; "
               "highly detailed painting, trending on art station, 4k, sharp focus, golden hour, cinematic, "
               "beautiful, dramatic clouds over the sea and a lighthouse on a cliff")
HEIGHT = WIDTH = 64
STEPS = 10
CFG_SCALE = 7.0
ADD_TIME_IDS = [64.0, 64.0, 0.0, 0.0, 64.0, 64.0]  # original_size + crops_coords_top_left + target_size
SIGMA_STEPS = (10, 20, 30)
RHO = 7.0
CONDITIONING_SCALE = 0.8
SCHEDULE_EPS = 1e-6  # floor(n * fraction + SCHEDULE_EPS): see README "Step schedules"
SEEDED_SEED = 42  # the `seeded` references: noise from gaussianNoise(seed), as the pipeline makes it

# ======================================================================================================================
# Tokenizer: CLIP's byte-level BPE (lowercase, "</w>" end-of-word suffix), with a small vocabulary
# ======================================================================================================================


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()

CORPUS = """
a photo of a cat sitting on a red chair in the garden, highly detailed, sharp focus, golden hour
a lighthouse on a cliff at sunset with boats on the sea and dramatic clouds
a painting of a mountain landscape with a river, a forest and snow, trending on art station
portrait of a woman with long hair, soft light, studio photo, 4k, cinematic, beautiful
an old house in the forest at night with warm light in the window and stars in the sky
a small blue bird on a tree branch, spring flowers, macro photo, bokeh
a city street in the rain with neon lights, people with umbrellas, reflections, night
a bowl of fruit on a wooden table, still life, oil painting, dark background
a red sports car on a road near the ocean, sunny day, blue sky, fast motion
a dog running on the beach with waves and sand, happy, morning light
an astronaut riding a horse on the moon, digital art, stars and planets
a castle on a hill surrounded by fog, fantasy, epic, matte painting
a cup of coffee and a book on a table by the window, cozy, morning
two boats on a lake with mountains and trees, reflection, calm water, sunrise
a robot reading a newspaper in a cafe, illustration, colorful, detailed
a field of yellow flowers under a blue sky with white clouds, summer
a ship in a storm on the sea, waves, lightning, dark clouds, dramatic
a green forest path with sun rays through the trees, morning mist
a white cat and a black dog sleeping together on a sofa, cute, soft
a winter village with snow on the roofs and smoke from the chimneys, evening
a close up of an eye with colorful iris, macro, high resolution, detailed
a bridge over a river in the city at sunset, orange light, long exposure
an orange fox in the snow, wildlife photo, sharp, national geographic
a cliff by the sea with a lighthouse and a red boat, sunset, photo
blurry, low quality, ugly, bad anatomy, watermark, text, deformed, cropped
""".strip()

N_MERGES = 486  # 512 byte symbols + 486 merges + 2 specials = vocab 1000
BOS_TOKEN, EOS_TOKEN = "<|startoftext|>", "<|endoftext|>"
SPLIT_REGEX = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def clip_normalize(text):
    """NFC, runs of whitespace -> one space, lowercase (the normalizer of CLIP's tokenizer.json)."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\s+", " ", text)
    return text.lower()


def _is_l(ch):
    return unicodedata.category(ch).startswith("L")


def _is_n(ch):
    return unicodedata.category(ch).startswith("N")


def clip_split(text):
    """CLIP's pre-tokenizer regex (SPLIT_REGEX), matches kept, the rest (whitespace) dropped; hand-written because
    Debian's python3 has no `regex` module for \\p{L}."""
    out, i, n = [], 0, len(text)
    while i < n:
        hit = None
        for lit in (BOS_TOKEN, EOS_TOKEN, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"):
            if text.startswith(lit, i):
                hit = lit
                break
        if hit is not None:
            out.append(hit)
            i += len(hit)
            continue
        ch = text[i]
        j = i + 1
        if _is_l(ch):
            while j < n and _is_l(text[j]):
                j += 1
        elif _is_n(ch):
            pass
        elif not ch.isspace():
            while j < n and not text[j].isspace() and not _is_l(text[j]) and not _is_n(text[j]):
                j += 1
        else:
            i = j
            continue
        out.append(text[i:j])
        i = j
    return out


def word_symbols(piece):
    chars = [BYTE_ENC[b] for b in piece.encode("utf-8")]
    chars[-1] += "</w>"
    return chars


def train_merges(corpus, n_merges):
    counts = {}
    for piece in clip_split(clip_normalize(corpus)):
        key = tuple(word_symbols(piece))
        counts[key] = counts.get(key, 0) + 1
    words = dict(counts)
    merges = []
    while len(merges) < n_merges:
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        new_words = {}
        for w, c in words.items():
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and (w[k], w[k + 1]) == best:
                    out.append(w[k] + w[k + 1])
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


def build_vocab(merges):
    base = list(BYTE_ENC.values())
    toks = base + [t + "</w>" for t in base] + ["".join(m) for m in merges] + [BOS_TOKEN, EOS_TOKEN]
    vocab = {}
    for t in toks:
        assert t not in vocab, t
        vocab[t] = len(vocab)
    return vocab


def bpe(piece, ranks):
    """CLIP's reference bpe(): repeatedly merge the lowest-ranked adjacent pair (all its occurrences)."""
    word = word_symbols(piece)
    while len(word) > 1:
        pairs = [(ranks.get((a, b), math.inf), k) for k, (a, b) in enumerate(zip(word, word[1:]))]
        best_rank = min(p[0] for p in pairs)
        if best_rank == math.inf:
            break
        a, b = next((word[k], word[k + 1]) for r, k in pairs if r == best_rank)
        out, k = [], 0
        while k < len(word):
            if k + 1 < len(word) and word[k] == a and word[k + 1] == b:
                out.append(a + b)
                k += 2
            else:
                out.append(word[k])
                k += 1
        word = out
    return word


class ClipTokenizer:
    def __init__(self, merges):
        self.merges = merges
        self.vocab = build_vocab(merges)
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.bos = self.vocab[BOS_TOKEN]
        self.eos = self.vocab[EOS_TOKEN]

    def encode(self, text):
        """Token ids without specials (what tokenizer.json's model produces, before the post-processor)."""
        ids = []
        for piece in clip_split(clip_normalize(text)):
            if piece in (BOS_TOKEN, EOS_TOKEN):
                ids.append(self.vocab[piece])
                continue
            ids.extend(self.vocab[t] for t in bpe(piece, self.ranks))
        return ids

    def pipeline_ids(self, text, pad_id):
        """What the SDXL pipeline feeds the text encoders: BOS + ids[:75] + EOS, padded with pad_id to 77."""
        ids = [self.bos] + self.encode(text)[: MAX_LEN - 2] + [self.eos]
        return ids + [pad_id] * (MAX_LEN - len(ids))

    def tokenizer_json(self):
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": self.vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True}
                for t in (BOS_TOKEN, EOS_TOKEN)
            ],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                {"type": "Lowercase"},
            ]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Removed", "invert": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ]},
            "post_processor": {"type": "RobertaProcessing", "sep": [EOS_TOKEN, self.eos],
                               "cls": [BOS_TOKEN, self.bos], "trim_offsets": False, "add_prefix_space": False},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": EOS_TOKEN, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False,
                      "vocab": self.vocab, "merges": [f"{a} {b}" for a, b in self.merges]},
        }


def tokenizer_files(tok, out_dir, pad_token):
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "tokenizer.json"), tok.tokenizer_json())
    write_json(os.path.join(out_dir, "vocab.json"), tok.vocab)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in tok.merges:
            f.write(f"{a} {b}\n")
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": pad_token}
    write_json(os.path.join(out_dir, "special_tokens_map.json"), special)
    write_json(os.path.join(out_dir, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": BOS_TOKEN, "clean_up_tokenization_spaces": True,
        "do_lower_case": True, "eos_token": EOS_TOKEN, "errors": "replace", "model_max_length": MAX_LEN,
        "pad_token": pad_token, "tokenizer_class": "CLIPTokenizer", "unk_token": EOS_TOKEN})


# ======================================================================================================================
# Models in plain torch
# ======================================================================================================================


class ClipAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, bias):
        b, n = x.shape[0], x.shape[1]

        def split(t):
            return t.reshape(b, n, self.heads, self.hd).transpose(1, 2)

        q = split(self.q_proj(x)) * (self.hd ** -0.5)
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) + bias, dim=-1)
        return self.out_proj(torch.matmul(a, v).transpose(1, 2).reshape(b, n, self.heads * self.hd))


class ClipLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        self.self_attn = ClipAttention(d, c["num_attention_heads"])
        self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = nn.Linear(d, c["intermediate_size"])
        self.fc2 = nn.Linear(c["intermediate_size"], d)
        self.quick = c["hidden_act"] == "quick_gelu"

    def forward(self, x, bias):
        x = x + self.self_attn(self.layer_norm1(x), bias)
        h = self.fc1(self.layer_norm2(x))
        h = h * torch.sigmoid(1.702 * h) if self.quick else F.gelu(h)
        return x + self.fc2(h)


class ClipTextModel(nn.Module):
    """CLIPTextModel (projection_dim None) or CLIPTextModelWithProjection, Optimum's output order."""

    def __init__(self, c, vocab_size):
        super().__init__()
        d = c["hidden_size"]
        self.token_embedding = nn.Embedding(vocab_size, d)
        self.position_embedding = nn.Embedding(MAX_LEN, d)
        self.register_buffer("position_ids", torch.arange(MAX_LEN).unsqueeze(0), persistent=False)
        self.register_buffer("causal", torch.full((MAX_LEN, MAX_LEN), NEG).triu(1), persistent=False)
        self.layers = nn.ModuleList([ClipLayer(c) for _ in range(c["num_hidden_layers"])])
        self.final_layer_norm = nn.LayerNorm(d, eps=1e-5)
        pd = c.get("projection_dim")
        self.text_projection = nn.Linear(d, pd, bias=False) if pd else None

    def forward(self, input_ids):
        n = input_ids.shape[1]
        x = self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, :n])
        bias = self.causal[:n, :n]
        hidden = [x]
        for layer in self.layers:
            x = layer(x, bias)
            hidden.append(x)
        last = self.final_layer_norm(x)
        # EOS pooling as transformers' CLIP: argmax of the ids (EOS has the highest id), cast to int32 for ONNX
        eos = input_ids.to(torch.int32).argmax(dim=-1)
        pooled = last[torch.arange(last.shape[0]), eos]
        if self.text_projection is not None:
            return (self.text_projection(pooled), last, *hidden)
        return (last, pooled, *hidden)


def gn(c, eps=1e-5):
    return nn.GroupNorm(GROUPS, c, eps=eps)


def sinusoid(t, freqs):
    """diffusers get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0: [cos, sin]."""
    arg = t.unsqueeze(-1) * freqs
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


def freqs_for(dim):
    half = dim // 2
    return torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)


class Resnet(nn.Module):
    def __init__(self, cin, cout, temb=None, eps=1e-5):
        super().__init__()
        self.norm1 = gn(cin, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = gn(cout, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(F.silu(emb)).unsqueeze(-1).unsqueeze(-1)
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class Attention(nn.Module):
    """diffusers Attention: to_q/to_k/to_v without bias, to_out with bias."""

    def __init__(self, qdim, kvdim, heads, bias=False):
        super().__init__()
        self.heads, self.hd = heads, qdim // heads
        self.to_q = nn.Linear(qdim, qdim, bias=bias)
        self.to_k = nn.Linear(kvdim, qdim, bias=bias)
        self.to_v = nn.Linear(kvdim, qdim, bias=bias)
        self.to_out = nn.Linear(qdim, qdim)

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        b, n, m = x.shape[0], x.shape[1], ctx.shape[1]
        q = self.to_q(x).reshape(b, n, self.heads, self.hd).transpose(1, 2)
        k = self.to_k(ctx).reshape(b, m, self.heads, self.hd).transpose(1, 2)
        v = self.to_v(ctx).reshape(b, m, self.heads, self.hd).transpose(1, 2)
        a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (self.hd ** -0.5), dim=-1)
        return self.to_out(torch.matmul(a, v).transpose(1, 2).reshape(b, n, self.heads * self.hd))


class Transformer2D(nn.Module):
    """Transformer2DModel (use_linear_projection) with one BasicTransformerBlock: self-attn, cross-attn, GEGLU."""

    def __init__(self, c, cross):
        super().__init__()
        heads = c // HEAD_DIM
        self.norm = gn(c, 1e-6)
        self.proj_in = nn.Linear(c, c)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)
        self.attn1 = Attention(c, c, heads)
        self.attn2 = Attention(c, cross, heads)
        self.ff_proj = nn.Linear(c, 8 * c)  # GEGLU: 2 x inner (4c)
        self.ff_out = nn.Linear(4 * c, c)
        self.proj_out = nn.Linear(c, c)

    def forward(self, x, ehs):
        b, c, h, w = x.shape
        res = x
        x = self.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c)
        x = self.proj_in(x)
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ehs)
        hidden, gate = self.ff_proj(self.norm3(x)).chunk(2, dim=-1)
        x = x + self.ff_out(hidden * F.gelu(gate))
        x = self.proj_out(x).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return x + res


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.linear_1 = nn.Linear(cin, cout)
        self.linear_2 = nn.Linear(cout, cout)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class UNetEncoderHalf(nn.Module):
    """conv_in, time + added (SDXL text_time) embeddings, down blocks, mid block: shared by UNet and ControlNet."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT_CH, C0, 3, padding=1)
        self.register_buffer("time_freqs", freqs_for(TIME_IN), persistent=False)
        self.register_buffer("add_freqs", freqs_for(ADD_TIME), persistent=False)
        self.time_embedding = TimestepEmbedding(TIME_IN, TEMB)
        self.add_embedding = TimestepEmbedding(POOLED_DIM + 6 * ADD_TIME, TEMB)
        # down_blocks.0 = CrossAttnDownBlock2D (1 resnet + 1 transformer, downsampler); down_blocks.1 = DownBlock2D
        self.down0_resnet = Resnet(C0, C0, TEMB)
        self.down0_attn = Transformer2D(C0, CROSS_DIM)
        self.down0_downsample = nn.Conv2d(C0, C0, 3, stride=2, padding=1)
        self.down1_resnet = Resnet(C0, C1, TEMB)
        # mid_block = UNetMidBlock2DCrossAttn
        self.mid_resnet0 = Resnet(C1, C1, TEMB)
        self.mid_attn = Transformer2D(C1, CROSS_DIM)
        self.mid_resnet1 = Resnet(C1, C1, TEMB)

    def embed(self, sample, timestep, text_embeds, time_ids):
        b = sample.shape[0]
        t = timestep.reshape(-1).to(torch.float32).expand(b)  # rank-0 (or [1]) timestep, broadcast to the batch
        temb = self.time_embedding(sinusoid(t, self.time_freqs))
        tid = sinusoid(time_ids.reshape(-1), self.add_freqs).reshape(b, 6 * ADD_TIME)
        return temb + self.add_embedding(torch.cat([text_embeds, tid], dim=-1))

    def encode(self, h, emb, ehs):
        res = [h]
        h = self.down0_attn(self.down0_resnet(h, emb), ehs)
        res.append(h)
        h = self.down0_downsample(h)
        res.append(h)
        h = self.down1_resnet(h, emb)
        res.append(h)
        h = self.mid_resnet1(self.mid_attn(self.mid_resnet0(h, emb), ehs), emb)
        return res, h


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = UNetEncoderHalf()
        # up_blocks.0 = UpBlock2D (2 resnets, upsampler); up_blocks.1 = CrossAttnUpBlock2D (2 resnets + transformers)
        self.up0_resnet0 = Resnet(C1 + C1, C1, TEMB)
        self.up0_resnet1 = Resnet(C1 + C0, C1, TEMB)
        self.up0_upsample_conv = nn.Conv2d(C1, C1, 3, padding=1)
        self.up1_resnet0 = Resnet(C1 + C0, C0, TEMB)
        self.up1_attn0 = Transformer2D(C0, CROSS_DIM)
        self.up1_resnet1 = Resnet(C0 + C0, C0, TEMB)
        self.up1_attn1 = Transformer2D(C0, CROSS_DIM)
        self.conv_norm_out = gn(C0)
        self.conv_out = nn.Conv2d(C0, LATENT_CH, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, *residuals):
        emb = self.enc.embed(sample, timestep, text_embeds, time_ids)
        res, h = self.enc.encode(self.enc.conv_in(sample), emb, encoder_hidden_states)
        if residuals:  # ControlNet: added to the skip connections and to the mid block output, as diffusers does
            res = [r + a for r, a in zip(res, residuals[:4])]
            h = h + residuals[4]
        h = self.up0_resnet0(torch.cat([h, res[3]], dim=1), emb)
        h = self.up0_resnet1(torch.cat([h, res[2]], dim=1), emb)
        h = F.interpolate(h, size=(res[1].shape[2], res[1].shape[3]), mode="nearest")  # any latent size
        h = self.up0_upsample_conv(h)
        h = self.up1_attn0(self.up1_resnet0(torch.cat([h, res[1]], dim=1), emb), encoder_hidden_states)
        h = self.up1_attn1(self.up1_resnet1(torch.cat([h, res[0]], dim=1), emb), encoder_hidden_states)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class UNetInt64Timestep(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        return self.unet(sample, timestep.to(torch.float32), encoder_hidden_states, text_embeds, time_ids)


class TinyControlNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = UNetEncoderHalf()
        ch = CN_EMB_CH
        self.cond_conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        blocks = []
        for i in range(len(ch) - 1):
            blocks.append(nn.Conv2d(ch[i], ch[i], 3, padding=1))
            blocks.append(nn.Conv2d(ch[i], ch[i + 1], 3, padding=1, stride=2))
        self.cond_blocks = nn.ModuleList(blocks)
        self.cond_conv_out = nn.Conv2d(ch[-1], C0, 3, padding=1)
        self.controlnet_down_blocks = nn.ModuleList([nn.Conv2d(c, c, 1) for c in (C0, C0, C0, C1)])
        self.controlnet_mid_block = nn.Conv2d(C1, C1, 1)

    def cond_embedding(self, cond):
        h = F.silu(self.cond_conv_in(cond))
        for blk in self.cond_blocks:
            h = F.silu(blk(h))
        return self.cond_conv_out(h)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, controlnet_cond,
                conditioning_scale):
        emb = self.enc.embed(sample, timestep, text_embeds, time_ids)
        h = self.enc.conv_in(sample) + self.cond_embedding(controlnet_cond)
        res, mid = self.enc.encode(h, emb, encoder_hidden_states)
        outs = [zc(r) * conditioning_scale for zc, r in zip(self.controlnet_down_blocks, res)]
        return (*outs, self.controlnet_mid_block(mid) * conditioning_scale)


class VaeAttention(nn.Module):
    """The VAE mid-block attention: GroupNorm, one head over all channels, residual."""

    def __init__(self, c):
        super().__init__()
        self.group_norm = gn(c, 1e-6)
        self.attn = Attention(c, c, 1, bias=True)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        y = self.attn(y).transpose(1, 2).reshape(b, c, h, w)
        return x + y


class VaeEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        ch = VAE_CH
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.resnets = nn.ModuleList([Resnet(ch[max(i - 1, 0)], ch[i], eps=1e-6) for i in range(len(ch))])
        self.downsamplers = nn.ModuleList([nn.Conv2d(ch[i], ch[i], 3, stride=2) for i in range(len(ch) - 1)])
        self.mid_resnet0 = Resnet(ch[-1], ch[-1], eps=1e-6)
        self.mid_attn = VaeAttention(ch[-1])
        self.mid_resnet1 = Resnet(ch[-1], ch[-1], eps=1e-6)
        self.conv_norm_out = gn(ch[-1], 1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 2 * LATENT_CH, 3, padding=1)
        self.quant_conv = nn.Conv2d(2 * LATENT_CH, 2 * LATENT_CH, 1)

    def forward(self, sample):
        h = self.conv_in(sample)
        for i, r in enumerate(self.resnets):
            h = r(h)
            if i < len(self.downsamplers):
                h = self.downsamplers[i](F.pad(h, (0, 1, 0, 1)))  # diffusers Downsample2D(padding=0)
        h = self.mid_resnet1(self.mid_attn(self.mid_resnet0(h)))
        h = self.conv_out(F.silu(self.conv_norm_out(h)))
        return self.quant_conv(h)


class VaeDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        ch = tuple(reversed(VAE_CH))  # 16, 16, 16, 8
        self.post_quant_conv = nn.Conv2d(LATENT_CH, LATENT_CH, 1)
        self.conv_in = nn.Conv2d(LATENT_CH, ch[0], 3, padding=1)
        self.mid_resnet0 = Resnet(ch[0], ch[0], eps=1e-6)
        self.mid_attn = VaeAttention(ch[0])
        self.mid_resnet1 = Resnet(ch[0], ch[0], eps=1e-6)
        self.resnets = nn.ModuleList([Resnet(ch[max(i - 1, 0)], ch[i], eps=1e-6) for i in range(len(ch))])
        self.upsamplers = nn.ModuleList([nn.Conv2d(ch[i], ch[i], 3, padding=1) for i in range(len(ch) - 1)])
        self.conv_norm_out = gn(ch[-1], 1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 3, 3, padding=1)

    def forward(self, latent_sample):
        h = self.conv_in(self.post_quant_conv(latent_sample))
        h = self.mid_resnet1(self.mid_attn(self.mid_resnet0(h)))
        for i, r in enumerate(self.resnets):
            h = r(h)
            if i < len(self.upsamplers):
                h = self.upsamplers[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def init_weights(model, seed, emb_std=(1.0, 0.3)):
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
                normal(m.weight, 0.1, 1.0)
                normal(m.bias, 0.1)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                normal(m.weight, 1.0 / math.sqrt(fan_in))
                if m.bias is not None:
                    normal(m.bias, 0.05)
            elif isinstance(m, nn.Embedding):
                normal(m.weight, emb_std[0] if "token" in name else emb_std[1])


# ======================================================================================================================
# Schedule and sampler (k-diffusion's get_sigmas_karras, CompVis eps wrapper, sample_dpmpp_2m)
# ======================================================================================================================


def train_sigmas(cfg):
    """float64, ascending: sigma_i = sqrt((1 - acp_i) / acp_i), acp = cumprod(1 - beta), scaled_linear betas."""
    n = cfg["num_train_timesteps"]
    s0, s1 = math.sqrt(cfg["beta_start"]), math.sqrt(cfg["beta_end"])
    out, acp = [], 1.0
    for i in range(n):
        beta = (s0 + (i / (n - 1)) * (s1 - s0)) ** 2
        acp *= 1.0 - beta
        out.append(math.sqrt((1.0 - acp) / acp))
    return out


def karras_sigmas(n, sigma_min, sigma_max, rho=RHO):
    min_inv, max_inv = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    out = [(max_inv + (i / (n - 1) if n > 1 else 0.0) * (min_inv - max_inv)) ** rho for i in range(n)]
    return out + [0.0]


def sigma_to_t(sigma, log_sigmas):
    ls = math.log(sigma)
    low = 0
    for i, v in enumerate(log_sigmas):
        if ls - v >= 0:
            low = i
    low = min(low, len(log_sigmas) - 2)
    high = low + 1
    w = (log_sigmas[low] - ls) / (log_sigmas[low] - log_sigmas[high])
    w = min(1.0, max(0.0, w))
    return (1 - w) * low + w * high


def f32(a):
    return np.asarray(a, dtype=np.float64).astype(np.float32)


def schedule_window(n, start, end):
    """Stability-style step schedule -> [first, last] indices into the n+1 sigmas (see README)."""
    first = n - min(n, math.floor(n * start + SCHEDULE_EPS))
    last = n - min(n, math.floor(n * end + SCHEDULE_EPS))
    return first, max(first, last)


def control_keep(i, n, start, end):
    """diffusers' controlnet_keep for a control-guidance window [start, end] (fractions of the n steps)."""
    return 0.0 if (i / n < start or (i + 1) / n > end) else 1.0


def dpmpp_2m(denoise, x, sigmas, trace=None):
    """k-diffusion sample_dpmpp_2m over `sigmas` (a slice of the schedule); float32 state, float64 coefficients.
    denoise(x, sigma, i) -> float32 denoised."""
    old = None
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        d = denoise(x, s, i)
        if s_next == 0:
            x = d.copy()
        else:
            t, t_next = -math.log(s), -math.log(s_next)
            h = t_next - t
            ratio, coeff = s_next / s, -math.expm1(-h)
            if old is None:
                x = f32(ratio * x.astype(np.float64) + coeff * d.astype(np.float64))
            else:
                r = (t - (-math.log(sigmas[i - 1]))) / h
                a, b = 1 + 1 / (2 * r), 1 / (2 * r)
                x = f32(ratio * x.astype(np.float64)
                        + coeff * (a * d.astype(np.float64) - b * old.astype(np.float64)))
        old = d
        if trace is not None:
            trace.append(x.copy())
    return x


# ======================================================================================================================
# Seeded noise: a bit-for-bit port of src/util/rng.ts (createRng: splitmix32 seeding, xoshiro128**) and
# src/engines/image/noise.ts (gaussianNoise: Box-Muller in float64, rounded to float32)
# ======================================================================================================================

U32 = 0xFFFFFFFF
TWO_POW_32 = 4294967296.0
ENCODER_NOISE_XOR = 0x9E3779B9  # image-to-image: the VAE posterior noise of sample k uses seed S_k ^ this


def js_to_uint32(x):
    """JavaScript's `x >>> 0` (ToUint32) for a Number: NaN and +-Infinity -> 0, else trunc(x) mod 2^32."""
    x = float(x)
    if not math.isfinite(x):
        return 0
    return math.trunc(x) % 4294967296


def _imul(a, b):
    """Math.imul on the uint32 representations (the low 32 bits of the product are the same)."""
    return (a * b) & U32


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & U32


class Rng:
    """createRng(seed) of src/util/rng.ts. State words are kept as uint32 (JS keeps some of them as int32: the bit
    patterns, hence every result, are the same)."""

    def __init__(self, seed):
        seed = float(seed)  # a JS Number
        if not math.isfinite(seed):
            raise ValueError(f"seed must be a finite number, got {seed}")
        whole = math.trunc(abs(seed))  # exact integer value of the float
        lo = whole % 4294967296  # whole >>> 0
        hi = (whole >> 32) % 4294967296  # Math.floor(whole / 2^32) >>> 0 (exact: a division by a power of two)
        self._mix = (lo ^ _imul(hi, 0x27D4EB2D)) & U32
        s0, s1, s2, s3 = (self._splitmix32() for _ in range(4))
        if (s0 | s1 | s2 | s3) == 0:
            s0 = 1
        self.s = [s0, s1, s2, s3]

    def _splitmix32(self):
        self._mix = (self._mix + 0x9E3779B9) & U32
        z = self._mix
        z = _imul(z ^ (z >> 16), 0x85EBCA6B)
        z = _imul(z ^ (z >> 13), 0xC2B2AE35)
        return (z ^ (z >> 16)) & U32

    def next_u32(self):
        s0, s1, s2, s3 = self.s
        result = _imul(_rotl(_imul(s1, 5), 7), 9)
        t = (s1 << 9) & U32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def next(self):
        """A float in [0, 1): result / 2^32 (exact in float64)."""
        return self.next_u32() / TWO_POW_32


def gaussian_noise(seed, length):
    """gaussianNoise(seed, length) of src/engines/image/noise.ts -> float32 [length]. float64 arithmetic with the C
    library's log/cos/sin/sqrt; V8's may differ by an ulp now and then (see the README, "Seeded runs")."""
    rng = Rng(js_to_uint32(seed))
    out = [0.0] * length
    two_pi = 2 * math.pi
    for i in range(0, length, 2):
        u1 = max(rng.next(), 1e-12)
        u2 = rng.next()
        r = math.sqrt(-2 * math.log(u1))
        out[i] = r * math.cos(two_pi * u2)
        if i + 1 < length:
            out[i + 1] = r * math.sin(two_pi * u2)
    return np.array(out, dtype=np.float64).astype(np.float32)  # round to nearest even, as a Float32Array store


def sample_seed(seed, k):
    """The seed of sample k (0-based) of a request with `seed`: (seed + k) mod 2^32."""
    return (seed + k) % 4294967296


def encoder_noise_seed(sample_seed_k):
    """The seed of sample k's VAE-encoder posterior noise (image-to-image): S_k ^ 0x9E3779B9, as uint32."""
    return (sample_seed_k ^ ENCODER_NOISE_XOR) & U32


def seeded_latent_noise(seed, samples, h, w):
    """[samples, 4, h, w] float32: row k = gaussianNoise(S_k, 4*h*w), CHW."""
    return np.stack([gaussian_noise(sample_seed(seed, k), LATENT_CH * h * w).reshape(LATENT_CH, h, w)
                     for k in range(samples)])


def seeded_encoder_noise(seed, samples, h, w):
    return np.stack([gaussian_noise(encoder_noise_seed(sample_seed(seed, k)), LATENT_CH * h * w)
                     .reshape(LATENT_CH, h, w) for k in range(samples)])


# ======================================================================================================================
# Helpers
# ======================================================================================================================


def write_json(path, obj, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def tens(a):
    """A float32 tensor as {dtype, shape, b64} (little-endian float32)."""
    a = np.asarray(a, dtype="<f4")  # (np.ascontiguousarray would turn a rank-0 array into shape [1])
    return {"dtype": "float32", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes(order="C")).decode("ascii")}


def u8(a):
    a = np.asarray(a, dtype=np.uint8)
    return {"dtype": "uint8", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes(order="C")).decode("ascii")}


def i64(a):
    a = np.asarray(a, dtype=np.int64)
    return {"dtype": "int64", "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def npf(t):
    return t.detach().numpy().astype(np.float32)


def to_uint8_hwc(decoded):
    """[b,3,H,W] float -> [b,H,W,3] uint8: round(clamp(x/2 + 0.5, 0, 1) * 255), ties to even (numpy)."""
    v = np.clip(decoded.astype(np.float64) / 2 + 0.5, 0.0, 1.0) * 255.0
    return np.round(v).astype(np.uint8).transpose(0, 2, 3, 1)


def image_to_vae_input(img_hwc):
    """uint8 [H,W,3] -> float32 [1,3,H,W] in [-1, 1]: v / 127.5 - 1."""
    return f32(img_hwc.astype(np.float64) / 127.5 - 1.0).transpose(2, 0, 1)[None].copy()


def image_to_control(img_hwc):
    """uint8 [H,W,3] -> float32 [1,3,H,W] in [0, 1]: v / 255."""
    return f32(img_hwc.astype(np.float64) / 255.0).transpose(2, 0, 1)[None].copy()


def init_image_pattern(h, w):
    """A fixed 64x64 RGB test picture: gradients, a checkerboard quadrant, a disc."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1))
    g = (y * 255 // (h - 1))
    b = np.where(((x // 8) + (y // 8)) % 2 == 0, 200, 40)
    b = np.where((x < w // 2) | (y < h // 2), 128 + (x - y) // 2, b)
    disc = (x - 20) ** 2 + (y - 40) ** 2 < 12 ** 2
    img = np.stack([r, g, b], -1)
    img[disc] = [250, 240, 30]
    return np.clip(img, 0, 255).astype(np.uint8)


def edge_map_pattern(h, w):
    """A fixed canny-like control image: white 1-px edges (square outline, circle, diagonal) on black, RGB."""
    y, x = np.mgrid[0:h, 0:w]
    e = np.zeros((h, w), bool)
    e |= ((x == 8) | (x == 31)) & (y >= 8) & (y <= 31)
    e |= ((y == 8) | (y == 31)) & (x >= 8) & (x <= 31)
    d = np.sqrt((x - 44.0) ** 2 + (y - 44.0) ** 2)
    e |= np.abs(d - 12.0) < 0.5
    e |= (x == y) & (x >= 36) & (x < 62) & (d > 13)
    img = np.where(e, 255, 0).astype(np.uint8)
    return np.stack([img] * 3, -1)


def export(model, args, path, input_names, output_names, dynamic_axes):
    with torch.no_grad():
        torch.onnx.export(model, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    om = onnx.load(path)
    om.ir_version = IR_VERSION
    om.producer_name = "hearth/scripts/fixtures_sdxl.py"
    onnx.save(om, path)
    om = onnx.load(path)
    onnx.checker.check_model(om, full_check=True)
    assert [i.name for i in om.graph.input] == input_names, [i.name for i in om.graph.input]
    assert [o.name for o in om.graph.output] == output_names, [o.name for o in om.graph.output]
    assert om.opset_import[0].version == OPSET and om.ir_version == IR_VERSION
    return om


def value_type(v):
    """A graph input/output as {dtype, shape}: dims are numbers or the symbolic names of the dynamic axes."""
    tt = v.type.tensor_type
    dtype = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}[tt.elem_type]
    return {"dtype": dtype, "shape": [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]}


def try_ort():
    try:
        import onnxruntime  # noqa: PLC0415
        return onnxruntime
    except ImportError:
        return None


def build_models(vocab_size):
    """The six torch modules of the fixture, with their fixed random weights (also used by
    scripts/fixtures_sdxl_lora.py): te1, te2, unet, cnet, vae_enc, vae_dec."""
    te1 = ClipTextModel(TE1, vocab_size).eval()
    init_weights(te1, SEED + 1)
    te2 = ClipTextModel(TE2, vocab_size).eval()
    init_weights(te2, SEED + 2)
    unet = TinyUNet().eval()
    init_weights(unet, SEED + 3)
    cnet = TinyControlNet().eval()
    init_weights(cnet, SEED + 4)
    vae_enc = VaeEncoder().eval()
    init_weights(vae_enc, SEED + 5)
    vae_dec = VaeDecoder().eval()
    init_weights(vae_dec, SEED + 6)
    with torch.no_grad():
        # value ranges closer to the real models': decoded pixels mostly in [-1, 1], larger encoder means, logvar
        # around -4 (posterior std ~ 0.14)
        vae_dec.conv_out.weight.mul_(0.5)
        vae_dec.conv_out.bias.zero_()
        vae_enc.quant_conv.weight[:LATENT_CH].mul_(4.0)
        vae_enc.quant_conv.weight[LATENT_CH:].mul_(0.5)
        vae_enc.quant_conv.bias[LATENT_CH:].fill_(-4.0)
        for zc in list(cnet.controlnet_down_blocks) + [cnet.controlnet_mid_block]:
            zc.weight.mul_(0.5)  # real zero-convs start at 0; keep them small but non-zero
    return te1, te2, unet, cnet, vae_enc, vae_dec


def text_conditioning(te1, te2, ids1, ids2):
    """Both text encoders on `input_ids` [b, 77] / `input_ids_2` [b, 77] -> (te1 outputs, te2 outputs,
    encoder_hidden_states [b, 77, 80], text_embeds [b, 48]), as the pipeline builds them: penultimate hidden states of
    both encoders, concatenated; text_embeds = text_encoder_2's projected pooled output."""
    with torch.no_grad():
        o1 = te1(ids1)
        o2 = te2(ids2)
    pen1 = o1[2 + TE1["num_hidden_layers"] - 1]  # hidden_states.{n1-1}
    pen2 = o2[2 + TE2["num_hidden_layers"] - 1]
    ehs = torch.cat([pen1, pen2], dim=-1)  # [2 (prompt, negative), 77, 80]
    pooled = o2[0]  # text_embeds [2, 48]
    return o1, o2, ehs, pooled


def make_sampler(unet, cnet, vae_dec, ehs, pooled, log_sigmas):
    """The reference K_DPMPP_2M sampler with CFG and the VAE decode (also used by scripts/fixtures_sdxl_lora.py).
    ehs [2, 77, 80] / pooled [2, 48]: rows (prompt, negative) from text_conditioning. Returns (run, decode)."""
    cond_ehs, uncond_ehs = ehs[0:1], ehs[1:2]
    cond_pooled, uncond_pooled = pooled[0:1], pooled[1:2]

    def run(noise, sigmas, start_latents=None, controls=None, trace=None):
        """K_DPMPP_2M over `sigmas` with CFG, for len(noise) samples. controls: (edge [1,3,H,W], scale, keep(i))."""
        b = noise.shape[0]
        ehs_b = torch.cat([uncond_ehs.expand(b, -1, -1), cond_ehs.expand(b, -1, -1)])
        pooled_b = torch.cat([uncond_pooled.expand(b, -1), cond_pooled.expand(b, -1)])
        tids_b = torch.tensor([ADD_TIME_IDS] * (2 * b), dtype=torch.float32)
        x = f32(noise.astype(np.float64) * sigmas[0])
        if start_latents is not None:
            x = f32(start_latents.astype(np.float64) + noise.astype(np.float64) * sigmas[0])

        def denoise(xc, sigma, i):
            c_in = 1.0 / math.sqrt(sigma * sigma + 1.0)
            xin = f32(np.concatenate([xc, xc]).astype(np.float64) * c_in)
            t = torch.tensor(np.float32(sigma_to_t(sigma, log_sigmas)))
            with torch.no_grad():
                if controls is None:
                    eps = npf(unet(torch.from_numpy(xin), t, ehs_b, pooled_b, tids_b))
                else:
                    edge, scale, keep = controls
                    cs = torch.tensor(np.float32(scale * keep(i)))
                    r = cnet(torch.from_numpy(xin), t, ehs_b, pooled_b, tids_b, edge.expand(2 * b, -1, -1, -1), cs)
                    eps = npf(unet(torch.from_numpy(xin), t, ehs_b, pooled_b, tids_b, *r))
            eu, ec = eps[:b].astype(np.float64), eps[b:].astype(np.float64)
            e = f32(eu + CFG_SCALE * (ec - eu))
            return f32(xc.astype(np.float64) - sigma * e.astype(np.float64))

        return dpmpp_2m(denoise, x, sigmas, trace)

    def decode(latents):
        with torch.no_grad():
            dec = npf(vae_dec(torch.from_numpy(f32(latents.astype(np.float64) / SCALING_FACTOR))))
        return dec, to_uint8_hwc(dec)

    return run, decode


# ======================================================================================================================
# Build
# ======================================================================================================================

BSZ = "batch_size"


def build():
    t0 = time.time()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(REF_DIR, exist_ok=True)

    # ---- tokenizer ------------------------------------------------------------------------------------------------
    merges = train_merges(CORPUS, N_MERGES)
    tok = ClipTokenizer(merges)
    vocab_size = len(tok.vocab)
    assert tok.bos == vocab_size - 2 and tok.eos == vocab_size - 1
    pad1 = tok.eos  # tokenizer pads with <|endoftext|> (CLIP-L's tokenizer in SDXL)
    pad2 = tok.vocab["!"]  # tokenizer_2 pads with "!" (id 0), as SDXL's CLIP-G tokenizer does
    assert pad2 == 0
    tokenizer_files(tok, os.path.join(MODEL_DIR, "tokenizer"), EOS_TOKEN)
    tokenizer_files(tok, os.path.join(MODEL_DIR, "tokenizer_2"), "!")

    def prompt_entry(text):
        return {"text": text, "ids": tok.encode(text),
                "input_ids": tok.pipeline_ids(text, pad1), "input_ids_2": tok.pipeline_ids(text, pad2)}

    prompt, negative, long_prompt = prompt_entry(PROMPT), prompt_entry(NEGATIVE), prompt_entry(LONG_PROMPT)
    assert len(long_prompt["ids"]) > MAX_LEN - 2
    single = sum(1 for p in (prompt, long_prompt) for i in p["ids"] if i < 512)
    print(f"{MODEL_NAME}: vocab {vocab_size} ({len(merges)} merges); prompt {len(prompt['ids'])} tokens, "
          f"long prompt {len(long_prompt['ids'])} tokens ({single} single-byte pieces)")

    # ---- models -----------------------------------------------------------------------------------------------------
    te1, te2, unet, cnet, vae_enc, vae_dec = build_models(vocab_size)

    # ---- configs -----------------------------------------------------------------------------------------------------
    write_json(os.path.join(MODEL_DIR, "model_index.json"), {
        "_class_name": "StableDiffusionXLPipeline",
        "_diffusers_version": "0.19.0.dev0",
        "_name_or_path": "hearth-tiny-sdxl (random weights, scripts/fixtures_sdxl.py)",
        "force_zeros_for_empty_prompt": False,
        "add_watermarker": None,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae_encoder": ["diffusers", "AutoencoderKL"],
        "vae_decoder": ["diffusers", "AutoencoderKL"],
        "controlnet": ["diffusers", "ControlNetModel"],
    })
    os.makedirs(os.path.join(MODEL_DIR, "scheduler"), exist_ok=True)
    write_json(os.path.join(MODEL_DIR, "scheduler", "scheduler_config.json"), SCHEDULER_CONFIG)

    def clip_cfg(c, arch, pad_id):
        out = {"architectures": [arch], "model_type": "clip_text_model", "vocab_size": vocab_size,
               "max_position_embeddings": MAX_LEN, "layer_norm_eps": 1e-5, "bos_token_id": tok.bos,
               "eos_token_id": tok.eos, "pad_token_id": pad_id, "torch_dtype": "float32"}
        out.update(c)
        return out

    unet_cfg = {
        "_class_name": "UNet2DConditionModel", "sample_size": HEIGHT // 8, "in_channels": LATENT_CH,
        "out_channels": LATENT_CH, "block_out_channels": [C0, C1],
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "mid_block_type": "UNetMidBlock2DCrossAttn",
        "layers_per_block": 1, "attention_head_dim": [C0 // HEAD_DIM, C1 // HEAD_DIM],
        "transformer_layers_per_block": 1, "cross_attention_dim": CROSS_DIM, "norm_num_groups": GROUPS,
        "use_linear_projection": True, "addition_embed_type": "text_time", "addition_time_embed_dim": ADD_TIME,
        "projection_class_embeddings_input_dim": POOLED_DIM + 6 * ADD_TIME, "flip_sin_to_cos": True,
        "freq_shift": 0, "time_embedding_dim": TEMB, "timestep_input_dim": TIME_IN, "act_fn": "silu",
    }
    vae_cfg = {
        "_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": LATENT_CH,
        "block_out_channels": list(VAE_CH), "layers_per_block": 1, "norm_num_groups": GROUPS,
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
        "act_fn": "silu", "sample_size": HEIGHT, "scaling_factor": SCALING_FACTOR, "force_upcast": False,
    }
    cn_cfg = dict(unet_cfg, _class_name="ControlNetModel", conditioning_channels=3,
                  controlnet_conditioning_channel_order="rgb",
                  conditioning_embedding_out_channels=list(CN_EMB_CH))
    for sub, cfg in (("text_encoder", clip_cfg(TE1, "CLIPTextModel", pad1)),
                     ("text_encoder_2", clip_cfg(TE2, "CLIPTextModelWithProjection", pad2)),
                     ("unet", unet_cfg), ("controlnet", cn_cfg), ("vae_decoder", vae_cfg), ("vae_encoder", vae_cfg)):
        os.makedirs(os.path.join(MODEL_DIR, sub), exist_ok=True)
        write_json(os.path.join(MODEL_DIR, sub, "config.json"), cfg)

    # ---- export -----------------------------------------------------------------------------------------------------
    n1, n2 = TE1["num_hidden_layers"], TE2["num_hidden_layers"]
    hs1 = [f"hidden_states.{k}" for k in range(n1 + 1)]
    hs2 = [f"hidden_states.{k}" for k in range(n2 + 1)]
    seq_axes = {0: BSZ, 1: "sequence_length"}
    ids_example = torch.tensor([prompt["input_ids"], negative["input_ids"]], dtype=torch.int64)
    ids2_example = torch.tensor([prompt["input_ids_2"], negative["input_ids_2"]], dtype=torch.int64)
    te1_out = ["last_hidden_state", "pooler_output", *hs1]
    te2_out = ["text_embeds", "last_hidden_state", *hs2]
    paths = {}
    graphs = {}

    def path(sub, fname="model.onnx"):
        p = os.path.join(MODEL_DIR, sub, fname)
        paths[f"{sub}/{fname}"] = p
        return p

    graphs["text_encoder/model.onnx"] = export(
        te1, (ids_example,), path("text_encoder"), ["input_ids"], te1_out,
        {"input_ids": seq_axes, "last_hidden_state": seq_axes, "pooler_output": {0: BSZ},
         **{h: seq_axes for h in hs1}})
    graphs["text_encoder_2/model.onnx"] = export(
        te2, (ids2_example,), path("text_encoder_2"), ["input_ids"], te2_out,
        {"input_ids": seq_axes, "last_hidden_state": seq_axes, "text_embeds": {0: BSZ},
         **{h: seq_axes for h in hs2}})

    lat = {0: BSZ, 2: "height", 3: "width"}
    unet_in = ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]
    unet_axes = {"sample": lat, "encoder_hidden_states": {0: BSZ, 1: "sequence_length"},
                 "text_embeds": {0: BSZ}, "time_ids": {0: BSZ}, "out_sample": lat}
    res_names = [f"down_block_res_samples.{i}" for i in range(4)] + ["mid_block_res_sample"]
    # down_block_res_samples.0/1 are at the latent size, .2/.3 and mid at half of it (ceil: stride-2 conv, pad 1)
    res_axes = {n: {0: BSZ, 2: "height" if i < 2 else "half_height", 3: "width" if i < 2 else "half_width"}
                for i, n in enumerate(res_names)}
    g = torch.Generator().manual_seed(SEED + 10)
    ex_sample = torch.randn(2, LATENT_CH, 8, 8, generator=g)
    ex_ehs = torch.randn(2, MAX_LEN, CROSS_DIM, generator=g)
    ex_te = torch.randn(2, POOLED_DIM, generator=g)
    ex_tid = torch.tensor([ADD_TIME_IDS] * 2)
    ex_t = torch.tensor(500.0)
    with torch.no_grad():
        ex_res = cnet(ex_sample, ex_t, ex_ehs, ex_te, ex_tid, torch.rand(2, 3, 64, 64, generator=g), torch.tensor(1.0))
    graphs["unet/model.onnx"] = export(unet, (ex_sample, ex_t, ex_ehs, ex_te, ex_tid), path("unet"), unet_in,
                                       ["out_sample"], unet_axes)
    graphs["unet/model_int64ts.onnx"] = export(
        UNetInt64Timestep(unet), (ex_sample, torch.tensor([500], dtype=torch.int64), ex_ehs, ex_te, ex_tid),
        path("unet", "model_int64ts.onnx"), unet_in, ["out_sample"], unet_axes)
    graphs["unet/model_controlnet.onnx"] = export(
        unet, (ex_sample, ex_t, ex_ehs, ex_te, ex_tid, *ex_res), path("unet", "model_controlnet.onnx"),
        unet_in + res_names, ["out_sample"], {**unet_axes, **res_axes})
    graphs["controlnet/model.onnx"] = export(
        cnet, (ex_sample, ex_t, ex_ehs, ex_te, ex_tid, torch.rand(2, 3, 64, 64, generator=g), torch.tensor(0.5)),
        path("controlnet"), unet_in + ["controlnet_cond", "conditioning_scale"], res_names,
        {**{k: v for k, v in unet_axes.items() if k != "out_sample"},
         "controlnet_cond": {0: BSZ, 2: "image_height", 3: "image_width"}, **res_axes})
    graphs["vae_decoder/model.onnx"] = export(
        vae_dec, (torch.randn(1, LATENT_CH, 8, 8, generator=g),), path("vae_decoder"), ["latent_sample"], ["sample"],
        {"latent_sample": {0: BSZ, 2: "latent_height", 3: "latent_width"},
         "sample": {0: BSZ, 2: "height", 3: "width"}})
    graphs["vae_encoder/model.onnx"] = export(
        vae_enc, (torch.rand(1, 3, 64, 64, generator=g) * 2 - 1,), path("vae_encoder"), ["sample"],
        ["latent_parameters"],
        {"sample": {0: BSZ, 2: "height", 3: "width"},
         "latent_parameters": {0: BSZ, 2: "latent_height", 3: "latent_width"}})
    for name, om in graphs.items():
        print(f"  {name}: {os.path.getsize(paths[name])} bytes, {len(om.graph.node)} nodes, "
              f"ops {sorted({n.op_type for n in om.graph.node})}")

    # ---- (a) parts ---------------------------------------------------------------------------------------------------
    parts = {}
    o1, o2, ehs, pooled = text_conditioning(te1, te2, ids_example, ids2_example)
    parts["text_encoder"] = {"model": "text_encoder/model.onnx", "inputs": {"input_ids": i64(ids_example)},
                             "outputs": {n: tens(npf(t)) for n, t in zip(te1_out, o1)}}
    parts["text_encoder_2"] = {"model": "text_encoder_2/model.onnx", "inputs": {"input_ids": i64(ids2_example)},
                               "outputs": {n: tens(npf(t)) for n, t in zip(te2_out, o2)}}
    cond_ehs = ehs[0:1]
    cond_pooled = pooled[0:1]

    g = torch.Generator().manual_seed(SEED + 20)
    part_sample = torch.randn(2, LATENT_CH, 8, 8, generator=g)
    part_tids = torch.tensor([ADD_TIME_IDS] * 2, dtype=torch.float32)
    part_t = torch.tensor(487.25)
    init_img = init_image_pattern(HEIGHT, WIDTH)
    edge_img = edge_map_pattern(HEIGHT, WIDTH)
    control = torch.from_numpy(np.concatenate([image_to_control(edge_img)] * 2))
    with torch.no_grad():
        u_out = unet(part_sample, part_t, ehs, pooled, part_tids)
        u_out_i = unet(part_sample, torch.tensor(487.0), ehs, pooled, part_tids)
        u_out_i64 = UNetInt64Timestep(unet)(part_sample, torch.tensor([487], dtype=torch.int64), ehs, pooled,
                                            part_tids)
        assert torch.equal(u_out_i, u_out_i64)
        c_out = cnet(part_sample, part_t, ehs, pooled, part_tids, control, torch.tensor(CONDITIONING_SCALE))
        uc_out = unet(part_sample, part_t, ehs, pooled, part_tids, *c_out)
        part_latent = torch.randn(1, LATENT_CH, 8, 8, generator=g)
        vd_out = vae_dec(part_latent / SCALING_FACTOR)
        ve_in = torch.from_numpy(image_to_vae_input(init_img))
        ve_out = vae_enc(ve_in)
    # the unet-family inputs are stored once, in parts.unet.inputs; the other cases point there ("from")
    common_unet_in = {"sample": tens(npf(part_sample)), "encoder_hidden_states": tens(npf(ehs)),
                      "text_embeds": tens(npf(pooled)), "time_ids": tens(npf(part_tids))}
    shared = {k: {"from": f"parts.unet.inputs.{k}"} for k in common_unet_in}
    parts["unet"] = {"model": "unet/model.onnx",
                     "inputs": {**common_unet_in, "timestep": tens(npf(part_t))},
                     "outputs": {"out_sample": tens(npf(u_out))},
                     "note": "encoder_hidden_states = concat(text_encoder hidden_states.2, text_encoder_2 "
                             "hidden_states.2) of parts.text_encoder*; text_embeds = text_encoder_2 text_embeds"}
    parts["unet_int64ts"] = {"model": "unet/model_int64ts.onnx",
                             "inputs": {**shared, "timestep": i64([487])},
                             "outputs": {"out_sample": tens(npf(u_out_i64))},
                             "note": "equals unet/model.onnx at the float timestep 487.0"}
    parts["controlnet"] = {"model": "controlnet/model.onnx",
                           "inputs": {**shared, "timestep": {"from": "parts.unet.inputs.timestep"},
                                      "controlnet_cond": {"from": "images.edge_map",
                                                          "transform": "v / 255, HWC -> CHW, repeated for batch 2"},
                                      "conditioning_scale": tens(np.float32(CONDITIONING_SCALE))},
                           "outputs": {n: tens(npf(t)) for n, t in zip(res_names, c_out)}}
    parts["unet_controlnet"] = {"model": "unet/model_controlnet.onnx",
                                "inputs": {**shared, "timestep": {"from": "parts.unet.inputs.timestep"},
                                           **{n: {"from": f"parts.controlnet.outputs.{n}"} for n in res_names}},
                                "outputs": {"out_sample": tens(npf(uc_out))}}
    parts["vae_decoder"] = {"model": "vae_decoder/model.onnx",
                            "inputs": {"latent_sample": tens(npf(part_latent / SCALING_FACTOR))},
                            "outputs": {"sample": tens(npf(vd_out))},
                            "note": "latent_sample = latents / scaling_factor, latents given as `latents`",
                            "latents": tens(npf(part_latent))}
    parts["vae_encoder"] = {"model": "vae_encoder/model.onnx",
                            "inputs": {"sample": {"from": "images.init_image",
                                                  "transform": "v / 127.5 - 1, HWC -> CHW, batch 1"}},
                            "outputs": {"latent_parameters": tens(npf(ve_out))}}

    # dynamic shapes: an odd latent size (40x72 pixels -> 5x9 latents), batch 1
    g = torch.Generator().manual_seed(SEED + 30)
    s_sample = torch.randn(1, LATENT_CH, 5, 9, generator=g)
    s_img = torch.rand(1, 3, 40, 72, generator=g)
    s_tids = torch.tensor([[40.0, 72.0, 0.0, 0.0, 40.0, 72.0]])
    with torch.no_grad():
        s_c = cnet(s_sample, torch.tensor(250.5), cond_ehs, cond_pooled, s_tids, s_img, torch.tensor(1.0))
        s_u = unet(s_sample, torch.tensor(250.5), cond_ehs, cond_pooled, s_tids)
        s_dec = vae_dec(s_sample)
        s_enc = vae_enc(s_img * 2 - 1)
    shapes = {
        "note": "batch 1, 40x72 pixels / 5x9 latents; encoder_hidden_states and text_embeds = the prompt's row "
                "of parts.unet.inputs; the vae_encoder input is 2 * image - 1 and the controlnet_cond is `image`",
        "timestep": 250.5, "time_ids": [40.0, 72.0, 0.0, 0.0, 40.0, 72.0],
        "sample": tens(npf(s_sample)), "image": tens(npf(s_img)),
        "unet_out_sample": tens(npf(s_u)),
        "controlnet_outputs": {n: tens(npf(t)) for n, t in zip(res_names, s_c)},
        "vae_decoder_sample": tens(npf(s_dec)),
        "vae_encoder_latent_parameters": tens(npf(s_enc)),
    }

    # ---- (b) schedule ------------------------------------------------------------------------------------------------
    tsig = train_sigmas(SCHEDULER_CONFIG)
    log_sigmas = [math.log(s) for s in tsig]
    sigma_min, sigma_max = tsig[0], tsig[-1]
    karras = {}
    for n in SIGMA_STEPS:
        sig = karras_sigmas(n, sigma_min, sigma_max)
        karras[str(n)] = {"sigmas": sig, "timesteps": [sigma_to_t(s, log_sigmas) for s in sig[:-1]]}
    # cross-check with a torch.linspace ramp, as k-diffusion writes it (it computes in float32 there)
    ks = torch.linspace(0, 1, 10, dtype=torch.float64)
    kt = (sigma_max ** (1 / RHO) + ks * (sigma_min ** (1 / RHO) - sigma_max ** (1 / RHO))) ** RHO
    assert np.allclose(kt.numpy(), karras["10"]["sigmas"][:-1], rtol=1e-12)
    schedule = {"config": SCHEDULER_CONFIG, "rho": RHO, "sigma_min": sigma_min, "sigma_max": sigma_max,
                "train_sigmas_check": {str(i): tsig[i] for i in (0, 1, 499, 998, 999)}, "karras": karras}

    # ---- the sampler ----------------------------------------------------------------------------------------------
    run, decode = make_sampler(unet, cnet, vae_dec, ehs, pooled, log_sigmas)

    g = torch.Generator().manual_seed(SEED + 40)
    noise = torch.randn(2, LATENT_CH, HEIGHT // 8, WIDTH // 8, generator=g).numpy()
    sig10 = karras["10"]["sigmas"]
    trace = []
    lat1 = run(noise[:1], sig10, trace=trace)
    dec1, img1 = decode(lat1)
    lat2 = run(noise, sig10)
    dec2, img2 = decode(lat2)
    batch_diff = float(np.abs(lat2[:1] - lat1).max())
    assert batch_diff < 1e-4, batch_diff
    print(f"  txt2img: latents std {lat1.std():.3f}, decoded range [{dec1.min():.2f}, {dec1.max():.2f}], "
          f"image mean {img1.mean():.1f}; samples=2 row 0 vs samples=1 max |diff| {batch_diff:.1e}")
    txt2img = {
        "height": HEIGHT, "width": WIDTH, "steps": STEPS, "cfg_scale": CFG_SCALE, "sampler": "K_DPMPP_2M",
        "add_time_ids": ADD_TIME_IDS, "sigmas": sig10, "noise": tens(noise),
        "samples_1": {"noise_rows": [0], "latents": tens(lat1), "x_after_step": [tens(x) for x in trace],
                      "decoded": tens(dec1), "image": u8(img1)},
        "samples_2": {"noise_rows": [0, 1], "latents": tens(lat2), "image": u8(img2)},
    }

    # ---- (c) img2img -------------------------------------------------------------------------------------------------
    g = torch.Generator().manual_seed(SEED + 50)
    enc_noise = torch.randn(1, LATENT_CH, HEIGHT // 8, WIDTH // 8, generator=g).numpy()
    i2i_noise = torch.randn(1, LATENT_CH, HEIGHT // 8, WIDTH // 8, generator=g).numpy()
    params = npf(ve_out).astype(np.float64)
    mean, logvar = params[:, :LATENT_CH], np.clip(params[:, LATENT_CH:], -30.0, 20.0)
    init_latents = f32((mean + np.exp(0.5 * logvar) * enc_noise) * SCALING_FACTOR)
    print(f"  img2img: init latents std {init_latents.std():.3f}, posterior std ~{np.exp(0.5 * logvar).mean():.3f}")
    i2i_cases = []
    for mode, a, b_ in (("IMAGE_STRENGTH", 0.6, None), ("IMAGE_STRENGTH", 0.4, None),
                        ("STEP_SCHEDULE", 0.65, 0.0), ("STEP_SCHEDULE", 0.7, 0.1), ("STEP_SCHEDULE", 0.9, 0.3)):
        start, end = (1.0 - a, 0.0) if mode == "IMAGE_STRENGTH" else (a, b_)
        first, last = schedule_window(STEPS, start, end)
        sl = sig10[first:last + 1]
        lat = run(i2i_noise, sl, start_latents=init_latents) if last > first else init_latents.copy()
        dec, img = decode(lat)
        case = {"init_image_mode": mode}
        if mode == "IMAGE_STRENGTH":
            case["image_strength"] = a
        else:
            case["step_schedule_start"], case["step_schedule_end"] = a, b_
        case.update({"schedule_start": start, "schedule_end": end, "first": first, "last": last,
                     "sigmas_run": sl, "latents": tens(lat), "image": u8(img)})
        i2i_cases.append(case)
        print(f"    {mode} {a}{'' if b_ is None else ' ' + str(b_)}: sigmas[{first}..{last}] "
              f"({last - first} steps), image mean {img.mean():.1f}")
    img2img = {"steps": STEPS, "cfg_scale": CFG_SCALE, "add_time_ids": ADD_TIME_IDS,
               "encoder_noise": tens(enc_noise), "noise": tens(i2i_noise),
               "latent_parameters": tens(npf(ve_out)), "init_latents": tens(init_latents), "cases": i2i_cases}

    # ---- (d) control_net ---------------------------------------------------------------------------------------------
    edge_t = torch.from_numpy(image_to_control(edge_img))
    cn_cases = []
    for cs, ce in ((0.0, 1.0), (0.2, 0.7)):
        lat = run(noise[:1], sig10, controls=(edge_t, CONDITIONING_SCALE,
                                               lambda i, cs=cs, ce=ce: control_keep(i, STEPS, cs, ce)))
        dec, img = decode(lat)
        keep = [control_keep(i, STEPS, cs, ce) for i in range(STEPS)]
        cn_cases.append({"step_schedule_start": cs, "step_schedule_end": ce, "control_keep": keep,
                         "latents": tens(lat), "image": u8(img)})
        print(f"  control_net window [{cs}, {ce}] keep {keep}: image mean {img.mean():.1f}, "
              f"vs txt2img max |latent diff| {np.abs(lat - lat1).max():.3f}")
    controlnet = {"steps": STEPS, "cfg_scale": CFG_SCALE, "conditioning_scale": CONDITIONING_SCALE,
                  "control_net_name": "canny", "noise_rows": [0], "add_time_ids": ADD_TIME_IDS, "cases": cn_cases}

    # ---- (e) seeded runs: the noise comes from the request's seed alone (gaussianNoise, see the README) ----------
    lat_hw = (HEIGHT // 8, WIDTH // 8)
    n_lat = LATENT_CH * lat_hw[0] * lat_hw[1]
    s_noise1 = seeded_latent_noise(SEEDED_SEED, 1, *lat_hw)
    s_noise2 = seeded_latent_noise(SEEDED_SEED, 2, *lat_hw)
    s_noise43 = seeded_latent_noise(SEEDED_SEED + 1, 1, *lat_hw)
    assert np.array_equal(s_noise2[:1], s_noise1) and np.array_equal(s_noise2[1:], s_noise43)
    enc_seed = encoder_noise_seed(sample_seed(SEEDED_SEED, 0))
    s_enc_noise = seeded_encoder_noise(SEEDED_SEED, 1, *lat_hw)
    assert np.array_equal(s_enc_noise.reshape(-1), gaussian_noise(enc_seed, n_lat))
    # (1) text-to-image
    s_lat1 = run(s_noise1, sig10)
    _, s_img1 = decode(s_lat1)
    s_lat2 = run(s_noise2, sig10)  # one batched sampling ([u, u, c, c] rows), decoded one sample at a time
    s_img2 = np.concatenate([decode(s_lat2[k:k + 1])[1] for k in range(2)])
    s_lat43 = run(s_noise43, sig10)
    _, s_img43 = decode(s_lat43)
    d0 = float(np.abs(s_lat2[:1] - s_lat1).max())
    d1 = float(np.abs(s_lat2[1:] - s_lat43).max())
    assert d0 < 1e-4 and d1 < 1e-4, (d0, d1)  # measured 0
    # sample 1 of the samples=2 request is the samples=1 request with seed 43 (and sample 0 the one with seed 42)
    assert np.array_equal(s_img2[:1], s_img1) and np.array_equal(s_img2[1:], s_img43)
    print(f"  seeded (seed {SEEDED_SEED}): txt2img image mean {s_img1.mean():.1f}; samples=2 rows vs samples=1 "
          f"seeds {SEEDED_SEED}/{SEEDED_SEED + 1} max |latent diff| {d0:.1e}/{d1:.1e}, images equal")
    # (2) image-to-image: posterior noise from S_0 ^ 0x9E3779B9, latent noise from S_0
    s_init_latents = f32((mean + np.exp(0.5 * logvar) * s_enc_noise) * SCALING_FACTOR)
    s_i2i_cases = []
    for mode, a, b_ in (("IMAGE_STRENGTH", 0.6, None), ("STEP_SCHEDULE", 0.7, 0.1)):
        start, end = (1.0 - a, 0.0) if mode == "IMAGE_STRENGTH" else (a, b_)
        first, last = schedule_window(STEPS, start, end)
        sl = sig10[first:last + 1]
        lat = run(s_noise1, sl, start_latents=s_init_latents) if last > first else s_init_latents.copy()
        _, img = decode(lat)
        case = {"init_image_mode": mode}
        if mode == "IMAGE_STRENGTH":
            case["image_strength"] = a
        else:
            case["step_schedule_start"], case["step_schedule_end"] = a, b_
        case.update({"schedule_start": start, "schedule_end": end, "first": first, "last": last,
                     "latents": tens(lat), "image": u8(img)})
        s_i2i_cases.append(case)
        print(f"    seeded img2img {mode} {a}{'' if b_ is None else ' ' + str(b_)}: sigmas[{first}..{last}], "
              f"image mean {img.mean():.1f}")
    # (3) control_net, window [0, 1]
    s_cn_lat = run(s_noise1, sig10, controls=(edge_t, CONDITIONING_SCALE, lambda i: 1.0))
    _, s_cn_img = decode(s_cn_lat)
    print(f"    seeded control_net [0, 1]: image mean {s_cn_img.mean():.1f}")
    seeded = {
        "seed": SEEDED_SEED,
        "noise_convention": {
            "sample_seed": "sample k (0-based) uses S_k = (seed + k) mod 2^32",
            "latent_noise": "gaussianNoise(S_k, 4*h*w) (src/engines/image/noise.ts), laid out CHW = [4, h, w]",
            "encoder_noise": "image-to-image VAE posterior noise: gaussianNoise((S_k ^ 0x9E3779B9) >>> 0, 4*h*w)",
        },
        "height": HEIGHT, "width": WIDTH, "steps": STEPS, "cfg_scale": CFG_SCALE, "sampler": "K_DPMPP_2M",
        "prompt": PROMPT, "negative_prompt": NEGATIVE, "add_time_ids": ADD_TIME_IDS,
        "noise_check": {"seed": sample_seed(SEEDED_SEED, 0), "length": n_lat, "head": tens(s_noise1.reshape(-1)[:64])},
        "encoder_noise_check": {"seed": enc_seed, "length": n_lat, "head": tens(s_enc_noise.reshape(-1)[:64])},
        "txt2img": {
            "samples_1": {"seeds": [sample_seed(SEEDED_SEED, 0)], "latents": tens(s_lat1), "image": u8(s_img1)},
            "samples_2": {"seeds": [sample_seed(SEEDED_SEED, k) for k in range(2)], "latents": tens(s_lat2),
                          "image": u8(s_img2)},
        },
        "img2img": {"init_image": {"from": "images.init_image"}, "init_latents": tens(s_init_latents),
                    "cases": s_i2i_cases},
        "controlnet": {"control_image": {"from": "images.edge_map"}, "control_net_name": "canny",
                       "conditioning_scale": CONDITIONING_SCALE, "step_schedule_start": 0.0,
                       "step_schedule_end": 1.0, "latents": tens(s_cn_lat), "image": u8(s_cn_img)},
    }

    # ---- graphs vs torch (when onnxruntime is importable) --------------------------------------------------------
    ort = try_ort()
    if ort is not None:
        worst = 0.0
        for key, part in parts.items():
            feeds = {}
            for k, v in part["inputs"].items():
                if "from" in v and v["from"].startswith("parts.unet.inputs."):
                    v = parts["unet"]["inputs"][k]
                if "from" in v:
                    continue
                arr = np.array(v["data"], np.int64).reshape(v["shape"]) if v["dtype"] == "int64" else \
                    np.frombuffer(base64.b64decode(v["b64"]), "<f4").reshape(v["shape"])
                feeds[k] = arr
            if key == "controlnet":
                feeds["controlnet_cond"] = control.numpy()
            if key == "unet_controlnet":
                feeds.update({n: npf(t) for n, t in zip(res_names, c_out)})
            if key == "vae_encoder":
                feeds["sample"] = ve_in.numpy()
            sess = ort.InferenceSession(os.path.join(MODEL_DIR, part["model"]), providers=["CPUExecutionProvider"])
            got = sess.run(None, feeds)
            for name, arr in zip([o.name for o in sess.get_outputs()], got):
                want = np.frombuffer(base64.b64decode(part["outputs"][name]["b64"]), "<f4")
                worst = max(worst, float(np.abs(arr.reshape(-1) - want).max()))
        assert worst < 1e-4, worst
        print(f"  onnxruntime vs torch max |diff| {worst:.1e}")
    else:
        print("  (onnxruntime not importable: the graphs are checked against these references by "
              "tests/unit/fixture-sdxl.test.ts)")

    # ---- write -------------------------------------------------------------------------------------------------------
    ref = {
        "format": "hearth-sdxl-reference/1",
        "model_dir": f"public/models/{MODEL_NAME}",
        "tensor_encoding": "float32/uint8 tensors: {dtype, shape, b64} = base64 of the little-endian row-major "
                           "bytes; int64 tensors: {dtype, shape, data} with data a flat list",
        "config": {
            "vocab_size": vocab_size, "bos_token_id": tok.bos, "eos_token_id": tok.eos,
            "pad_token_id": {"tokenizer": pad1, "tokenizer_2": pad2}, "max_length": MAX_LEN,
            "text_encoder": {"hidden_size": TE1["hidden_size"], "num_hidden_layers": n1,
                             "penultimate": f"hidden_states.{n1 - 1}"},
            "text_encoder_2": {"hidden_size": TE2["hidden_size"], "num_hidden_layers": n2,
                               "projection_dim": POOLED_DIM, "penultimate": f"hidden_states.{n2 - 1}"},
            "cross_attention_dim": CROSS_DIM, "latent_channels": LATENT_CH, "vae_scale_factor": 8,
            "scaling_factor": SCALING_FACTOR,
            "controlnet_residuals": res_names,
            "controlnet_residual_shapes": {n: list(t.shape[1:]) for n, t in zip(res_names, c_out)},
        },
        "io": {name: {"inputs": [i.name for i in om.graph.input], "outputs": [o.name for o in om.graph.output],
                      "types": {v.name: value_type(v) for v in [*om.graph.input, *om.graph.output]}}
               for name, om in graphs.items()},
        "prompt": prompt,
        "negative_prompt": negative,
        "long_prompt": long_prompt,
        "images": {"init_image": u8(init_img), "edge_map": u8(edge_img)},
        "parts": parts,
        "shapes": shapes,
        "schedule": schedule,
        "txt2img": txt2img,
        "img2img": img2img,
        "controlnet": controlnet,
        "seeded": seeded,
    }
    ref_path = os.path.join(REF_DIR, "reference.json")
    write_json(ref_path, ref, compact=True)

    total = 0
    for dirpath, _, files in os.walk(MODEL_DIR):
        for f in files:
            size = os.path.getsize(os.path.join(dirpath, f))
            assert size < 2_000_000, f"{f} is {size} bytes"
            total += size
    assert total < 8_000_000, total
    print(f"  model folder {total} bytes; reference.json {os.path.getsize(ref_path)} bytes")
    print(f"wrote {os.path.relpath(MODEL_DIR, ROOT)}/ and {os.path.relpath(ref_path, ROOT)} "
          f"in {time.time() - t0:.1f} s")
    return ref


if __name__ == "__main__":
    build()
    sys.exit(0)
