// The three SDXL paths through the service worker on the built-in tiny SDXL: pixels equal the torch reference
// (seeded noise reproduced bit for bit), PNG/JPEG/JSON/SSE answers with their headers, image-to-image in both
// modes, ControlNet with canny edges equal to the CPU reference, determinism, and 400s that leave the engine serving.
// The Turbo layouts (hearth/tiny-sdxl-turbo, hearth/tiny-sd-turbo) equal their torch references on wasm, and
// SD-Turbo on WebGPU too.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { cannyReference } from '../../src/engines/image/canny-cpu';
import { readJson } from '../unit/node-api';
import { launch, openHost, type HostPage } from './browser';

interface U8 { shape: number[]; b64: string }
interface Ref {
  images: { init_image: U8; edge_map: U8 };
  seeded: {
    prompt: string;
    txt2img: { samples_1: { image: U8 }; samples_2: { image: U8 } };
    img2img: { cases: { init_image_mode: string; image_strength?: number; step_schedule_start?: number; step_schedule_end?: number; image: U8 }[] };
    controlnet: { image: U8 };
  };
}
const ref = readJson<Ref>('tests/fixtures/sdxl/reference.json');
interface TurboCase { name: string; prompt: string; seed: number; steps: number; cfg_scale: number; image: U8; image_strength?: number; init_image?: U8 }
const turboRef = readJson<Record<'sdxl_turbo' | 'sd_turbo', { cases: TurboCase[] }>>('tests/fixtures/sdxl/turbo-reference.json');
const turbo = (model: string, c: TurboCase, extra: object = {}) => ({ model, text_prompts: [{ text: c.prompt }], seed: c.seed, steps: c.steps, width: 64, height: 64, ...extra });
const loraRef = readJson<{ adapters: Record<'peft' | 'kohya', { file: string; cases: { txt2img: { image: U8 } } }> }>('tests/fixtures/sdxl/lora-reference.json');
const LORA_REPO = 'hearth/tiny-sdxl-lora';
const bytes = (t: U8) => new Uint8Array(Buffer.from(t.b64, 'base64'));
const PATH = '/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
const baseUrl = inject('baseUrl');
let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

/** Pixels differing by more than 1 (per channel) between an RGBA image and an RGB reference. */
function mismatches(rgba: number[], rgb: Uint8Array): number {
  let bad = 0;
  for (let p = 0; p < rgb.length / 3; p++) for (let c = 0; c < 3; c++) if (Math.abs(rgba[p * 4 + c] - rgb[p * 3 + c]) > 1) bad++;
  return bad;
}

/** Runs in the page: decodes base64 PNG/JPEG to RGBA numbers. */
async function decode(page: Page, b64: string): Promise<number[]> {
  return page.evaluate(async (b64) => {
    const blob = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]);
    const bmp = await createImageBitmap(blob);
    const canvas = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bmp, 0, 0);
    return Array.from(ctx.getImageData(0, 0, bmp.width, bmp.height).data);
  }, b64);
}

/** Posts from the page: JSON body or multipart (fields; `image:*` fields are RGB arrays sent as 64×64 PNG files). */
async function post(page: Page, path: string, init: { json?: object; form?: Record<string, string | number[]>; accept?: string; headers?: Record<string, string> }) {
  return page.evaluate(async ({ path, init }) => {
    let body: BodyInit;
    const headers: Record<string, string> = { ...init.headers };
    if (init.accept) headers.accept = init.accept;
    if (init.json) {
      body = JSON.stringify(init.json);
      headers['content-type'] = 'application/json';
    } else {
      const form = new FormData();
      for (const [k, v] of Object.entries(init.form ?? {})) {
        if (typeof v === 'string') form.append(k, v);
        else if (v.length === 3) form.append(k, new Blob([Uint8Array.from([1, 2, 3])], { type: 'image/png' }), 'broken.png');
        else {
          const canvas = new OffscreenCanvas(64, 64);
          const rgba = new Uint8ClampedArray(64 * 64 * 4);
          for (let p = 0; p < 64 * 64; p++) { rgba.set(v.slice(p * 3, p * 3 + 3), p * 4); rgba[p * 4 + 3] = 255; }
          canvas.getContext('2d')!.putImageData(new ImageData(rgba, 64, 64), 0, 0);
          form.append(k, await canvas.convertToBlob({ type: 'image/png' }), `${k}.png`);
        }
      }
      body = form;
    }
    const res = await fetch(path, { method: 'POST', headers, body });
    const buf = new Uint8Array(await res.arrayBuffer());
    let b64 = '';
    for (let i = 0; i < buf.length; i += 0x8000) b64 += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return { status: res.status, headers: Object.fromEntries(res.headers), b64: btoa(b64), text: new TextDecoder().decode(buf.subarray(0, 4000)) };
  }, { path, init });
}

