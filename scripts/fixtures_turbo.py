"""Tiny fixtures in the layouts of the browser Turbo exports, with diffusers-like torch references.

Run by scripts/make_fixtures.py (after fixtures_sdxl.py, whose modules, tokenizer and noise port it reuses); also
runnable alone:

    /usr/bin/python3 scripts/fixtures_turbo.py

It writes, deterministically (fixed seeds):

  public/models/hearth-tiny-sdxl-turbo/     microsoft/sdxl-turbo-webnn's layout (+ stabilityai/sdxl-turbo's tokenizers
                                            and VAE encoder)
      text_encoder/model.onnx + model.onnx.data     input_ids int32 [1, 77] -> hidden_states.2 only (the penultimate
                                                    layer: hidden_states.11 in the real 12-layer CLIP-L)
      text_encoder_2/model.onnx + model.onnx.data   input_ids int64 -> text_embeds, hidden_states.2 (penultimate)
      unet/model.onnx                               one file; sample, timestep float32 [1], encoder_hidden_states,
                                                    text_embeds, time_ids -> out_sample
      vae_decoder/model.onnx + model.onnx.data      latent_sample -> sample
      vae_encoder/model.onnx                        sample -> latent_sample (2023 Optimum name; here the posterior
                                                    mean, so that it is deterministic)
      tokenizer/, tokenizer_2/                      vocab.json, merges.txt, tokenizer_config.json,
                                                    special_tokens_map.json: no tokenizer.json, as stabilityai's repos
      scheduler/scheduler_config.json               trailing timestep spacing (sdxl-turbo's)
  public/models/hearth-tiny-sd-turbo/       schmuell/sd-turbo-ort-web's layout (SD 2.1)
      text_encoder/model.onnx                       input_ids int32 -> last_hidden_state, pooler_output
      unet/model.onnx + weights.pb                  sample, timestep int64 [1], encoder_hidden_states -> out_sample
                                                    (external data named weights.pb, as onnx-community's SD folders)
      vae_decoder/model.onnx                        latent_sample -> sample (scaling factor 0.18215)
      tokenizer/                                    vocab.json, merges.txt, tokenizer_config.json (pad "!"),
                                                    special_tokens_map.json
      scheduler/scheduler_config.json
  tests/fixtures/sdxl/turbo-reference.json  per model: whole runs (diffusers' EulerDiscreteScheduler with trailing
                                            spacing, no classifier-free guidance at cfg_scale <= 1, noise from the
                                            seed by fixtures_sdxl's port of our RNG): final latents and the uint8 image;
                                            and the pipeline ids of a tokenizer corpus.
"""

import os
import sys

import numpy as np
import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_sdxl as fx  # noqa: E402

ROOT = fx.ROOT
REF_PATH = os.path.join(fx.REF_DIR, "turbo-reference.json")
SEED = 7007
SD_SCALING = 0.18215
SDXL_SCALING = fx.SCALING_FACTOR
SD_TE = {"hidden_size": fx.CROSS_DIM, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 160,
         "hidden_act": "gelu"}
TURBO_SCHEDULER = dict(fx.SCHEDULER_CONFIG, timestep_spacing="trailing")
CORPUS = [
    "A lighthouse on a cliff, at sunset: 2 red boats!",
    "  Two   CATS\tsleeping on a sofa  ",
    "don't stop; it's 3am & we're out of café au lait",
    "<|startoftext|>tokens<|endoftext|> inside text",
    "naïve façade — emoji 🙂 and ÅSTRÖM",
    "",
]
PROMPT = "a red boat on the sea at sunset"


class TextHidden(torch.nn.Module):
    """CLIPTextModel exported as the WebNN demo's text encoder: int32 ids in, one hidden state out."""

    def __init__(self, te, layer):
        super().__init__()
        self.te, self.layer = te, layer

    def forward(self, input_ids):
        return self.te(input_ids.to(torch.int64))[2 + self.layer]


