"""Hearth's tiny SDXL safety checker: diffusers' StableDiffusionSafetyChecker (CompVis/stable-diffusion-safety-checker)
at toy size, exported as diffusers' ONNX export does it (`forward_onnx`, inputs `clip_input` + `images`, outputs
`out_images` + `has_nsfw_concepts`), with concept embeddings chosen on the tiny SDXL's own reference images so the
test is meaningful: one seeded image is flagged, its neighbour seed is not, one is flagged only through the
"special care" adjustment and one is a near miss without it.

Run by scripts/make_fixtures.py (after fixtures_sdxl.py, whose reference images it reads); also runnable alone:

    /usr/bin/python3 scripts/fixtures_safety.py

It writes, deterministically (fixed seeds, integer preprocessing; two runs give byte-identical files):

  public/models/hearth-tiny-sdxl/safety_checker/
      model.onnx                  StableDiffusionSafetyChecker.forward_onnx, opset 17, dynamic batch and image size
      config.json                 HF-style CLIPConfig (vision_config + projection_dim), as the real checker's
      preprocessor_config.json    CLIPImageProcessor config (224 shortest edge, centre crop 224, CLIP mean/std)
  tests/fixtures/sdxl/safety-reference.json

See tests/fixtures/sdxl/README.md, "Safety checker", for every name, formula and recorded case.

Preprocessing is CLIPImageProcessor's, step by step, with PIL's bicubic resize ported exactly (Pillow's
libImaging/Resample.c: separable, fixed-point 8-bit coefficients, horizontal pass then vertical, each rounded to
uint8); src/engines/image/safety.ts has the same port, so the test compares the uint8 crop exactly. When Pillow is
importable the port is checked against PIL.Image.resize here (Debian: python3-pil); it is not needed otherwise.
"""

import base64
import hashlib
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn

from fixtures_sdxl import u8, write_json  # noqa: E402  (the shared JSON/tensor encodings)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "public", "models", "hearth-tiny-sdxl", "safety_checker")
REF_DIR = os.path.join(ROOT, "tests", "fixtures", "sdxl")
SDXL_REF = os.path.join(REF_DIR, "reference.json")
OUT_REF = os.path.join(REF_DIR, "safety-reference.json")

OPSET = 17
IR_VERSION = 8
SEED = 7007

# ----- sizes (the real checker: ViT-L/14, hidden 1024, 24 layers, 16 heads, MLP 4096, projection 768) ----------------
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
          "patch_size": 16, "image_size": 224, "num_channels": 3, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
PROJECTION_DIM = 16
N_CONCEPTS, N_SPECIAL = 17, 3

# ----- CLIPImageProcessor (CompVis/stable-diffusion-safety-checker's feature extractor) -------------------------------
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
RESCALE = 1 / 255
SHORTEST_EDGE = 224
CROP = 224
PREPROCESSOR_CONFIG = {
    "crop_size": {"height": CROP, "width": CROP},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": CLIP_MEAN,
    "image_processor_type": "CLIPImageProcessor",
    "image_std": CLIP_STD,
    "resample": 3,
    "rescale_factor": RESCALE,
    "size": {"shortest_edge": SHORTEST_EDGE},
}

# Margins: every special/concept score is at least this far from its decision boundary (0), so float differences
# between torch and onnxruntime (~1e-6) or a few pixels off by one cannot flip a decision.
MIN_MARGIN = 2e-3


# ======================================================================================================================
# Helpers
# ======================================================================================================================


def from_b64(t):
    return np.frombuffer(base64.b64decode(t["b64"]), dtype={"uint8": np.uint8, "float32": "<f4"}[t["dtype"]]) \
        .reshape(t["shape"])