const t2i = (extra: object = {}) => ({ model: 'hearth/tiny-sdxl', text_prompts: [{ text: ref.seeded.prompt }], seed: 42, steps: 10, cfg_scale: 7, ...extra });

describe('on wasm', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=wasm'); });
  afterAll(async () => { await host?.context.close(); });

  it('text-to-image as PNG with Finish-Reason and Seed headers, pixels equal torch', async () => {
    const r = await post(host.page, PATH, { json: t2i(), accept: 'image/png' });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['content-type']).toBe('image/png');
    expect(r.headers['finish-reason']).toBe('SUCCESS');
    expect(r.headers.seed).toBe('42');
    expect(mismatches(await decode(host.page, r.b64), bytes(ref.seeded.txt2img.samples_1.image))).toBeLessThanOrEqual(3);
  });

  it('the live API\'s shorthand (as the AI SDK sends it): prompt, numeric strings, no Accept → PNG equal torch; aspect_ratio; both forms 400', async () => {
    const r = await post(host.page, PATH, { json: { model: 'hearth/tiny-sdxl', prompt: ref.seeded.prompt, seed: '42', steps: '10', cfg_scale: '7', width: '64', height: '64', samples: 1 } });
    expect(r.status, r.text).toBe(200);
    expect([r.headers['content-type'], r.headers.seed]).toEqual(['image/png', '42']);
    expect(mismatches(await decode(host.page, r.b64), bytes(ref.seeded.txt2img.samples_1.image))).toBeLessThanOrEqual(3);
    const wide = await post(host.page, PATH, { json: { model: 'hearth/tiny-sdxl', prompt: 'x', steps: 10, aspect_ratio: '4:3' }, accept: '*/*' });
    expect(wide.status, wide.text).toBe(200);
    expect((await decode(host.page, wide.b64)).length).toBe(72 * 56 * 4); // the listed size nearest 4:3
    const both = await post(host.page, PATH, { json: { model: 'hearth/tiny-sdxl', prompt: 'x', text_prompts: [{ text: 'y' }] } });
    expect([both.status, JSON.parse(both.text).error.param]).toEqual([400, 'prompt']);
  });

  it('samples 2 as application/json: one entry per image, seeds 42 and 43, both equal torch', async () => {
    const r = await post(host.page, PATH, { json: t2i({ samples: 2 }), accept: 'application/json' });
    expect(r.status, r.text).toBe(200);
    const list = JSON.parse(Buffer.from(r.b64, 'base64').toString()) as { base64: string; finishReason: string; seed: number }[];
    expect(list.map((i) => [i.seed, i.finishReason])).toEqual([[42, 'SUCCESS'], [43, 'SUCCESS']]);
    const both = bytes(ref.seeded.txt2img.samples_2.image);
    for (const [k, item] of list.entries()) {
      expect(mismatches(await decode(host.page, item.base64), both.subarray(k * 64 * 64 * 3, (k + 1) * 64 * 64 * 3))).toBeLessThanOrEqual(3);
    }
  });

  it('image/jpeg, and the same seed gives the same image', async () => {
    const a = await post(host.page, PATH, { json: t2i({ seed: 7 }), accept: 'image/jpeg' });
    expect(a.headers['content-type']).toBe('image/jpeg');
    expect(Array.from(Buffer.from(a.b64, 'base64').subarray(0, 3))).toEqual([0xff, 0xd8, 0xff]);
    const b = await post(host.page, PATH, { json: t2i({ seed: 7 }), accept: 'image/jpeg' });
    expect(b.b64).toBe(a.b64);
    const c = await post(host.page, PATH, { json: t2i({ seed: 8 }), accept: 'image/jpeg' });
    expect(c.b64).not.toBe(a.b64);
  });

  it('streams per-step progress as server-sent events, then the image', async () => {
    const r = await post(host.page, PATH, { json: t2i(), accept: 'text/event-stream' });
    const events = Buffer.from(r.b64, 'base64').toString().split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { type: string; step?: number });
    expect(events.filter((e) => e.type === 'progress').map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(events.at(-1)?.type).toBe('image');
  });

  it('image_to_image in IMAGE_STRENGTH and STEP_SCHEDULE modes equals torch', async () => {
    const init = Array.from(bytes(ref.images.init_image));
    for (const c of ref.seeded.img2img.cases) {
      const form: Record<string, string | number[]> = {
        model: 'hearth/tiny-sdxl', prompt: ref.seeded.prompt, seed: '42', steps: '10', cfg_scale: '7',
        init_image: init, init_image_mode: c.init_image_mode,
      };
      if (c.init_image_mode === 'IMAGE_STRENGTH') form.image_strength = String(c.image_strength);
      else Object.assign(form, { step_schedule_start: String(c.step_schedule_start), step_schedule_end: String(c.step_schedule_end) });
      const r = await post(host.page, `${PATH}/image_to_image`, { form, accept: 'image/png' });
      expect(r.status, r.text).toBe(200);
      expect(mismatches(await decode(host.page, r.b64), bytes(c.image)), c.init_image_mode).toBeLessThanOrEqual(3);
    }
  });

  it('Turbo layouts equal torch: SDXL-Turbo (WebNN export layout, tokenizers from vocab/merges) and SD-Turbo (SD 2.1)', async () => {
    const [oneStep, twoSteps, withCfg, img2img] = turboRef.sdxl_turbo.cases;
    const cases: [string, object, TurboCase][] = [
      [PATH, turbo('hearth/tiny-sdxl-turbo', oneStep), oneStep], // cfg_scale omitted: the entry's default is 0
      [PATH, turbo('hearth/tiny-sdxl-turbo', twoSteps, { cfg_scale: 1 }), twoSteps], // ≤ 1: no negative batch
      [PATH, turbo('hearth/tiny-sdxl-turbo', withCfg, { cfg_scale: 2 }), withCfg],
      ...turboRef.sd_turbo.cases.map((c) => [PATH, turbo('hearth/tiny-sd-turbo', c, { cfg_scale: 0 }), c] as [string, object, TurboCase]),
    ];
    for (const [path, json, c] of cases) {
      const r = await post(host.page, path, { json, accept: 'image/png' });
      expect(r.status, r.text).toBe(200);
      expect(mismatches(await decode(host.page, r.b64), bytes(c.image)), `${(json as { model: string }).model} ${c.name}`).toBeLessThanOrEqual(3);
    }
    const form: Record<string, string | number[]> = {
      model: 'hearth/tiny-sdxl-turbo', prompt: img2img.prompt, seed: String(img2img.seed), steps: String(img2img.steps),
      init_image: Array.from(bytes(img2img.init_image!)), init_image_mode: 'IMAGE_STRENGTH', image_strength: String(img2img.image_strength),
    };
    const r = await post(host.page, `${PATH}/image_to_image`, { form, accept: 'image/png' });
    expect(r.status, r.text).toBe(200);
    expect(mismatches(await decode(host.page, r.b64), bytes(img2img.image)), 'image_to_image (latent_sample encoder)').toBeLessThanOrEqual(3);
    const noEncoder = await post(host.page, `${PATH}/image_to_image`, { form: { ...form, model: 'hearth/tiny-sd-turbo' } });
    expect(noEncoder.status).toBe(400);
    expect(noEncoder.text).toContain('no VAE encoder');
  });

  it('control_net: canny edges equal the CPU reference, and the image is deterministic', async () => {
    const init = bytes(ref.images.init_image);
    const rgba = new Uint8Array(64 * 64 * 4);
    for (let p = 0; p < 64 * 64; p++) { rgba.set(init.subarray(p * 3, p * 3 + 3), p * 4); rgba[p * 4 + 3] = 255; }
    const expected = cannyReference(rgba, 64, 64, { low: 100, high: 200 }).edges;
    const preview = await host.page.evaluate(async (rgbArr) => {
      const canvas = new OffscreenCanvas(64, 64);
      const px = new Uint8ClampedArray(64 * 64 * 4);
      for (let p = 0; p < 64 * 64; p++) { px.set(rgbArr.slice(p * 3, p * 3 + 3), p * 4); px[p * 4 + 3] = 255; }
      canvas.getContext('2d')!.putImageData(new ImageData(px, 64, 64), 0, 0);
      const png = await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer();
      const engine = await window.hearth!.engines.image();
      const out = await engine.cannyPreview({ bytes: png, type: 'image/png' }, 100, 200, 64, 64);
      const bmp = await createImageBitmap(new Blob([out]));
      const c2 = new OffscreenCanvas(64, 64);
      const ctx = c2.getContext('2d')!;
      ctx.drawImage(bmp, 0, 0);
      return Array.from(ctx.getImageData(0, 0, 64, 64).data);
    }, Array.from(init));
    expect(preview).toEqual(Array.from(expected));
    const form = { model: 'hearth/tiny-sdxl', prompt: ref.seeded.prompt, seed: '42', steps: '10', control_image: Array.from(init), conditioning_scale: '0.8' };
    const a = await post(host.page, `${PATH}/control_net`, { form, accept: 'image/png' });
    expect(a.status, a.text).toBe(200);
    const b = await post(host.page, `${PATH}/control_net`, { form, accept: 'image/png' });
    expect(b.b64).toBe(a.b64);
    const plain = await post(host.page, PATH, { json: t2i(), accept: 'image/png' });
    expect(a.b64).not.toBe(plain.b64); // the control image changed the result
  });

  it('safety_check: the flagged sample comes back black with CONTENT_FILTERED, the other untouched', async () => {
    // The tiny checker's concept 0 is the seed-42 reference image (tests/fixtures/sdxl/README.md, "Safety checker").
    const r = await post(host.page, PATH, { json: t2i({ samples: 2, safety_check: true }), accept: 'application/json' });
    expect(r.status, r.text).toBe(200);
    const list = JSON.parse(Buffer.from(r.b64, 'base64').toString()) as { base64: string; finishReason: string; seed: number }[];
    expect(list.map((i) => [i.seed, i.finishReason])).toEqual([[42, 'CONTENT_FILTERED'], [43, 'SUCCESS']]);
    const black = await decode(host.page, list[0].base64);
    expect(black.every((v, i) => v === (i % 4 === 3 ? 255 : 0))).toBe(true);
    const both = bytes(ref.seeded.txt2img.samples_2.image);
    expect(mismatches(await decode(host.page, list[1].base64), both.subarray(64 * 64 * 3))).toBeLessThanOrEqual(3);
    const binary = await post(host.page, PATH, { json: t2i({ safety_check: true }), accept: 'image/png' });
    expect(binary.headers['finish-reason']).toBe('CONTENT_FILTERED');
    const model = await host.page.evaluate(async () => (await fetch('/inference/v1/models/hearth/tiny-sdxl')).json());
    expect(model).toMatchObject({ supports_safety_check: true, supports_lora: true });
  });

  it('bad sizes, images, multipart, sampler and samples get 400 and the engine keeps serving', async () => {
    const cases: [string, Parameters<typeof post>[2], string | null][] = [
      [PATH, { json: t2i({ width: 96 }) }, 'width'],
      [PATH, { json: t2i({ sampler: 'K_EULER' }) }, 'sampler'],
      [PATH, { json: t2i({ samples: 11 }) }, 'samples'],
      [PATH, { json: t2i({ samples: 2 }), accept: 'image/png' }, 'samples'],
      [`${PATH}/image_to_image`, { form: { model: 'hearth/tiny-sdxl', prompt: 'x', init_image: [1, 2, 3] } }, 'init_image'],
      [`${PATH}/image_to_image`, { form: { model: 'hearth/tiny-sdxl', prompt: 'x' } }, 'init_image'],
      [`${PATH}/image_to_image`, { form: { model: 'hearth/tiny-sdxl', prompt: 'x', init_image: Array.from(bytes(ref.images.init_image)), steps: 'many' } }, 'steps'],
      [`${PATH}/control_net`, { form: { model: 'hearth/tiny-sdxl', prompt: 'x', control_image: Array.from(bytes(ref.images.init_image)), text_prompts: '[{"text": oops' } }, 'text_prompts'],
    ];
    for (const [path, init, param] of cases) {
      const r = await post(host.page, path, init);
      expect(r.status, `${path} ${JSON.stringify(init).slice(0, 120)}: ${r.text}`).toBe(400);
      expect(JSON.parse(r.text).error.param).toBe(param);
    }
    const ok = await post(host.page, PATH, { json: t2i(), accept: 'image/png' });
    expect(mismatches(await decode(host.page, ok.b64), bytes(ref.seeded.txt2img.samples_1.image))).toBeLessThanOrEqual(3);
  });
});

