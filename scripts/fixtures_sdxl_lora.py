"""Two LoRA adapters for the tiny SDXL of scripts/fixtures_sdxl.py, and torch references of the merged model.

Run by scripts/make_fixtures.py (after fixtures_sdxl.py); also runnable alone:

    /usr/bin/python3 scripts/fixtures_sdxl_lora.py

It writes, deterministically (fixed seeds; two runs give byte-identical files):

  public/hub/hearth/tiny-sdxl-lora/resolve/main/     a local copy of a Hugging Face repo "hearth/tiny-sdxl-lora"
      pytorch_lora_weights.safetensors              diffusers / PEFT layout, F32, rank 4, no alpha (scale 1)
      kohya_lora.safetensors                        kohya / sd-scripts layout, F16 up/down + F32 alpha scalars,
                                                    rank 8, alpha 4 (scale 0.5), incl. LoCon-style conv layers
  tests/fixtures/sdxl/lora-reference.json           per adapter: targeted modules (LoRA key -> torch path -> ONNX
                                                    initializer of every part), merged-weight checks, merged parts
                                                    (text encoders, one UNet call) and whole seeded samplings
                                                    (text-to-image, control_net) with their base images

The torch modules are the base fixture's (fixtures_sdxl.build_models, same seeds); every targeted weight is checked
equal to its ONNX initializer in public/models/hearth-tiny-sdxl (run fixtures_sdxl.py first). The samplings use the
base script's own sampler (fixtures_sdxl.make_sampler) and conditioning (fixtures_sdxl.text_conditioning); with
the base weights they reproduce reference.json's `seeded` results bit for bit (asserted).

Merge: W' = W + (alpha / r) * up @ down on the float32 base weight, computed in float64 and rounded once to float32
(kohya's F16 up/down values are widened to float32/float64 exactly). See tests/fixtures/sdxl/README.md, "LoRA".
"""

import base64
import copy
import hashlib
import json
import math
import os
import struct
import sys
import shutil
import tempfile
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_sdxl as fx  # noqa: E402

ROOT = fx.ROOT
HUB_REPO = "hearth/tiny-sdxl-lora"
HUB_DIR = os.path.join(ROOT, "public", "hub", *HUB_REPO.split("/"), "resolve", "main")
REF_PATH = os.path.join(fx.REF_DIR, "lora-reference.json")
LORA_SEED = 7007

# ONNX parts that hold each component's weights. The ControlNet (controlnet/model.onnx) has its own weights: a LoRA of
# the UNet does not apply to it (checked below: none of the targeted weights occurs there).
PARTS = {
    "unet": ["unet/model.onnx", "unet/model_controlnet.onnx", "unet/model_int64ts.onnx"],
    "text_encoder": ["text_encoder/model.onnx"],
    "text_encoder_2": ["text_encoder_2/model.onnx"],
}
NOT_PARTS = ["controlnet/model.onnx"]

# Magnitudes: down ~ N(0, 1/fan_in), up ~ N(0, (STD/√r)²) -> the merged delta's entries have std ≈ scale·STD/√fan_in,
# i.e. scale·STD times the base weights' std (1/√fan_in). Chosen so the images differ clearly (see the README).
PEFT = {"name": "peft", "file": "pytorch_lora_weights.safetensors", "format": "diffusers-peft", "dtype": "F32",
        "rank": 4, "alpha": 4.0, "std": 0.6}
KOHYA = {"name": "kohya", "file": "kohya_lora.safetensors", "format": "kohya", "dtype": "F16",
         "rank": 8, "alpha": 4.0, "std": 1.6}
LORA_SCALE = 1.0  # the user-level multiplier applied in every reference here (W' = W + LORA_SCALE * alpha/r * up@down)


# ======================================================================================================================
# Targets
# ======================================================================================================================