class TextHidden2(torch.nn.Module):
    """CLIPTextModelWithProjection: text_embeds and one hidden state."""

    def __init__(self, te, layer):
        super().__init__()
        self.te, self.layer = te, layer

    def forward(self, input_ids):
        o = self.te(input_ids)
        return o[0], o[2 + self.layer]


class SdText(torch.nn.Module):
    """SD 2.1's CLIPTextModel (its config already drops the last layer): int32 ids -> last_hidden_state, pooler."""

    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids):
        o = self.te(input_ids.to(torch.int64))
        return o[0], o[1]


class SdUNet(torch.nn.Module):
    """UNet2DConditionModel without SDXL's added text/time embedding (SD 2.1): int64 timestep [1]."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        u, enc = self.unet, self.unet.enc
        t = timestep.reshape(-1).to(torch.float32).expand(sample.shape[0])
        emb = enc.time_embedding(fx.sinusoid(t, enc.time_freqs))
        res, h = enc.encode(enc.conv_in(sample), emb, encoder_hidden_states)
        h = u.up0_resnet0(torch.cat([h, res[3]], dim=1), emb)
        h = u.up0_resnet1(torch.cat([h, res[2]], dim=1), emb)
        h = torch.nn.functional.interpolate(h, size=(res[1].shape[2], res[1].shape[3]), mode="nearest")
        h = u.up0_upsample_conv(h)
        h = u.up1_attn0(u.up1_resnet0(torch.cat([h, res[1]], dim=1), emb), encoder_hidden_states)
        h = u.up1_attn1(u.up1_resnet1(torch.cat([h, res[0]], dim=1), emb), encoder_hidden_states)
        return u.conv_out(torch.nn.functional.silu(u.conv_norm_out(h)))


class LatentSample(torch.nn.Module):
    """A VAE encoder that outputs `latent_sample` (here the posterior mean: deterministic)."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, sample):
        return self.enc(sample)[:, : fx.LATENT_CH]


def trailing(steps, n=1000):
    """diffusers' trailing timestep spacing: round(arange(n, 0, -n/steps)) - 1, and their sigmas (+ a final 0)."""
    ts = (np.round(np.arange(n, 0, -n / steps)).astype(np.int64) - 1).tolist()
    train = fx.train_sigmas(fx.SCHEDULER_CONFIG)
    return ts, [train[t] for t in ts] + [0.0]


def euler(unet_eps, x, ts, sigmas, first):
    """EulerDiscreteScheduler.step (s_churn 0) over sigmas[first:], epsilon prediction, float32 latents."""
    for i in range(first, len(ts)):
        s, s_next = sigmas[i], sigmas[i + 1]
        eps = unet_eps(f32(x.astype(np.float64) / np.sqrt(s * s + 1.0)), ts[i]).astype(np.float64)
        denoised = x.astype(np.float64) - s * eps
        x = f32(x.astype(np.float64) + (x.astype(np.float64) - denoised) / s * (s_next - s))
    return x


f32 = fx.f32


def save_external(om, path, location):
    data_path = os.path.join(os.path.dirname(path), location)
    if os.path.exists(data_path):
        os.remove(data_path)  # onnx appends to an existing data file
    onnx.save(om, path, save_as_external_data=True, all_tensors_to_one_file=True, location=location, size_threshold=0)
    reloaded = onnx.load(path, load_external_data=False)
    onnx.checker.check_model(path)
    names = {e.value for t in reloaded.graph.initializer for e in t.external_data if e.key == "location"}
    assert names == {location}, names


def export_to(model, args, path, inputs, outputs, axes, external=None):
    om = fx.export(model, args, path, inputs, outputs, axes)
    if external:
        os.remove(path)
        save_external(om, path, external)
    return om


def tokenizer_dir(tok, out_dir, pad):
    """Like fixtures_sdxl.tokenizer_files, without tokenizer.json (what stabilityai/sdxl-turbo ships)."""
    fx.tokenizer_files(tok, out_dir, pad)
    os.remove(os.path.join(out_dir, "tokenizer.json"))


