/**
 * The SDXL paths: text-to-image (JSON), image_to_image and control_net (multipart/form-data). Requests are validated
 * against the spec, checked against the model's resolutions, turned into an ImageJob, and answered per `Accept`:
 * `image/png` | `image/jpeg` (one image, with `Finish-Reason` and `Seed` headers), `application/json` (an array of
 * `{base64, finishReason, seed}`), or — Hearth's extension for live progress — `text/event-stream`.
 */
import { kindRoutes } from '../kind-routes';
import { encodeBase64 } from '../../util/base64';
import { validateLoraSource, type LoraSource } from '../../engines/image/lora/fetch';
import type { EncodedImage, ImageEvent, ImageJob } from '../../engines/image/types';
import { randomSeed } from '../../util/rng';
import { hasSafetyChecker } from '../../models/store';
import type { CatalogEntry } from '../../models/types';
import { checkImageUpload } from '../image-header';
import { HearthError, invalidRequest } from '../errors';
import { jsonResponse, readAll, readBody, tooLarge } from '../http';
import { sseResponse } from '../sse-response';
import type { Handler, RequestContext } from '../types';
import { acceptRequest } from '../live-fields';
import type { RequestOperation } from '../validate';

/** The model that serves the path when the body names none: the path's own Fireworks id (an alias may remap it). */
export const DEFAULT_IMAGE_MODEL = 'accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';
/** Image uploads may be larger than JSON bodies. */
export const MAX_MULTIPART_BYTES = 32 * 1024 * 1024;

type Fields = Record<string, unknown>;

export const textToImage: Handler = (ctx) => serveImages(ctx, 'text_to_image');
export const imageToImage: Handler = (ctx) => serveImages(ctx, 'image_to_image');
export const controlNet: Handler = (ctx) => serveImages(ctx, 'control_net');

const OPERATION: Record<ImageJob['mode'], RequestOperation> = {
  text_to_image: 'images.generate',
  image_to_image: 'images.image_to_image',
  control_net: 'images.control_net',
};

async function serveImages(ctx: RequestContext, mode: ImageJob['mode']): Promise<Response> {
  const body = mode === 'text_to_image' ? ((await ctx.json()) as Fields) : await multipartFields(ctx.request);
  validateWithStepFloor(ctx, OPERATION[mode], body);
  const job = await buildJob(ctx, mode, body);
  const format = responseFormat(ctx.request.headers.get('accept'), job.samples);
  job.output = { type: format.imageType };
  const engine = await ctx.deps.engines.image();
  const events = await engine.run(job, ctx.request.signal);

  if (format.kind === 'sse') {
    return sseResponse(events, (e) => {
      if (e.type === 'progress') return [{ type: 'progress', step: e.step, steps: e.steps, sample: e.sample }];
      if (e.type === 'image') return [{ type: 'image', index: e.index, base64: encodeBase64(e.bytes), finishReason: e.finishReason, seed: e.seed, mime: e.mime }];
      return [];
    }, { 'x-hearth-seed': String(job.seed) });
  }
  const images = await collectImages(events, ctx.request.signal);
  if (format.kind === 'json') {
    return jsonResponse(images.map((i) => ({ base64: encodeBase64(i.bytes), finishReason: i.finishReason, seed: i.seed })),
      { headers: { 'x-hearth-backend': images.backend } });
  }
  const [image] = images;
  return new Response(image.bytes, {
    headers: { 'content-type': image.mime, 'finish-reason': image.finishReason, seed: String(image.seed), 'x-hearth-backend': images.backend },
  });
}