def peft_targets(te1, te2, unet):
    """(component, torch path) of the PEFT adapter: every UNet attention projection (attn1 and attn2 of every
    transformer), ff_proj of one transformer, q/k/v/out_proj of every layer of both text encoders."""
    out = []
    for name, m in unet.named_modules():
        if isinstance(m, fx.Transformer2D):
            for a in ("attn1", "attn2"):
                out += [("unet", f"{name}.{a}.{p}") for p in ("to_q", "to_k", "to_v", "to_out")]
    out.append(("unet", "enc.down0_attn.ff_proj"))
    for comp, te in (("text_encoder", te1), ("text_encoder_2", te2)):
        for i in range(len(te.layers)):
            out += [(comp, f"layers.{i}.self_attn.{p}") for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
    return out


def kohya_targets():
    """(component, torch path) of the kohya adapter: the attention projections of the mid transformer, a 3x3 resnet
    conv1 (LoCon), a 1x1 conv_shortcut, proj_in/proj_out of another transformer, q/v_proj of layer 0 of both text
    encoders."""
    out = [("unet", f"enc.mid_attn.{a}.{p}") for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out")]
    out += [("unet", "enc.down0_resnet.conv1"), ("unet", "up0_resnet1.conv_shortcut"),
            ("unet", "up1_attn1.proj_in"), ("unet", "up1_attn1.proj_out")]
    for comp in ("text_encoder", "text_encoder_2"):
        out += [(comp, "layers.0.self_attn.q_proj"), (comp, "layers.0.self_attn.v_proj")]
    return out


KOHYA_PREFIX = {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}


def lora_prefix(adapter, comp, path):
    if adapter["name"] == "peft":
        return f"{comp}.{path}"
    return KOHYA_PREFIX[comp] + path.replace(".", "_")


def make_lora(adapter, targets, modules, seed):
    """{prefix: {comp, path, kind, down, up (numpy, the stored dtype), alpha?}} for the adapter's targets."""
    g = torch.Generator().manual_seed(seed)
    r, std = adapter["rank"], adapter["std"]
    out = {}
    for comp, path in targets:
        m = modules[comp][path]
        w = m.weight
        fan_in = w[0].numel()
        if isinstance(m, nn.Conv2d):
            kind = f"conv{w.shape[2]}x{w.shape[3]}"
            down = torch.randn(r, *w.shape[1:], generator=g) / math.sqrt(fan_in)
            up = torch.randn(w.shape[0], r, 1, 1, generator=g) * (std / math.sqrt(r))
        else:
            assert isinstance(m, nn.Linear), path
            kind = "linear"
            down = torch.randn(r, w.shape[1], generator=g) / math.sqrt(fan_in)
            up = torch.randn(w.shape[0], r, generator=g) * (std / math.sqrt(r))
        dt = np.float16 if adapter["dtype"] == "F16" else np.float32
        out[lora_prefix(adapter, comp, path)] = {"comp": comp, "path": path, "kind": kind,
                                                 "down": down.numpy().astype(dt), "up": up.numpy().astype(dt)}
    return out


def adapter_tensors(adapter, lora):
    t = {}
    for prefix, e in lora.items():
        if adapter["name"] == "peft":
            t[f"{prefix}.lora_A.weight"] = e["down"]
            t[f"{prefix}.lora_B.weight"] = e["up"]
        else:
            t[f"{prefix}.lora_down.weight"] = e["down"]
            t[f"{prefix}.lora_up.weight"] = e["up"]
            t[f"{prefix}.alpha"] = np.array(adapter["alpha"], dtype=np.float32)
    return t


def merged_weight(w, down, up, scale):
    """W + scale * up @ down in float64, rounded once to float32. w: [out, in(, kh, kw)], down: [r, in(, kh, kw)],
    up: [out, r(, 1, 1)]."""
    w64 = np.asarray(w, np.float64)
    d = np.asarray(down, np.float32).astype(np.float64).reshape(down.shape[0], -1)
    u = np.asarray(up, np.float32).astype(np.float64).reshape(up.shape[0], up.shape[1])
    return (w64 + scale * (u @ d).reshape(w64.shape)).astype(np.float32)


def merged_models(models, adapter, lora, lora_scale=LORA_SCALE):
    """Deep copies of {comp: module} with the adapter merged into the targeted weights."""
    scale = lora_scale * adapter["alpha"] / adapter["rank"]
    out = {c: copy.deepcopy(m) for c, m in models.items()}
    with torch.no_grad():
        for e in lora.values():
            mod = dict(out[e["comp"]].named_modules())[e["path"]]
            mod.weight.copy_(torch.from_numpy(merged_weight(mod.weight.numpy(), e["down"], e["up"], scale)))
    return out


# ======================================================================================================================
# safetensors
# ======================================================================================================================

ST_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}


def write_safetensors(path, tensors, metadata):
    """8-byte LE u64 header length, JSON header (tensors sorted by name, then __metadata__) padded with spaces to a
    multiple of 8, then the raw little-endian bytes in the same order."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": ST_DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_external_text_encoder():
    """The tiny text encoder saved with every weight in an external data file, as exports over 2 GB are (SDXL's UNet
    and text_encoder_2): a LoRA merge must find and rewrite weights there. Same weights as text_encoder/model.onnx."""
    model = onnx.load(os.path.join(ROOT, "public", "models", "hearth-tiny-sdxl", "text_encoder", "model.onnx"))
    out = os.path.join(ROOT, "tests", "fixtures", "sdxl", "external", "text_encoder")
    os.makedirs(out, exist_ok=True)
    for name in ("model.onnx", "model.onnx_data"):
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    onnx.save_model(model, os.path.join(out, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=0)


def write_foreign_adapter():
    """A valid LoRA for the real SDXL base (diffusers names and shapes, rank 1), which does not fit the tiny model:
    the request that names it must get a 400 (lora_mismatch) and leave the engine serving."""
    g = np.random.default_rng(7)
    tensors = {}
    for path, width in (("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q", 640),
                        ("mid_block.attentions.0.transformer_blocks.0.attn2.to_k", 1280)):
        tensors[f"unet.{path}.lora_A.weight"] = g.standard_normal((1, width)).astype(np.float16)
        tensors[f"unet.{path}.lora_B.weight"] = g.standard_normal((width if path.endswith("to_q") else 1280, 1)).astype(np.float16)
    write_safetensors(os.path.join(HUB_DIR, "sdxl_base_lora.safetensors"), tensors,
                      {"format": "pt", "hearth": "a LoRA for SDXL base names/shapes: does not fit hearth/tiny-sdxl"})


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        dt = {"F32": "<f4", "F16": "<f2"}[h["dtype"]]
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dt).reshape(h["shape"])
    assert base + max(h["data_offsets"][1] for h in header.values()) == len(data)
    return out, meta


# ======================================================================================================================
# ONNX: where each targeted weight lives
# ======================================================================================================================


def onnx_index(rel):
    om = onnx.load(os.path.join(fx.MODEL_DIR, rel))
    inits = {i.name: i for i in om.graph.initializer}
    consumers = {}
    for n in om.graph.node:
        for i in n.input:
            if i in inits:
                consumers.setdefault(i, []).append(n)
    return om, inits, consumers


def locate_weight(index, w):
    """The initializer equal to torch weight w (as stored, or transposed for a MatMul's [in, out] weight)."""
    om, inits, consumers = index
    hits = []
    for name, t in inits.items():
        if tuple(t.dims) not in (tuple(w.shape), tuple(w.shape[::-1])):
            continue
        a = numpy_helper.to_array(t)
        if a.shape == w.shape and np.array_equal(a, w):
            hits.append((name, False))
        if w.ndim == 2 and a.shape == w.shape[::-1] and np.array_equal(a, w.T):
            hits.append((name, True))
    return hits


def onnx_entry(index, w, path):
    hits = locate_weight(index, w)
    assert len(hits) == 1, (path, hits)
    name, transposed = hits[0]
    om, inits, consumers = index
    nodes = consumers[name]
    assert len(nodes) == 1, (path, [n.name for n in nodes])
    node = nodes[0]
    assert node.op_type in ("MatMul", "Gemm", "Conv"), node.op_type
    assert node.input[1] == name, (node.name, list(node.input))
    assert inits[name].HasField("raw_data") and inits[name].data_type == onnx.TensorProto.FLOAT
    scope = node.name[1:].rsplit("/", 1)[0]  # "/down0_attn/attn1/to_q/MatMul" -> "down0_attn/attn1/to_q"
    # the MatMul weights of Linear modules are anonymous (onnx::MatMul_NNN) and stored [in, out]; Conv (and Gemm)
    # weights keep the torch parameter name, [out, in(, kh, kw)]
    assert transposed == (node.op_type == "MatMul")
    return {"initializer": name, "transposed": transposed, "dims": list(inits[name].dims), "node": node.name,
            "op": node.op_type, "node_scope": scope, "node_path": scope.replace("/", ".")}


def expected_names(rel, comp, path):
    """How a torch path shows in each ONNX part (asserted for every targeted module): (node path, initializer name
    of a Conv/Gemm weight). The UNet's `enc` submodule is called through methods, so it opens no scope; the int64
    UNet is exported through the UNetInt64Timestep wrapper (attribute `unet`)."""
    if comp != "unet":
        return path, path + ".weight"
    scope = path[len("enc."):] if path.startswith("enc.") else path
    if rel == "unet/model_int64ts.onnx":
        return "unet." + scope, "unet." + path + ".weight"
    return scope, path + ".weight"


# ======================================================================================================================
# Helpers
# ======================================================================================================================


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def from_b64(t):
    dt = {"float32": "<f4", "uint8": "u1"}[t["dtype"]]
    return np.frombuffer(base64.b64decode(t["b64"]), dt).reshape(t["shape"])


def head16(a):
    return [float(v) for v in np.asarray(a, np.float32).reshape(-1)[:16]]


def pixel_diff(a, b):
    d = np.abs(a.astype(np.int32) - b.astype(np.int32))
    return {"mean_abs": round(float(d.mean()), 4), "max_abs": int(d.max()),
            "fraction_changed": round(float((d > 0).mean()), 4)}


# ======================================================================================================================
# Build
# ======================================================================================================================


def build():
    t0 = time.time()
    base_ref = load_json(os.path.join(fx.REF_DIR, "reference.json"))
    seeded = base_ref["seeded"]

    # ---- the base fixture's tokenizer, models, prompt ids, schedule ---------------------------------------------
    tok = fx.ClipTokenizer(fx.train_merges(fx.CORPUS, fx.N_MERGES))
    vocab_size = len(tok.vocab)
    te1, te2, unet, cnet, _vae_enc, vae_dec = fx.build_models(vocab_size)
    pad1, pad2 = tok.eos, tok.vocab["!"]
    ids1 = torch.tensor([tok.pipeline_ids(fx.PROMPT, pad1), tok.pipeline_ids(fx.NEGATIVE, pad1)], dtype=torch.int64)
    ids2 = torch.tensor([tok.pipeline_ids(fx.PROMPT, pad2), tok.pipeline_ids(fx.NEGATIVE, pad2)], dtype=torch.int64)
    assert ids1.reshape(-1).tolist() == base_ref["parts"]["text_encoder"]["inputs"]["input_ids"]["data"]
    assert ids2.reshape(-1).tolist() == base_ref["parts"]["text_encoder_2"]["inputs"]["input_ids"]["data"]
    assert seeded["prompt"] == fx.PROMPT and seeded["negative_prompt"] == fx.NEGATIVE
    log_sigmas = [math.log(s) for s in fx.train_sigmas(fx.SCHEDULER_CONFIG)]
    sig10 = base_ref["schedule"]["karras"]["10"]["sigmas"]
    edge_img = fx.edge_map_pattern(fx.HEIGHT, fx.WIDTH)
    assert np.array_equal(edge_img, from_b64(base_ref["images"]["edge_map"]))
    edge_t = torch.from_numpy(fx.image_to_control(edge_img))
    lat_hw = (fx.HEIGHT // 8, fx.WIDTH // 8)
    noise = fx.seeded_latent_noise(fx.SEEDED_SEED, 1, *lat_hw)
    base_models = {"unet": unet, "text_encoder": te1, "text_encoder_2": te2}
    modules = {c: dict(m.named_modules()) for c, m in base_models.items()}

    # kohya names lose the dots: the underscored paths of each component's weight modules must stay unique
    for c, mods in modules.items():
        under = [p.replace(".", "_") for p, m in mods.items() if isinstance(m, (nn.Linear, nn.Conv2d))]
        assert len(set(under)) == len(under), c

    def sample(models, controls=False):
        """The base script's conditioning + sampler, on `models` (unet, text_encoder, text_encoder_2)."""
        _, _, ehs, pooled = fx.text_conditioning(models["text_encoder"], models["text_encoder_2"], ids1, ids2)
        run, decode = fx.make_sampler(models["unet"], cnet, vae_dec, ehs, pooled, log_sigmas)
        ctl = (edge_t, fx.CONDITIONING_SCALE, lambda i: 1.0) if controls else None
        lat = run(noise, sig10, controls=ctl)
        return lat, decode(lat)[1]

    # the base model through this path reproduces reference.json's seeded runs bit for bit
    base_lat, base_img = sample(base_models)
    assert np.array_equal(base_lat, from_b64(seeded["txt2img"]["samples_1"]["latents"]))
    assert np.array_equal(base_img, from_b64(seeded["txt2img"]["samples_1"]["image"]))
    base_cn_lat, base_cn_img = sample(base_models, controls=True)
    assert np.array_equal(base_cn_lat, from_b64(seeded["controlnet"]["latents"]))
    assert np.array_equal(base_cn_img, from_b64(seeded["controlnet"]["image"]))

    # ---- ONNX indexes ---------------------------------------------------------------------------------------------
    indexes = {rel: onnx_index(rel) for rels in PARTS.values() for rel in rels + NOT_PARTS}

    # ---- the adapters ---------------------------------------------------------------------------------------------
    print(f"{HUB_REPO}:")
    keep = os.environ.get("HEARTH_LORA_ONNX_DIR")  # set it to keep the merged ONNX copies (e.g. to run them)
    tmp = keep or tempfile.mkdtemp(prefix="hearth-lora-")
    adapters_out = {}
    specs = ((PEFT, peft_targets(te1, te2, unet), LORA_SEED), (KOHYA, kohya_targets(), LORA_SEED + 1))
    for adapter, targets, seed in specs:
        lora = make_lora(adapter, targets, modules, seed)
        tensors = adapter_tensors(adapter, lora)
        if adapter["name"] == "peft":
            metadata = {"format": "pt", "lora_adapter_metadata": json.dumps(
                {"r": adapter["rank"], "lora_alpha": int(adapter["alpha"]),
                 "target_modules": sorted({p.rsplit(".", 1)[1] for _, p in targets})}, separators=(",", ":")),
                "hearth": "tiny random LoRA for hearth/tiny-sdxl (scripts/fixtures_sdxl_lora.py)"}
        else:
            metadata = {"ss_network_module": "networks.lora", "ss_network_dim": str(adapter["rank"]),
                        "ss_network_alpha": str(adapter["alpha"]), "ss_base_model_version": "sdxl_base_v1-0",
                        "hearth": "tiny random LoRA/LoCon for hearth/tiny-sdxl (scripts/fixtures_sdxl_lora.py)"}
        fpath = os.path.join(HUB_DIR, adapter["file"])
        write_safetensors(fpath, tensors, metadata)
        size = os.path.getsize(fpath)
        assert size < 200_000, size
        back, back_meta = read_safetensors(fpath)
        assert back_meta == metadata and sorted(back) == sorted(tensors)
        for k, v in tensors.items():
            assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
        with open(fpath, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        scale = LORA_SCALE * adapter["alpha"] / adapter["rank"]

        # modules: key prefix -> torch path -> ONNX initializer per part
        mods = []
        for prefix, e in lora.items():
            w = modules[e["comp"]][e["path"]].weight.detach().numpy()
            onnx_map = {rel: onnx_entry(indexes[rel], w, e["path"]) for rel in PARTS[e["comp"]]}
            for rel, o in onnx_map.items():
                node_path, init_name = expected_names(rel, e["comp"], e["path"])
                assert o["node_path"] == node_path, (rel, e["path"], o["node"])
                assert o["transposed"] or o["initializer"] == init_name, (rel, e["path"], o["initializer"])
            for rel in NOT_PARTS:
                assert not locate_weight(indexes[rel], w), (rel, e["path"])
            keys = sorted(k for k in tensors if k.startswith(prefix + "."))
            mods.append({"prefix": prefix, "component": e["comp"], "torch_path": e["path"], "kind": e["kind"],
                         "weight_shape": list(w.shape), "tensors": keys,
                         "down_shape": list(e["down"].shape), "up_shape": list(e["up"].shape), "onnx": onnx_map})

        # merged torch models, and the merged weights in ONNX copies (checked against torch)
        merged = merged_models(base_models, adapter, lora)
        mmods = {c: dict(m.named_modules()) for c, m in merged.items()}
        for rel in sorted({rel for m in mods for rel in m["onnx"]}):
            om = copy.deepcopy(indexes[rel][0])
            inits = {i.name: i for i in om.graph.initializer}
            for m in mods:
                if rel not in m["onnx"]:
                    continue
                o = m["onnx"][rel]
                e = lora[m["prefix"]]
                stored = numpy_helper.to_array(inits[o["initializer"]])
                base_w = stored.T if o["transposed"] else stored
                new_w = merged_weight(base_w, e["down"], e["up"], scale)
                want = mmods[m["component"]][m["torch_path"]].weight.detach().numpy()
                assert np.array_equal(new_w, want), (rel, m["torch_path"])
                inits[o["initializer"]].CopyFrom(numpy_helper.from_array(
                    np.ascontiguousarray(new_w.T if o["transposed"] else new_w), o["initializer"]))
            out = os.path.join(tmp, adapter["name"], rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            onnx.save(om, out)
            onnx.checker.check_model(onnx.load(out), full_check=True)

        # merged-weight checks: one Linear (cross-attention to_k / a text-encoder q_proj) and the convs
        check_paths = ([("unet", "enc.down0_attn.attn2.to_k"), ("text_encoder_2", "layers.0.self_attn.q_proj")]
                       if adapter["name"] == "peft" else
                       [("unet", "enc.mid_attn.attn2.to_k"), ("unet", "enc.down0_resnet.conv1"),
                        ("unet", "up0_resnet1.conv_shortcut")])
        checks = []
        for comp, path in check_paths:
            w = mmods[comp][path].weight.detach().numpy()
            b = modules[comp][path].weight.detach().numpy()
            checks.append({"component": comp, "torch_path": path, "prefix": lora_prefix(adapter, comp, path),
                           "shape": list(w.shape), "sum": float(w.astype(np.float64).sum()),
                           "base_sum": float(b.astype(np.float64).sum()), "head": head16(w),
                           "base_head": head16(b), "max_abs_delta": float(np.abs(w - b).max())})

        # merged parts: text encoders on reference.json's parts.text_encoder* inputs, one UNet call on parts.unet
        o1, o2, ehs, pooled = fx.text_conditioning(merged["text_encoder"], merged["text_encoder_2"], ids1, ids2)
        pu = base_ref["parts"]["unet"]["inputs"]
        with torch.no_grad():
            u_out = merged["unet"](*(torch.from_numpy(from_b64(pu[k]).copy()) for k in
                                     ("sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids")))
        base_u = from_b64(base_ref["parts"]["unet"]["outputs"]["out_sample"])
        n1, n2 = fx.TE1["num_hidden_layers"], fx.TE2["num_hidden_layers"]
        parts = {
            "note": "inputs as reference.json parts.text_encoder / parts.text_encoder_2 (input_ids rows: prompt, "
                    "negative) and parts.unet (inputs given there, incl. its base encoder_hidden_states): only the "
                    "merged weights differ",
            "text_encoder": {"inputs": {"from": "parts.text_encoder.inputs"},
                             "outputs": {f"hidden_states.{n1 - 1}": fx.tens(fx.npf(o1[2 + n1 - 1]))}},
            "text_encoder_2": {"inputs": {"from": "parts.text_encoder_2.inputs"},
                               "outputs": {f"hidden_states.{n2 - 1}": fx.tens(fx.npf(o2[2 + n2 - 1])),
                                           "text_embeds": fx.tens(fx.npf(o2[0]))}},
            "unet": {"inputs": {"from": "parts.unet.inputs"}, "outputs": {"out_sample": fx.tens(fx.npf(u_out))},
                     "max_abs_diff_vs_base": float(np.abs(fx.npf(u_out) - base_u).max())},
        }

        # whole samplings: the seeded text-to-image and control_net cases of reference.json, merged weights
        common = {"seed": fx.SEEDED_SEED, "prompt": fx.PROMPT, "negative_prompt": fx.NEGATIVE,
                  "height": fx.HEIGHT, "width": fx.WIDTH, "steps": fx.STEPS, "cfg_scale": fx.CFG_SCALE,
                  "sampler": "K_DPMPP_2M", "samples": 1, "add_time_ids": fx.ADD_TIME_IDS, "lora_scale": LORA_SCALE}
        lat, img = sample(merged)
        cn_lat, cn_img = sample(merged, controls=True)
        assert np.isfinite(lat).all() and np.isfinite(cn_lat).all()
        d_t2i, d_cn = pixel_diff(img, base_img), pixel_diff(cn_img, base_cn_img)
        sat = float(((img == 0) | (img == 255)).mean())
        base_sat = float(((base_img == 0) | (base_img == 255)).mean())
        cases = {
            "txt2img": {"name": f"{adapter['name']}.txt2img.seed42", "base_case": "seeded.txt2img.samples_1",
                        **common, "latents": fx.tens(lat), "image": fx.u8(img),
                        "base_latents": {"from": "seeded.txt2img.samples_1.latents"},
                        "base_image": {"from": "seeded.txt2img.samples_1.image"},
                        "pixel_diff_vs_base": d_t2i, "saturated_fraction": round(sat, 4),
                        "base_saturated_fraction": round(base_sat, 4)},
            "control_net": {"name": f"{adapter['name']}.control_net.seed42", "base_case": "seeded.controlnet",
                            **common, "control_image": {"from": "images.edge_map"}, "control_net_name": "canny",
                            "conditioning_scale": fx.CONDITIONING_SCALE, "step_schedule_start": 0.0,
                            "step_schedule_end": 1.0, "latents": fx.tens(cn_lat), "image": fx.u8(cn_img),
                            "base_latents": {"from": "seeded.controlnet.latents"},
                            "base_image": {"from": "seeded.controlnet.image"},
                            "pixel_diff_vs_base": d_cn},
        }
        assert d_t2i["mean_abs"] > 10 and d_cn["mean_abs"] > 10, (d_t2i, d_cn)
        # what a partial merge gives (text-to-image): the UNet alone, the text encoders alone
        ablation = {}
        for label, comps in (("unet_only", ("unet",)), ("text_encoders_only", ("text_encoder", "text_encoder_2"))):
            part_models = {c: (merged[c] if c in comps else base_models[c]) for c in base_models}
            p_img = sample(part_models)[1]
            ablation[label] = {"pixel_diff_vs_base": pixel_diff(p_img, base_img),
                               "pixel_diff_vs_full_merge": pixel_diff(p_img, img)}
        cases["txt2img"]["partial_merges"] = ablation
        print(f"  {adapter['file']}: {size} bytes, {len(tensors)} tensors / {len(lora)} modules, "
              f"scale {scale}; unet out max |diff| {parts['unet']['max_abs_diff_vs_base']:.3f}; "
              f"txt2img mean |pixel diff| {d_t2i['mean_abs']:.1f} (max {d_t2i['max_abs']}), "
              f"image mean {img.mean():.1f} (base {base_img.mean():.1f}), saturated {sat:.3f} "
              f"(base {base_sat:.3f}); control_net mean |pixel diff| {d_cn['mean_abs']:.1f}; unet only "
              f"{ablation['unet_only']['pixel_diff_vs_base']['mean_abs']:.1f}, text encoders only "
              f"{ablation['text_encoders_only']['pixel_diff_vs_base']['mean_abs']:.1f}")

        adapters_out[adapter["name"]] = {
            "file": adapter["file"], "path": os.path.relpath(fpath, ROOT).replace(os.sep, "/"),
            "url": f"/hub/{HUB_REPO}/resolve/main/{adapter['file']}", "format": adapter["format"],
            "dtype": adapter["dtype"], "bytes": size, "sha256": sha, "metadata": metadata,
            "rank": adapter["rank"], "alpha": adapter["alpha"],
            "alpha_source": "none in the file: alpha = rank" if adapter["name"] == "peft" else
                            "per-module F32 scalar `<prefix>.alpha` (shape [])",
            "scale": adapter["alpha"] / adapter["rank"], "lora_scale": LORA_SCALE, "merge_scale": scale,
            "modules": mods, "merged_weights": checks, "parts": parts, "cases": cases,
        }

    # ---- write ------------------------------------------------------------------------------------------------------
    ref = {
        "format": "hearth-sdxl-lora-reference/1",
        "model_dir": f"public/models/{fx.MODEL_NAME}",
        "base_reference": "tests/fixtures/sdxl/reference.json",
        "hub_repo": HUB_REPO,
        "hub_dir": os.path.relpath(HUB_DIR, ROOT).replace(os.sep, "/"),
        "tensor_encoding": "as reference.json: float32/uint8 tensors are {dtype, shape, b64}; {\"from\": path} "
                           "points into reference.json (base_reference)",
        "merge": "W' = W + lora_scale * (alpha / rank) * up @ down on the float32 base weight [out, in(, kh, kw)]; "
                 "convs: delta[o, i, kh, kw] = sum_r up[o, r, 0, 0] * down[r, i, kh, kw]; computed in float64, "
                 "rounded once to float32; F16 up/down widened exactly. ONNX MatMul weights are stored transposed "
                 "([in, out]): add the transposed delta there",
        "onnx_parts": PARTS,
        "not_adapted": {p: "own weights (the ControlNet): a UNet LoRA does not apply; none of the targeted weights "
                           "occurs there" for p in NOT_PARTS},
        "path_notes": [
            "PEFT keys are <component>.<torch path>.lora_A/lora_B.weight with the torch path of named_modules(); "
            "kohya keys are lora_unet_/lora_te1_/lora_te2_ + the same path with every '.' -> '_' (unique per "
            "component, checked)",
            "UNet: the tiny UNet's shared encoder half is the submodule `enc` (TinyUNet.enc), called through "
            "methods, not forward(): ONNX node scopes DROP the `enc.` segment ('/down0_attn/attn1/to_q/MatMul' for "
            "torch path 'enc.down0_attn.attn1.to_q'), while Conv/Gemm initializers keep it "
            "('enc.down0_resnet.conv1.weight'). Modules outside enc (up*_..., conv_out) appear as-is",
            "unet/model_int64ts.onnx wraps the UNet (UNetInt64Timestep.unet): node scopes gain a 'unet/' prefix "
            "('/unet/down0_attn/attn1/to_q/MatMul', '/unet/up1_attn1/proj_in/MatMul') and initializer names a "
            "'unet.' prefix ('unet.enc.down0_resnet.conv1.weight', 'unet.up0_resnet1.conv_shortcut.weight')",
            "text encoders: the torch path is 'layers.<i>.self_attn.q_proj' (no text_model.encoder prefix); the "
            "node is '/layers.<i>/self_attn/q_proj/MatMul' (the ModuleList index keeps its dot)",
            "Linear weights (MatMul) are anonymous initializers 'onnx::MatMul_<n>' (numbers differ per file), "
            "stored [in, out]: find them as input 1 of the MatMul node named '/<scope>/MatMul'",
        ],
        "adapters": adapters_out,
    }
    fx.write_json(REF_PATH, ref, compact=True)
    write_foreign_adapter()
    write_external_text_encoder()
    if keep:
        print(f"  merged ONNX copies kept in {tmp}")
    else:
        shutil.rmtree(tmp)
    print(f"wrote {os.path.relpath(HUB_DIR, ROOT)}/ and {os.path.relpath(REF_PATH, ROOT)} "
          f"({os.path.getsize(REF_PATH)} bytes) in {time.time() - t0:.1f} s")
    return ref


if __name__ == "__main__":
    build()