describe('LoRA adapters on wasm (the built-in hearth/tiny-sdxl-lora, served by the app like a Hugging Face repo)', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=wasm'); });
  afterAll(async () => { await host?.context.close(); });

  it('PEFT and kohya adapters: images equal torch, the base model is unchanged, GET /models lists the merged adapter', async () => {
    for (const name of ['peft', 'kohya'] as const) {
      const adapter = loraRef.adapters[name];
      const r = await post(host.page, PATH, {
        json: t2i({ lora_adapter_name: LORA_REPO, lora_weight_filename: adapter.file }), accept: 'image/png',
        headers: { 'Huggingface-Access-Key': 'hf_only_for_the_download' },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.headers['x-hearth-backend']).toBe('onnx/wasm+lora');
      expect(mismatches(await decode(host.page, r.b64), bytes(adapter.cases.txt2img.image)), name).toBeLessThanOrEqual(3);
    }
    const models = await host.page.evaluate(async () => (await fetch('/inference/v1/models/hearth/tiny-sdxl')).json());
    expect(models.loaded_loras).toEqual([`${LORA_REPO}/kohya_lora.safetensors`]);
    const plain = await post(host.page, PATH, { json: t2i(), accept: 'image/png' });
    expect(mismatches(await decode(host.page, plain.b64), bytes(ref.seeded.txt2img.samples_1.image))).toBeLessThanOrEqual(3);
  });

  it('an adapter for another model, a missing file and a bad name get 400 and the engine keeps serving', async () => {
    const cases: [object, string, string][] = [
      [{ lora_adapter_name: LORA_REPO, lora_weight_filename: 'sdxl_base_lora.safetensors' }, 'lora_adapter_name', 'lora_mismatch'],
      [{ lora_adapter_name: LORA_REPO, lora_weight_filename: 'nope.safetensors' }, 'lora_weight_filename', 'lora_not_found'],
      [{ lora_adapter_name: 'not a repo' }, 'lora_adapter_name', 'invalid_value'],
    ];
    for (const [extra, param, code] of cases) {
      const r = await post(host.page, PATH, { json: t2i(extra), accept: 'image/png' });
      expect(r.status, r.text).toBe(400);
      expect(JSON.parse(r.text).error).toMatchObject({ param, code });
    }
    const ok = await post(host.page, PATH, { json: t2i({ lora_adapter_name: LORA_REPO }), accept: 'image/png' });
    expect(ok.status, ok.text).toBe(200);
    expect(mismatches(await decode(host.page, ok.b64), bytes(loraRef.adapters.peft.cases.txt2img.image))).toBeLessThanOrEqual(3);
  });
});

