// The Node side of the SDXL bench: the image pipeline as the SDXL worker builds it (ImageService's own loading of
// every part on onnxruntime-web wasm, 1 thread here, from public/models/hearth-tiny-sdxl), with every
// InferenceSession's run wrapped to record its wall time, so one SdxlPipeline.sample can be split into ONNX time and
// the pipeline's own time (tokenizing, noise, feeds, guidance, the sampler step, latent scaling, RGBA conversion).
import { ROOT } from './build.mjs';
import { ort } from './node-paths.mjs';

/** Loads the bundled SDXL modules (see build.mjs: buildNodeApi). */
export async function loadSdxlModules(dir) {
  const [{ createImageService }, { SdxlPipeline }, { IMAGE_PARTS }, { directoryFiles }] = await Promise.all(
    ['sdxl-service', 'sdxl-pipeline', 'sdxl-files', 'model-files'].map((m) => import(`${dir}/${m}.mjs`)));
  return { createImageService, SdxlPipeline, IMAGE_PARTS, directoryFiles };
}

/** Which part of the pipeline each session is (pipeline.ts: SdxlModel.sessions). */
export const SDXL_PARTS = {
  textEncoder: 'text', textEncoder2: 'text', unet: 'unet', vaeDecoder: 'vae', vaeEncoder: 'vae', controlnet: 'unet', unetControlnet: 'unet',
};

const notInBench = async () => { throw new Error('not part of the SDXL bench'); };

/**
 * The worker's ImageService (workers/image.worker.ts) in Node, built by the same factory from the model directory: same
 * parts, same session options, devices ['wasm'].
 * Its pipeline is built by the service's own (private) `pipeline(entry)` — the code path a first request takes — and
 * every session's `run` is wrapped. Returns the loaded model, a timed `sample` and the load time.
 */
export async function nodeSdxl(mods, entry) {
  const service = mods.createImageService({
    ort,
    files: mods.directoryFiles(`${ROOT}public`),
    devices: ['wasm'],
    codec: { decode: notInBench, encode: notInBench },
    canny: notInBench,
  });
  if (typeof service.pipeline !== 'function') throw new Error('ImageService has no pipeline(entry) method any more: update bench/node-sdxl.mjs');
  const t0 = performance.now();
  const loaded = await service.pipeline(entry);
  const loadMs = performance.now() - t0;
  const { model } = loaded.pipeline;

  // Every session.run appends {name, start, end} to the trace of the sample in progress.
  let trace = null;
  for (const [name, session] of Object.entries(model.sessions)) {
    if (!session) continue;
    const run = session.run.bind(session);
    session.run = async (...args) => {
      const start = performance.now();
      try {
        return await run(...args);
      } finally {
        trace?.push({ name, start, end: performance.now() });
      }
    };
  }

  /**
   * One text-to-image sample on a fresh SdxlPipeline over the loaded model (so its prompt cache is empty and the
   * prompt and the empty negative prompt are both encoded, as for a new prompt). Phases partition the total:
   * prompt + setup = start → first UNet run; denoising loop = first UNet run → the last step's onStep;
   * decode = then → sample() returns.
   */
  async function sample(req) {
    const pipeline = new mods.SdxlPipeline(model);
    trace = [];
    const stepTimes = [];
    const t0 = performance.now();
    const rgba = await pipeline.sample(req, () => stepTimes.push(performance.now()));
    const t1 = performance.now();
    const runs = trace;
    trace = null;
    const firstUnet = runs.find((r) => SDXL_PARTS[r.name] === 'unet' && r.start >= t0);
    const loopEnd = stepTimes.at(-1);
    const sumOf = (pred) => runs.filter(pred).reduce((s, r) => s + (r.end - r.start), 0);
    const part = (p) => sumOf((r) => SDXL_PARTS[r.name] === p);
    const totalMs = t1 - t0;
    const runMs = sumOf(() => true);
    return {
      rgba,
      timing: {
        totalMs, runMs, overheadMs: totalMs - runMs,
        runs: Object.fromEntries(['text', 'unet', 'vae'].map((p) => [p, { count: runs.filter((r) => SDXL_PARTS[r.name] === p).length, ms: part(p) }])),
        phases: {
          text: { wallMs: firstUnet.start - t0, runMs: part('text') },
          unet: { wallMs: loopEnd - firstUnet.start, runMs: part('unet') },
          vae: { wallMs: t1 - loopEnd, runMs: part('vae') },
        },
        steps: stepTimes.length,
      },
    };
  }

  return { model, loadMs, sample, release: () => service.unload(entry.id) };
}