def sha256(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def f32list(a):
    """float32 values as JSON numbers that read back to the same float32 (repr of the float64 of each)."""
    return [float(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


# ======================================================================================================================
# Preprocessing: CLIPImageProcessor with PIL's bicubic (Pillow libImaging/Resample.c, 8 bits per channel)
# ======================================================================================================================

PRECISION_BITS = 32 - 8 - 2


def bicubic_filter(x):
    a = -0.5
    if x < 0.0:
        x = -x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def bilinear_filter(x):
    if x < 0.0:
        x = -x
    if x < 1.0:
        return 1.0 - x
    return 0.0


FILTERS = {3: (bicubic_filter, 2.0), 2: (bilinear_filter, 1.0)}  # PIL resample id -> (filter, support)


def precompute_coeffs(in_size, out_size, resample):
    """Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output pixel, (xmin, [int coefficients])."""
    filt, fsupport = FILTERS[resample]
    scale = filterscale = in_size / out_size  # (in1 - in0) / outSize with the box (0, in_size)
    if filterscale < 1.0:
        filterscale = 1.0
    support = fsupport * filterscale
    out = []
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = int(center - support + 0.5)  # C's (int) truncates toward zero, as Python's int()
        if xmin < 0:
            xmin = 0
        xmax = int(center + support + 0.5)
        if xmax > in_size:
            xmax = in_size
        xmax -= xmin
        ws = [filt((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        ww = sum_in_order(ws)
        if ww != 0.0:
            ws = [w / ww for w in ws]
        ks = [int(-0.5 + w * (1 << PRECISION_BITS)) if w < 0 else int(0.5 + w * (1 << PRECISION_BITS)) for w in ws]
        out.append((xmin, ks))
    return out


def sum_in_order(ws):
    s = 0.0
    for w in ws:
        s += w
    return s


def resample_axis(img, out_size, axis, resample):
    """One separable pass over `axis` (0 = rows/vertical, 1 = columns/horizontal) of a uint8 [H, W, C] image."""
    in_size = img.shape[axis]
    coeffs = precompute_coeffs(in_size, out_size, resample)
    ksize = max(len(k) for _, k in coeffs)
    idx = np.zeros((out_size, ksize), dtype=np.int64)
    kk = np.zeros((out_size, ksize), dtype=np.int64)
    for o, (xmin, ks) in enumerate(coeffs):
        idx[o, :len(ks)] = np.arange(xmin, xmin + len(ks))
        kk[o, :len(ks)] = ks
    src = img.astype(np.int64)
    acc = np.full((out_size, img.shape[1], img.shape[2]) if axis == 0 else (img.shape[0], out_size, img.shape[2]),
                  1 << (PRECISION_BITS - 1), dtype=np.int64)
    for t in range(ksize):
        if axis == 0:
            acc += src[idx[:, t], :, :] * kk[:, t][:, None, None]
        else:
            acc += src[:, idx[:, t], :] * kk[:, t][None, :, None]
    return np.clip(acc >> PRECISION_BITS, 0, 255).astype(np.uint8)


def pil_resize(img, out_h, out_w, resample=3):
    """PIL.Image.resize((out_w, out_h), resample) of a uint8 [H, W, C] image: horizontal pass, then vertical; a pass
    whose size does not change is skipped (it would be the identity)."""
    if img.shape[1] != out_w:
        img = resample_axis(img, out_w, 1, resample)
    if img.shape[0] != out_h:
        img = resample_axis(img, out_h, 0, resample)
    return img


def resize_output_size(h, w, shortest_edge):
    """transformers' get_resize_output_image_size(size=shortest_edge, default_to_square=False) -> (h, w)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)


def center_crop(img, crop_h, crop_w):
    """transformers' center_crop: top = (H - ch) // 2, left = (W - cw) // 2; outside the image (only when it is
    smaller than the crop) is zero."""
    h, w = img.shape[:2]
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    out = np.zeros((crop_h, crop_w, img.shape[2]), dtype=img.dtype)
    ys, xs = max(0, top), max(0, left)
    ye, xe = min(h, top + crop_h), min(w, left + crop_w)
    out[ys - top:ye - top, xs - left:xe - left] = img[ys:ye, xs:xe]
    return out, top, left


def clip_crop(rgb):
    """uint8 [H, W, 3] -> the uint8 [224, 224, 3] crop CLIPImageProcessor normalises, with its resize and offsets."""
    h, w = rgb.shape[:2]
    rh, rw = resize_output_size(h, w, SHORTEST_EDGE)
    resized = pil_resize(rgb, rh, rw, 3)
    crop, top, left = center_crop(resized, CROP, CROP)
    return crop, (rh, rw), (top, left)


def clip_normalize(crop):
    """transformers' rescale (float64 multiply, then float32) and normalize (float32), to CHW float32."""
    x = (crop.astype(np.float64) * RESCALE).astype(np.float32)
    mean, std = np.array(CLIP_MEAN, dtype=np.float32), np.array(CLIP_STD, dtype=np.float32)
    x = (x - mean) / std
    assert x.dtype == np.float32
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def check_against_pil():
    """The PIL port against Pillow itself, when Pillow is importable (it is not needed to build the fixture)."""
    try:
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        print("  (Pillow not importable: the bicubic port is not cross-checked here)")
        return
    rng = np.random.default_rng(1234)
    sizes = [((64, 64), (224, 224)), ((96, 160), (224, 373)), ((144, 80), (403, 224)), ((896, 1152), (224, 288)),
             ((1024, 1024), (224, 224)), ((320, 512), (224, 358)), ((7, 300), (224, 9600)), ((225, 224), (224, 223)),
             ((513, 97), (1184, 224)), ((56, 72), (224, 288))]
    n = 0
    for (h, w), (oh, ow) in sizes:
        if oh * ow > 3_000_000:
            continue
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img[: h // 2] = np.clip(img[: h // 2] // 4 + np.arange(w)[None, :, None] % 200, 0, 255)
        for resample in (3, 2):
            want = np.asarray(Image.fromarray(img, "RGB").resize((ow, oh), resample=resample))
            got = pil_resize(img, oh, ow, resample)
            assert np.array_equal(want, got), (h, w, oh, ow, resample, int(np.abs(want.astype(int) - got).max()))
            n += 1
    print(f"  PIL bicubic/bilinear port == PIL.Image.resize (Pillow {Image.__version__}) on {n} resizes")


def synthetic_image(h, w):
    """A fixed test picture of any size with smooth and high-frequency parts, in integer arithmetic (the test makes
    it again): r = x*255 // (w-1), g = y*255 // (h-1), b = (x*x + 3*y*y + 7*x*y) % 256."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    r = x * 255 // (w - 1)
    g = y * 255 // (h - 1)
    b = (x * x + 3 * y * y + 7 * x * y) % 256
    return np.stack([r, g, b], -1).astype(np.uint8)


# ======================================================================================================================
# The model: transformers' CLIPVisionModel (vision_model) + diffusers' StableDiffusionSafetyChecker.forward_onnx
# ======================================================================================================================


class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.zeros(d))
        self.patch_embedding = nn.Conv2d(c["num_channels"], d, kernel_size=p, stride=p, bias=False)
        self.num_positions = (c["image_size"] // p) ** 2 + 1
        self.position_embedding = nn.Embedding(self.num_positions, d)
        self.register_buffer("position_ids", torch.arange(self.num_positions).unsqueeze(0), persistent=False)

    def forward(self, pixel_values):
        b = pixel_values.shape[0]
        patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # [b, 196, d]
        cls = self.class_embedding.expand(b, 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        b, n = x.shape[0], x.shape[1]

        def split(t):
            return t.reshape(b, n, self.heads, self.hd).transpose(1, 2)

        q = split(self.q_proj(x)) * (self.hd ** -0.5)
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1)
        return self.out_proj(torch.matmul(a, v).transpose(1, 2).reshape(b, n, self.heads * self.hd))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.self_attn = Attention(d, c["num_attention_heads"])
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)
        self.fc1 = nn.Linear(d, c["intermediate_size"])
        self.fc2 = nn.Linear(c["intermediate_size"], d)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        h = self.fc1(self.layer_norm2(x))
        h = h * torch.sigmoid(1.702 * h)  # quick_gelu
        return x + self.fc2(h)


class VisionTransformer(nn.Module):
    """CLIPVisionTransformer; returns pooler_output = post_layernorm(last_hidden_state[:, 0])."""

    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.embeddings = VisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(d, eps=eps)  # (sic: transformers' name)
        self.layers = nn.ModuleList([EncoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.post_layernorm = nn.LayerNorm(d, eps=eps)

    def forward(self, pixel_values):
        x = self.pre_layrnorm(self.embeddings(pixel_values))
        for layer in self.layers:
            x = layer(x)
        return self.post_layernorm(x[:, 0, :])


def cosine_distance(image_embeds, text_embeds):
    """diffusers' cosine_distance: F.normalize both, then a matrix product (a cosine similarity, despite the name)."""
    return torch.mm(nn.functional.normalize(image_embeds), nn.functional.normalize(text_embeds).t())


class SafetyChecker(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_model = VisionTransformer(VISION)
        self.visual_projection = nn.Linear(VISION["hidden_size"], PROJECTION_DIM, bias=False)
        self.concept_embeds = nn.Parameter(torch.ones(N_CONCEPTS, PROJECTION_DIM), requires_grad=False)
        self.special_care_embeds = nn.Parameter(torch.ones(N_SPECIAL, PROJECTION_DIM), requires_grad=False)
        self.concept_embeds_weights = nn.Parameter(torch.ones(N_CONCEPTS), requires_grad=False)
        self.special_care_embeds_weights = nn.Parameter(torch.ones(N_SPECIAL), requires_grad=False)

    def embed(self, clip_input):
        return self.visual_projection(self.vision_model(clip_input))

    def scores(self, clip_input):
        """forward_onnx's arithmetic, every intermediate returned (float32)."""
        image_embeds = self.embed(clip_input)
        special_cos = cosine_distance(image_embeds, self.special_care_embeds)
        cos = cosine_distance(image_embeds, self.concept_embeds)
        adjustment = 0.0
        special_scores = special_cos - self.special_care_embeds_weights + adjustment
        special_care = torch.any(special_scores > 0, dim=1)
        special_adjustment = (special_care * 0.01).unsqueeze(1).expand(-1, cos.shape[1])
        concept_scores = (cos - self.concept_embeds_weights) + special_adjustment
        has_nsfw = torch.any(concept_scores > 0, dim=1)
        return {"image_embeds": image_embeds, "special_cos": special_cos, "concept_cos": cos,
                "special_scores": special_scores, "special_care": special_care, "concept_scores": concept_scores,
                "has_nsfw": has_nsfw}

    def forward(self, clip_input, images):
        """diffusers' forward_onnx. `images[has_nsfw_concepts] = 0.0` is written as a `where` (same values; a plain
        graph without an in-place index_put on an input)."""
        has_nsfw_concepts = self.scores(clip_input)["has_nsfw"]
        out_images = torch.where(has_nsfw_concepts[:, None, None, None], torch.zeros_like(images), images)
        return out_images, has_nsfw_concepts


def init_weights(model, seed):
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.LayerNorm):
                normal(m.weight, 0.1, 1.0)
                normal(m.bias, 0.1)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                normal(m.weight, 1.0 / math.sqrt(fan_in))
                if m.bias is not None:
                    normal(m.bias, 0.05)
            elif isinstance(m, nn.Embedding):
                normal(m.weight, 0.1)
        normal(model.vision_model.embeddings.class_embedding, 0.1)
        # sharper attention than 1/sqrt(fan_in) gives: with near-uniform attention the class token sees the mean of
        # the patches and every noise-like image gets nearly the same embedding (cosine ~0.99), so the concept test
        # would mean little; with q, k x3 the test images' cosines spread over 0.53-0.95
        for layer in model.vision_model.layers:
            layer.self_attn.q_proj.weight.mul_(3.0)
            layer.self_attn.k_proj.weight.mul_(3.0)


# ======================================================================================================================
# Build
# ======================================================================================================================


def load_test_images():
    """(name, source, uint8 [H, W, 3]) for every test image: tiny-SDXL reference outputs, the init picture, and
    synthetic pictures of other sizes (non-square, larger than 224: the downscaling path)."""
    ref = json.load(open(SDXL_REF, encoding="utf-8"))

    def ref_image(path, index=0):
        obj = ref
        for key in path.split("."):
            obj = obj[int(key)] if isinstance(obj, list) else obj[key]
        arr = from_b64(obj)
        return arr[index] if arr.ndim == 4 else arr

    out = []
    for name, path, index in [
        ("seeded_txt2img_seed42", "seeded.txt2img.samples_1.image", 0),
        ("seeded_txt2img_seed43", "seeded.txt2img.samples_2.image", 1),
        ("seeded_img2img_strength06", "seeded.img2img.cases.0.image", 0),
        ("seeded_controlnet", "seeded.controlnet.image", 0),
        ("txt2img_samples_1", "txt2img.samples_1.image", 0),
        ("init_image", "images.init_image", 0),
    ]:
        out.append((name, {"from": path, "index": index}, np.ascontiguousarray(ref_image(path, index))))
    for h, w in [(96, 160), (144, 80), (896, 1152)]:
        out.append((f"synthetic_{h}x{w}", {"synthetic": {"height": h, "width": w}}, synthetic_image(h, w)))
    return out


def choose_concepts(model, embeds, names, g):
    """Concept and special-care embeddings and thresholds on the test images' projected embeddings:
      concept 0 = embed(seed 42)         threshold between 1 and the next-closest image: seed 42 flagged
      concept 1 = embed(img2img 0.6)     threshold 1.005: flagged only with the special-care adjustment (+0.01)
      special 0 = embed(img2img 0.6)     threshold below 1, above every other image: special care for that image only
      concept 2 = embed(controlnet)      threshold 1.005, no special care: a near miss (score -0.005), not flagged
      the rest: random directions with thresholds in [0.95, 0.99] (and >= 0.06 above every test image's similarity),
      so that in practice only images close to those three are ever flagged, whatever the seed or prompt."""
    e = nn.functional.normalize(embeds)
    sim = (e @ e.t()).numpy().astype(np.float64)
    i42, i43 = names.index("seeded_txt2img_seed42"), names.index("seeded_txt2img_seed43")
    i_sc, i_cn = names.index("seeded_img2img_strength06"), names.index("seeded_controlnet")

    def between(i):
        """A threshold between 1 (image i itself) and the most similar other image, with the margins asserted."""
        others = max(sim[i, j] for j in range(len(names)) if j != i)
        assert others < 1 - 4 * MIN_MARGIN - 0.01, f"{names[i]} too close to another image ({others:.4f})"
        return float((1 + others) / 2)

    concept = torch.randn(N_CONCEPTS, PROJECTION_DIM, generator=g)
    special = torch.randn(N_SPECIAL, PROJECTION_DIM, generator=g)
    concept[0], concept[1], concept[2] = embeds[i42], embeds[i_sc], embeds[i_cn]
    special[0] = embeds[i_sc]
    c_sim = (e @ nn.functional.normalize(concept).t()).numpy()
    s_sim = (e @ nn.functional.normalize(special).t()).numpy()
    cw = np.maximum(c_sim.max(axis=0) + 0.06, 0.95 + 0.04 * torch.rand(N_CONCEPTS, generator=g).numpy())
    sw = np.maximum(s_sim.max(axis=0) + 0.06, 0.95 + 0.04 * torch.rand(N_SPECIAL, generator=g).numpy())
    cw[0] = between(i42)
    cw[1] = 1.005
    cw[2] = 1.005
    sw[0] = between(i_sc)
    with torch.no_grad():
        model.concept_embeds.copy_(concept)
        model.special_care_embeds.copy_(special)
        model.concept_embeds_weights.copy_(torch.tensor(cw, dtype=torch.float32))
        model.special_care_embeds_weights.copy_(torch.tensor(sw, dtype=torch.float32))


def export(model, path):
    clip_input = torch.zeros(2, 3, CROP, CROP)
    images = torch.rand(2, 64, 64, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
        torch.onnx.export(model, (clip_input, images), path, input_names=["clip_input", "images"],
                          output_names=["out_images", "has_nsfw_concepts"],
                          # diffusers' scripts/convert_stable_diffusion_checkpoint_to_onnx.py, names included
                          dynamic_axes={"clip_input": {0: "batch", 1: "channels", 2: "height", 3: "width"},
                                        "images": {0: "batch", 1: "height", 2: "width", 3: "channels"},
                                        # (diffusers names no output axes; named here for readable metadata)
                                        "out_images": {0: "batch", 1: "height", 2: "width", 3: "channels"},
                                        "has_nsfw_concepts": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True)
    om = onnx.load(path)
    om.ir_version = IR_VERSION
    om.producer_name = "hearth/scripts/fixtures_safety.py"
    onnx.save(om, path)
    om = onnx.load(path)
    onnx.checker.check_model(om, full_check=True)
    assert [i.name for i in om.graph.input] == ["clip_input", "images"]
    assert [o.name for o in om.graph.output] == ["out_images", "has_nsfw_concepts"]
    return om


def export_fp16io(om, path):
    """The same graph with float16 `clip_input`, `images` and `out_images` (Cast nodes at the edges), as the float16
    exports used on the web have (Microsoft's WebNN / ORT-web ones): it tests the float16 input path of safety.ts."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    g = onnx.GraphProto()
    g.CopyFrom(om.graph)
    rename = {"clip_input": "clip_input_f32", "images": "images_f32"}
    for node in g.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = ["out_images_f32" if n == "out_images" else n for n in node.output]
    casts = [helper.make_node("Cast", ["clip_input"], ["clip_input_f32"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["images"], ["images_f32"], to=TensorProto.FLOAT)]
    nodes = casts + list(g.node) + [helper.make_node("Cast", ["out_images_f32"], ["out_images"], to=TensorProto.FLOAT16)]
    del g.node[:]
    g.node.extend(nodes)
    for v in [*g.input, g.output[0]]:
        v.type.tensor_type.elem_type = TensorProto.FLOAT16
    m = onnx.ModelProto()
    m.CopyFrom(om)
    m.graph.CopyFrom(g)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return m


def value_type(v):
    tt = v.type.tensor_type
    dtype = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.BOOL: "bool"}[tt.elem_type]
    return {"dtype": dtype, "shape": [d.dim_param if d.dim_param else d.dim_value for d in tt.shape.dim]}


def build():
    t0 = time.time()
    os.makedirs(MODEL_DIR, exist_ok=True)
    check_against_pil()

    # ---- test images and their preprocessing ----------------------------------------------------------------------
    images = load_test_images()
    names = [n for n, _, _ in images]
    pre = []
    for name, source, rgb in images:
        crop, resized, offset = clip_crop(rgb)
        pre.append((crop, resized, offset, clip_normalize(crop)))
    clip_input = torch.from_numpy(np.stack([p[3] for p in pre]))

    # ---- model ----------------------------------------------------------------------------------------------------
    model = SafetyChecker().eval()
    init_weights(model, SEED)
    with torch.no_grad():
        embeds = model.embed(clip_input)
        choose_concepts(model, embeds, names, torch.Generator().manual_seed(SEED + 1))
        s = model.scores(clip_input)
    special_scores = s["special_scores"].numpy()
    concept_scores = s["concept_scores"].numpy()
    has_nsfw = s["has_nsfw"].numpy()
    assert np.abs(special_scores).min() > MIN_MARGIN, np.abs(special_scores).min()
    assert np.abs(concept_scores).min() > MIN_MARGIN, np.abs(concept_scores).min()
    flagged = [n for n, f in zip(names, has_nsfw) if f]
    special = [n for n, f in zip(names, s["special_care"].numpy()) if f]
    assert flagged == ["seeded_txt2img_seed42", "seeded_img2img_strength06"], flagged
    assert special == ["seeded_img2img_strength06"], special
    i_sc, i_cn = names.index("seeded_img2img_strength06"), names.index("seeded_controlnet")
    assert -0.01 < concept_scores[i_sc, 1] - 0.01 < 0 < concept_scores[i_sc, 1]  # flagged by the adjustment alone
    assert -0.01 < concept_scores[i_cn, 2] < 0  # near miss without it

    # a batch equals the single runs; a few pixels off by one (as onnxruntime's images are) change no decision
    with torch.no_grad():
        singles = torch.cat([model.scores(clip_input[i:i + 1])["concept_scores"] for i in range(len(names))])
        assert torch.allclose(singles, s["concept_scores"], atol=1e-6)
        for i, (_, _, rgb) in enumerate(images):
            noisy = rgb.copy()
            flat = noisy.reshape(-1)
            pos = np.arange(0, flat.size, 997)
            flat[pos] = np.clip(flat[pos].astype(int) + np.where(pos % 2 == 0, 1, -1), 0, 255)
            got = model.scores(torch.from_numpy(clip_normalize(clip_crop(noisy)[0]))[None])["has_nsfw"]
            assert bool(got[0]) == bool(has_nsfw[i]), names[i]

    # ---- export -----------------------------------------------------------------------------------------------------
    onnx_path = os.path.join(MODEL_DIR, "model.onnx")
    om = export(model, onnx_path)
    size = os.path.getsize(onnx_path)
    assert size < 300_000, size
    fp16_path = os.path.join(REF_DIR, "safety_checker_fp16io.onnx")
    om16 = export_fp16io(om, fp16_path)
    with torch.no_grad():
        rgb0 = torch.from_numpy(images[0][2].astype(np.float32) / 255)[None]
        out_images, nsfw0 = model(clip_input[:1], rgb0)
        assert bool(nsfw0[0]) and float(out_images.abs().max()) == 0.0

    write_json(os.path.join(MODEL_DIR, "config.json"), {
        "_name_or_path": "CompVis/stable-diffusion-safety-checker (architecture only: tiny, random weights)",
        "architectures": ["StableDiffusionSafetyChecker"],
        "model_type": "clip",
        "projection_dim": PROJECTION_DIM,
        "torch_dtype": "float32",
        "vision_config": {"model_type": "clip_vision_model", **VISION, "projection_dim": PROJECTION_DIM},
        "hearth": {"concepts": N_CONCEPTS, "special_care": N_SPECIAL,
                   "note": "concept embeddings chosen on the tiny SDXL's reference images; see "
                           "tests/fixtures/sdxl/README.md, 'Safety checker'"},
    })
    write_json(os.path.join(MODEL_DIR, "preprocessor_config.json"), PREPROCESSOR_CONFIG)

    # ---- reference --------------------------------------------------------------------------------------------------
    sample_idx = [int(i) for i in np.linspace(0, 3 * CROP * CROP - 1, 24).round()]
    entries = []
    for i, ((name, source, rgb), (crop, resized, offset, x)) in enumerate(zip(images, pre)):
        flat = x.reshape(-1)
        entry = {
            "name": name, "source": source, "source_sha256": sha256(rgb),
            "height": int(rgb.shape[0]), "width": int(rgb.shape[1]),
            "resized": list(resized), "crop_top_left": [int(offset[0]), int(offset[1])],
            "crop_sha256": sha256(crop), "clip_input_sha256": sha256(flat.astype("<f4")),
            "clip_input_sample": {"index": sample_idx, "value": f32list(flat[sample_idx])},
            "clip_input_sum": float(flat.astype(np.float64).sum()),
            "clip_input_abs_sum": float(np.abs(flat.astype(np.float64)).sum()),
            "image_embeds": f32list(s["image_embeds"][i]),
            "special_cos": f32list(s["special_cos"][i]), "special_scores": f32list(special_scores[i]),
            "special_care": bool(s["special_care"][i]),
            "concept_cos": f32list(s["concept_cos"][i]), "concept_scores": f32list(concept_scores[i]),
            "has_nsfw_concepts": bool(has_nsfw[i]),
        }
        if name in ("seeded_txt2img_seed42", "synthetic_896x1152"):
            entry["crop"] = u8(crop)
        entries.append(entry)
    def io_of(m):
        return {"inputs": [v.name for v in m.graph.input], "outputs": [v.name for v in m.graph.output],
                "types": {v.name: value_type(v) for v in [*m.graph.input, *m.graph.output]}}

    io = io_of(om)
    ref = {
        "format": "hearth-sdxl-safety-reference/1",
        "model": "public/models/hearth-tiny-sdxl/safety_checker/model.onnx",
        "tensor_encoding": "uint8 tensors: {dtype, shape, b64} = base64 of the row-major bytes; sha256 over the "
                           "row-major bytes (uint8 HWC crop; float32 little-endian CHW clip_input)",
        "io": io,
        "fp16io": {"model": "tests/fixtures/sdxl/safety_checker_fp16io.onnx", "io": io_of(om16),
                   "note": "model.onnx with float16 clip_input/images/out_images (Cast at the edges)"},
        "config": {"vision": VISION, "projection_dim": PROJECTION_DIM, "concepts": N_CONCEPTS,
                   "special_care": N_SPECIAL, "special_adjustment": 0.01},
        "preprocess": {
            "config": PREPROCESSOR_CONFIG,
            "steps": ["RGB uint8 (alpha dropped)",
                      "resize: shortest edge to 224, other edge int(224 * long / short), PIL bicubic (exact port)",
                      "centre crop 224 x 224 at ((H - 224) // 2, (W - 224) // 2)",
                      "x = float32(v * (1/255)) (float64 product)", "(x - float32(mean)) / float32(std) in float32",
                      "HWC -> CHW"],
        },
        "synthetic": "uint8 [H, W, 3]: r = x*255 // (W-1), g = y*255 // (H-1), b = (x*x + 3*y*y + 7*x*y) % 256",
        "weights": {"concept_embeds_weights": f32list(model.concept_embeds_weights),
                    "special_care_embeds_weights": f32list(model.special_care_embeds_weights)},
        "cases": {
            "flagged": "seeded_txt2img_seed42",
            "not_flagged": "seeded_txt2img_seed43",
            "flagged_by_special_care": "seeded_img2img_strength06",
            "near_miss": "seeded_controlnet",
            "flagged_all": flagged,
        },
        "min_margin": MIN_MARGIN,
        "images": entries,
    }
    write_json(OUT_REF, ref, compact=True)
    print(f"safety_checker: onnx {size} bytes, {len(entries)} test images, flagged {flagged}; "
          f"min |score| {min(np.abs(special_scores).min(), np.abs(concept_scores).min()):.4f} "
          f"({time.time() - t0:.1f} s)")
    print("wrote", os.path.relpath(OUT_REF, ROOT), "and", os.path.relpath(MODEL_DIR, ROOT))


if __name__ == "__main__":
    build()
    sys.exit(0)