async function buildJob(ctx: RequestContext, mode: ImageJob['mode'], body: Fields): Promise<ImageJob> {
  const entry = ctx.deps.registry.resolve(typeof body.model === 'string' ? body.model : DEFAULT_IMAGE_MODEL, 'image');
  const spec = entry.image!;
  refuseUnsupported(body, entry);
  const [width, height] = size(body, entry);
  const { prompt, negativePrompt } = prompts(body);
  const seed = typeof body.seed === 'number' && body.seed !== 0 ? body.seed >>> 0 : randomSeed();
  const job: ImageJob = {
    entry, mode, prompt, negativePrompt, width, height,
    steps: num(body.steps, spec.defaultSteps),
    cfgScale: num(body.cfg_scale, spec.defaultCfgScale ?? 7),
    samples: num(body.samples, 1),
    seed,
    schedule: { start: 1, end: 0 },
    output: { type: 'image/png' },
    lora: loraSource(ctx, body),
    safetyCheck: body.safety_check === true,
  };
  if (mode === 'image_to_image') {
    if (!entry.files.some((f) => f.role === 'vae_encoder')) {
      throw invalidRequest(`Model ${entry.id} has no VAE encoder, so it cannot do image-to-image`, 'model', 'unsupported_parameter');
    }
    job.init = checked(await encoded(body.init_image, 'init_image'), 'init_image', spec.resolutions);
    job.schedule = body.init_image_mode === 'STEP_SCHEDULE'
      ? { start: num(body.step_schedule_start, 0.65), end: num(body.step_schedule_end, 0) }
      : { start: 1 - num(body.image_strength, 0.1), end: 0 };
  } else if (mode === 'control_net') {
    if (!spec.controlnet) throw invalidRequest(`Model ${entry.id} has no ControlNet`, 'model', 'unsupported_parameter');
    const start = num(body.step_schedule_start, 0);
    const end = num(body.step_schedule_end, 1);
    if (start > end) throw invalidRequest('"step_schedule_start" must not exceed "step_schedule_end"', 'step_schedule_start');
    job.control = {
      image: checked(await encoded(body.control_image, 'control_image'), 'control_image', spec.resolutions),
      scale: num(body.conditioning_scale, 0.5), start, end, lowThreshold: 100, highThreshold: 200,
    };
  }
  return job;
}

/** The spec's minimum `steps` (10, written for SDXL 1.0). */
const SPEC_MIN_STEPS = 10;

/**
 * Validates against the spec, except that a model whose entry sets `minSteps` (Turbo models, meant for 1–4 steps)
 * accepts `steps` from that floor up: such a body is validated with steps at the spec's minimum, then keeps its own.
 */
function validateWithStepFloor(ctx: RequestContext, operation: RequestOperation, body: Fields): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    acceptRequest(ctx, operation, body); // a JSON body that is not an object (`null`, a list): the spec's 400
    return;
  }
  const entry = ctx.deps.registry.find(typeof body.model === 'string' ? body.model : DEFAULT_IMAGE_MODEL);
  const floor = entry?.image?.minSteps;
  const steps = typeof body.steps === 'string' && /^\d+$/.test(body.steps) ? Number(body.steps) : body.steps;
  if (floor === undefined || typeof steps !== 'number' || !Number.isInteger(steps) || steps >= SPEC_MIN_STEPS) {
    acceptRequest(ctx, operation, body);
    return;
  }
  if (steps < floor) throw invalidRequest(`"steps" must be >= ${floor} for ${entry!.id} (got ${steps})`, 'steps', 'invalid_value');
  const checked: Fields = { ...body, steps: typeof body.steps === 'string' ? String(SPEC_MIN_STEPS) : SPEC_MIN_STEPS };
  acceptRequest(ctx, operation, checked); // coerces multipart fields in place: keep its coerced values
  Object.assign(body, checked, { steps });
}

/** Fields the spec has that this runtime cannot honour are refused by name, never ignored. */
function refuseUnsupported(body: Fields, entry: CatalogEntry): void {
  if (body.safety_check === true && !hasSafetyChecker(entry)) {
    throw invalidRequest(`${entry.id} has no safety checker model, so its images cannot be checked; send "safety_check": false`,
      'safety_check', 'unsupported_parameter');
  }
  if (body.clip_guidance_preset != null && body.clip_guidance_preset !== 'NONE') {
    throw invalidRequest('Only "clip_guidance_preset": "NONE" is supported', 'clip_guidance_preset', 'unsupported_parameter');
  }
  if (body.control_net_name != null && body.control_net_name !== 'canny') {
    throw invalidRequest('Only the "canny" ControlNet is available', 'control_net_name', 'unsupported_parameter');
  }
}