def image_case(name, run, decode, seed, steps, cfg, hw, extra=None):
    h = w = hw // 8
    noise = fx.gaussian_noise(seed, fx.LATENT_CH * h * w).reshape(1, fx.LATENT_CH, h, w)
    latents = run(noise, steps)
    img = decode(latents)
    case = {"name": name, "prompt": PROMPT, "negative_prompt": "", "seed": seed, "steps": steps, "cfg_scale": cfg,
            "width": hw, "height": hw, "latents": fx.tens(latents), "image": fx.u8(img[0])}
    case.update(extra or {})
    return case


def build_sdxl_turbo(tok, vocab_size):
    d = os.path.join(ROOT, "public", "models", "hearth-tiny-sdxl-turbo")
    os.makedirs(d, exist_ok=True)
    te1, te2, unet, _cnet, vae_enc, vae_dec = fx.build_models(vocab_size)
    for k, m in enumerate((te1, te2, unet, vae_enc, vae_dec)):
        fx.init_weights(m, SEED + k)
    with torch.no_grad():  # as fixtures_sdxl.build_models: realistic value ranges
        vae_dec.conv_out.weight.mul_(0.5)
        vae_dec.conv_out.bias.zero_()
        vae_enc.quant_conv.weight[: fx.LATENT_CH].mul_(4.0)
    n1, n2 = fx.TE1["num_hidden_layers"], fx.TE2["num_hidden_layers"]
    pad1, pad2 = tok.eos, tok.vocab["!"]
    tokenizer_dir(tok, os.path.join(d, "tokenizer"), fx.EOS_TOKEN)
    tokenizer_dir(tok, os.path.join(d, "tokenizer_2"), "!")
    os.makedirs(os.path.join(d, "scheduler"), exist_ok=True)
    fx.write_json(os.path.join(d, "scheduler", "scheduler_config.json"), TURBO_SCHEDULER)
    for sub in ("text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    ids1 = torch.tensor([tok.pipeline_ids(PROMPT, pad1)], dtype=torch.int32)
    ids2 = torch.tensor([tok.pipeline_ids(PROMPT, pad2)], dtype=torch.int64)
    seq = {0: "batch_size", 1: "sequence_length"}
    hs1, hs2 = f"hidden_states.{n1 - 1}", f"hidden_states.{n2 - 1}"
    export_to(TextHidden(te1, n1 - 1), (ids1,), os.path.join(d, "text_encoder", "model.onnx"), ["input_ids"], [hs1],
              {"input_ids": seq, hs1: seq}, external="model.onnx.data")
    export_to(TextHidden2(te2, n2 - 1), (ids2,), os.path.join(d, "text_encoder_2", "model.onnx"), ["input_ids"],
              ["text_embeds", hs2], {"input_ids": seq, "text_embeds": {0: "batch_size"}, hs2: seq},
              external="model.onnx.data")
    lat = {0: "batch_size", 2: "height", 3: "width"}
    g = torch.Generator().manual_seed(SEED + 10)
    ex = (torch.randn(1, 4, 8, 8, generator=g), torch.tensor([999.0]), torch.randn(1, 77, fx.CROSS_DIM, generator=g),
          torch.randn(1, fx.POOLED_DIM, generator=g), torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]))
    export_to(unet, ex, os.path.join(d, "unet", "model.onnx"),
              ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], ["out_sample"],
              {"sample": lat, "encoder_hidden_states": {0: "batch_size"}, "text_embeds": {0: "batch_size"},
               "time_ids": {0: "batch_size"}, "out_sample": lat})
    export_to(vae_dec, (torch.randn(1, 4, 8, 8, generator=g),), os.path.join(d, "vae_decoder", "model.onnx"),
              ["latent_sample"], ["sample"], {"latent_sample": lat, "sample": lat}, external="model.onnx.data")
    export_to(LatentSample(vae_enc), (torch.rand(1, 3, 64, 64, generator=g) * 2 - 1,),
              os.path.join(d, "vae_encoder", "model.onnx"), ["sample"], ["latent_sample"],
              {"sample": lat, "latent_sample": lat})

    with torch.no_grad():
        ehs = torch.cat([te1(ids1.to(torch.int64))[2 + n1 - 1], te2(ids2)[2 + n2 - 1]], dim=-1)
        pooled = te2(ids2)[0]
        # the empty negative prompt (force_zeros_for_empty_prompt): zeros, as SDXL pipelines do
        ehs_cfg = torch.cat([torch.zeros_like(ehs), ehs])
        pooled_cfg = torch.cat([torch.zeros_like(pooled), pooled])

    def runner(cfg):
        def unet_eps(xin, t, hw):
            tids = torch.tensor([[hw, hw, 0.0, 0.0, hw, hw]], dtype=torch.float32)
            with torch.no_grad():
                if cfg <= 1:
                    return fx.npf(unet(torch.from_numpy(xin), torch.tensor([float(t)]), ehs, pooled, tids))
                e = fx.npf(unet(torch.from_numpy(np.concatenate([xin, xin])), torch.tensor([float(t)]), ehs_cfg,
                                pooled_cfg, tids.expand(2, -1)))
                return f32(e[:1].astype(np.float64) + cfg * (e[1:].astype(np.float64) - e[:1].astype(np.float64)))
        return unet_eps

    def decode(latents):
        with torch.no_grad():
            return fx.to_uint8_hwc(fx.npf(vae_dec(torch.from_numpy(f32(latents.astype(np.float64) / SDXL_SCALING)))))

    def t2i(cfg):
        def run(noise, steps):
            ts, sigmas = trailing(steps)
            return euler(lambda x, t: runner(cfg)(x, t, 64.0), f32(noise.astype(np.float64) * sigmas[0]), ts, sigmas, 0)
        return run

    cases = [image_case("txt2img_1step", t2i(0.0), decode, 42, 1, 0.0, 64),
             image_case("txt2img_2steps", t2i(1.0), decode, 43, 2, 1.0, 64),
             image_case("txt2img_2steps_cfg", t2i(2.0), decode, 44, 2, 2.0, 64)]
    # image-to-image, image_strength 0.5 over 2 steps: one Euler step from sigma(499), starting at the encoded init
    # image (latent_sample * scaling factor) plus sigma * noise, as diffusers' add_noise
    init = fx.init_image_pattern(64, 64)
    with torch.no_grad():
        init_lat = f32(fx.npf(vae_enc(torch.from_numpy(fx.image_to_vae_input(init))))[:, :4].astype(np.float64)
                       * SDXL_SCALING)

    def img2img(noise, steps):
        ts, sigmas = trailing(steps)
        first = fx.schedule_window(steps, 0.5, 0.0)[0]
        x = f32(init_lat.astype(np.float64) + noise.astype(np.float64) * sigmas[first])
        return euler(lambda x, t: runner(0.0)(x, t, 64.0), x, ts, sigmas, first)

    cases.append(image_case("img2img_half", img2img, decode, 45, 2, 0.0, 64,
                            {"image_strength": 0.5, "init_image": fx.u8(init)}))
    return {"model_dir": "public/models/hearth-tiny-sdxl-turbo", "scaling_factor": SDXL_SCALING, "cases": cases}