describe('on WebGPU (one host: its engine worker compiles the UNet kernels once for the three cases)', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, 'devices=webgpu'); });
  afterAll(async () => { await host?.context.close(); });

  it('a LoRA merged by the WGSL kernel in the engine worker: the image equals torch', async () => {
    const adapter = loraRef.adapters.kohya;
    const r = await post(host.page, PATH, { json: t2i({ lora_adapter_name: LORA_REPO, lora_weight_filename: adapter.file }), accept: 'image/png' });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('onnx/webgpu+lora');
    expect(mismatches(await decode(host.page, r.b64), bytes(adapter.cases.txt2img.image))).toBeLessThanOrEqual(30);
  }, 300_000);

  it('SD-Turbo (one encoder, trailing Euler, no guidance, weights.pb external data) equals torch', async () => {
    const c = turboRef.sd_turbo.cases[0];
    const r = await post(host.page, PATH, { json: turbo('hearth/tiny-sd-turbo', c), accept: 'image/png' });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('onnx/webgpu');
    expect(mismatches(await decode(host.page, r.b64), bytes(c.image))).toBeLessThanOrEqual(30);
  }, 300_000);

  it('text-to-image without the adapter (after the LoRA request on this host) equals torch', async () => {
    const r = await post(host.page, PATH, { json: t2i(), accept: 'image/png' });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-hearth-backend']).toBe('onnx/webgpu');
    expect(mismatches(await decode(host.page, r.b64), bytes(ref.seeded.txt2img.samples_1.image))).toBeLessThanOrEqual(30);
  }, 300_000);
});