/** The adapter to merge, if any; the access key travels with the job to the download and no further. */
function loraSource(ctx: RequestContext, body: Fields): LoraSource | undefined {
  const given = (v: unknown) => v != null && v !== '';
  if (!given(body.lora_adapter_name)) {
    if (given(body.lora_weight_filename)) throw invalidRequest('"lora_weight_filename" needs "lora_adapter_name" (the Hugging Face repo that holds it)', 'lora_adapter_name', 'missing_required_field');
    return undefined;
  }
  const source: LoraSource = { repo: String(body.lora_adapter_name) };
  if (given(body.lora_weight_filename)) source.filename = String(body.lora_weight_filename);
  const key = ctx.request.headers.get('huggingface-access-key')?.trim();
  if (key) source.accessKey = key;
  validateLoraSource(source);
  return source;
}

function size(body: Fields, entry: CatalogEntry): [number, number] {
  const allowed = entry.image!.resolutions;
  if (typeof body.aspect_ratio === 'string') return nearestAspect(body, allowed);
  const width = num(body.width, allowed[0][0]);
  const height = num(body.height, allowed[0][1]);
  if (!allowed.some(([w, h]) => w === width && h === height)) {
    throw invalidRequest(`${width}×${height} is not a supported size for ${entry.id}; use one of ${allowed.map(([w, h]) => `${w}×${h}`).join(', ')}`,
      body.height !== undefined && body.width === undefined ? 'height' : 'width', 'unsupported_resolution');
  }
  return [width, height];
}

/**
 * `aspect_ratio` ("16:9", the live API's): the model's listed resolution whose ratio is nearest (in log space, so
 * 2:1 and 1:2 are equally far from 1:1); ties go to the earlier-listed size. Not together with width/height.
 */
function nearestAspect(body: Fields, allowed: readonly (readonly [number, number])[]): [number, number] {
  if (body.width !== undefined || body.height !== undefined) {
    throw invalidRequest('Give either "aspect_ratio" or "width"/"height", not both', 'aspect_ratio', 'invalid_value');
  }
  const [w, h] = String(body.aspect_ratio).split(':').map(Number);
  const want = Math.log(w / h);
  let best = allowed[0];
  for (const r of allowed) if (Math.abs(Math.log(r[0] / r[1]) - want) < Math.abs(Math.log(best[0] / best[1]) - want) - 1e-12) best = r;
  return [best[0], best[1]];
}

/** Weight +1 prompts form the prompt and weight −1 the negative prompt (the only weights the spec allows). */
function prompts(body: Fields): { prompt: string; negativePrompt: string } {
  let list: { text: string; weight?: number }[];
  if (typeof body.text_prompts === 'string') {
    try {
      list = JSON.parse(body.text_prompts) as { text: string; weight?: number }[];
    } catch {
      throw invalidRequest('"text_prompts" must be a JSON-encoded array of {"text", "weight"}', 'text_prompts', 'invalid_json');
    }
    if (!Array.isArray(list) || list.some((p) => typeof p?.text !== 'string' || (p.weight !== undefined && typeof p.weight !== 'number'))) {
      throw invalidRequest('"text_prompts" must be a JSON-encoded array of {"text", "weight"}', 'text_prompts', 'invalid_type');
    }
  } else if (Array.isArray(body.text_prompts)) {
    list = body.text_prompts as { text: string; weight?: number }[];
  } else {
    list = [];
  }
  const shorthand = typeof body.prompt === 'string' ? 'prompt' : typeof body.negative_prompt === 'string' ? 'negative_prompt' : null;
  if (shorthand && list.length) {
    throw invalidRequest(`Give the prompt either as "prompt"/"negative_prompt" or as "text_prompts", not both ("${shorthand}" and "text_prompts" were given)`,
      shorthand, 'invalid_value');
  }
  if (typeof body.prompt === 'string') list = [{ text: body.prompt, weight: 1 }, ...list];
  if (typeof body.negative_prompt === 'string' && body.negative_prompt) list.push({ text: body.negative_prompt, weight: -1 });
  list.forEach((p, i) => {
    const w = p.weight ?? 1;
    if (w !== 1 && w !== -1) throw invalidRequest(`Prompt weights must be 1 or -1 (got ${w})`, `text_prompts[${i}].weight`, 'unsupported_parameter');
  });
  const positive = list.filter((p) => (p.weight ?? 1) > 0).map((p) => p.text).filter(Boolean);
  if (!positive.length) throw invalidRequest('At least one non-empty prompt with weight 1 is required', 'text_prompts', 'missing_required_field');
  return { prompt: positive.join(', '), negativePrompt: list.filter((p) => p.weight === -1).map((p) => p.text).join(', ') };
}