def build_sd_turbo(tok, vocab_size):
    d = os.path.join(ROOT, "public", "models", "hearth-tiny-sd-turbo")
    os.makedirs(d, exist_ok=True)
    te = fx.ClipTextModel(SD_TE, vocab_size).eval()
    fx.init_weights(te, SEED + 20)
    unet = fx.TinyUNet().eval()
    fx.init_weights(unet, SEED + 21)
    vae_dec = fx.VaeDecoder().eval()
    fx.init_weights(vae_dec, SEED + 22)
    with torch.no_grad():
        vae_dec.conv_out.weight.mul_(0.5)
        vae_dec.conv_out.bias.zero_()
    sd_unet = SdUNet(unet).eval()
    pad = tok.vocab["!"]
    tokenizer_dir(tok, os.path.join(d, "tokenizer"), "!")
    os.makedirs(os.path.join(d, "scheduler"), exist_ok=True)
    fx.write_json(os.path.join(d, "scheduler", "scheduler_config.json"), TURBO_SCHEDULER)
    for sub in ("text_encoder", "unet", "vae_decoder"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    ids = torch.tensor([tok.pipeline_ids(PROMPT, pad)], dtype=torch.int32)
    seq = {0: "batch_size", 1: "sequence_length"}
    export_to(SdText(te), (ids,), os.path.join(d, "text_encoder", "model.onnx"), ["input_ids"],
              ["last_hidden_state", "pooler_output"], {"input_ids": seq, "last_hidden_state": seq,
                                                       "pooler_output": {0: "batch_size"}})
    lat = {0: "batch_size", 2: "height", 3: "width"}
    g = torch.Generator().manual_seed(SEED + 30)
    ex = (torch.randn(1, 4, 8, 8, generator=g), torch.tensor([999], dtype=torch.int64),
          torch.randn(1, 77, fx.CROSS_DIM, generator=g))
    export_to(sd_unet, ex, os.path.join(d, "unet", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"],
              ["out_sample"], {"sample": lat, "encoder_hidden_states": {0: "batch_size"}, "out_sample": lat},
              external="weights.pb")
    export_to(vae_dec, (torch.randn(1, 4, 8, 8, generator=g),), os.path.join(d, "vae_decoder", "model.onnx"),
              ["latent_sample"], ["sample"], {"latent_sample": lat, "sample": lat})
    with torch.no_grad():
        ehs = te(ids.to(torch.int64))[0]

    def run(noise, steps):
        ts, sigmas = trailing(steps)

        def unet_eps(xin, t):
            with torch.no_grad():
                return fx.npf(sd_unet(torch.from_numpy(xin), torch.tensor([t], dtype=torch.int64), ehs))
        return euler(unet_eps, f32(noise.astype(np.float64) * sigmas[0]), ts, sigmas, 0)

    def decode(latents):
        with torch.no_grad():
            return fx.to_uint8_hwc(fx.npf(vae_dec(torch.from_numpy(f32(latents.astype(np.float64) / SD_SCALING)))))

    cases = [image_case("txt2img_1step", run, decode, 42, 1, 0.0, 64),
             image_case("txt2img_2steps", run, decode, 46, 2, 0.0, 64)]
    return {"model_dir": "public/models/hearth-tiny-sd-turbo", "scaling_factor": SD_SCALING, "cases": cases}


def build():
    torch.manual_seed(SEED)
    merges = fx.train_merges(fx.CORPUS, fx.N_MERGES)
    tok = fx.ClipTokenizer(merges)
    vocab_size = len(tok.vocab)
    ref = {
        "tokenizer_corpus": [{"text": t, "input_ids": tok.pipeline_ids(t, tok.eos),
                              "input_ids_pad0": tok.pipeline_ids(t, tok.vocab["!"])} for t in CORPUS],
        "sdxl_turbo": build_sdxl_turbo(tok, vocab_size),
        "sd_turbo": build_sd_turbo(tok, vocab_size),
    }
    fx.write_json(REF_PATH, ref, compact=True)
    for name in ("hearth-tiny-sdxl-turbo", "hearth-tiny-sd-turbo"):
        d = os.path.join(ROOT, "public", "models", name)
        for base, _dirs, files in os.walk(d):
            for f in files:
                size = os.path.getsize(os.path.join(base, f))
                assert size < 2_000_000, (base, f, size)
                print(f"  {os.path.relpath(os.path.join(base, f), ROOT)}: {size} bytes")
    print(f"wrote {os.path.relpath(REF_PATH, ROOT)}")
    return ref


if __name__ == "__main__":
    build()