function responseFormat(accept: string | null, samples: number): { kind: 'sse' | 'json' | 'binary'; imageType: 'image/png' | 'image/jpeg' } {
  const a = (accept ?? '').toLowerCase();
  const imageType = a.includes('image/jpeg') && !a.includes('image/png') ? 'image/jpeg' : 'image/png';
  if (a.includes('text/event-stream')) return { kind: 'sse', imageType };
  if (a.includes('application/json')) return { kind: 'json', imageType };
  if (a.includes('image/png') || a.includes('image/jpeg')) {
    if (samples > 1) throw invalidRequest('Several images need "Accept: application/json"', 'samples', 'unsupported_parameter');
    return { kind: 'binary', imageType };
  }
  return { kind: samples > 1 ? 'json' : 'binary', imageType };
}

/** Every image of the job; an aborted request stops the denoising between steps (499). */
async function collectImages(stream: ReadableStream<ImageEvent>, signal: AbortSignal) {
  const images: Extract<ImageEvent, { type: 'image' }>[] & { backend: string } = Object.assign([], { backend: '' });
  await readAll(stream, signal, (value) => {
    if (value.type === 'start') images.backend = value.backend;
    if (value.type === 'image') images.push(value);
  });
  return images;
}

export async function multipartFields(request: Request): Promise<Fields> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('multipart/form-data')) {
    throw invalidRequest(`This path takes multipart/form-data (got ${type || 'no content type'})`, null, 'unsupported_content_type');
  }
  const bytes = await readBody(request, MAX_MULTIPART_BYTES).catch((e: unknown) => {
    throw e instanceof HearthError ? e : tooLarge(MAX_MULTIPART_BYTES);
  });
  let form: FormData;
  try {
    form = await new Response(bytes as BodyInit, { headers: { 'content-type': type } }).formData();
  } catch {
    throw invalidRequest('The multipart/form-data body cannot be parsed', null, 'invalid_multipart');
  }
  const fields: Fields = {};
  for (const [key, value] of form.entries()) {
    if (key in fields) throw invalidRequest(`Field "${key}" is given more than once`, key, 'invalid_multipart');
    fields[key] = value;
  }
  return fields;
}

async function encoded(value: unknown, param: string): Promise<EncodedImage> {
  if (!(value instanceof Blob)) throw invalidRequest(`"${param}" must be an uploaded image file`, param, 'invalid_type');
  if (!value.size) throw invalidRequest(`"${param}" is empty`, param, 'invalid_image');
  return { bytes: await value.arrayBuffer(), type: value.type };
}

const checked = (image: EncodedImage, param: string, resolutions: [number, number][]) => (checkImageUpload(image.bytes, param, resolutions), image);

const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);

const SDXL = '/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0';

/** The paths it serves (the image kind's routes: src/api/routes.ts). */
export const routes = kindRoutes('image', [
  { path: SDXL, method: 'POST', handler: textToImage, operation: 'images.generate', defaultModel: DEFAULT_IMAGE_MODEL },
  { path: `${SDXL}/image_to_image`, method: 'POST', handler: imageToImage, operation: 'images.image_to_image', multipart: true, defaultModel: DEFAULT_IMAGE_MODEL },
  { path: `${SDXL}/control_net`, method: 'POST', handler: controlNet, operation: 'images.control_net', multipart: true, defaultModel: DEFAULT_IMAGE_MODEL },
]);
