// SDXL rounds run inside the host page by page.evaluate (serialised as source: they must use nothing outside themselves).

/**
 * Warms the image worker up before any timed round: right after the model load the worker's wasm is still being
 * tiered up by V8, and a 64×64 image takes ~3× its settled time for the first ~30 calls (~4 s). Calls the engine
 * directly, alternating the sizes, until for every size the median of its last `window` calls is within `tolerance` ×
 * its fastest call (and at least `minCalls` calls per size), or `maxMs` has passed. Returns the calls made and whether it settled.
 */
export async function sdxlWarmup({ jobs, model, minCalls, window: w, tolerance, maxMs }) {
  const h = window.hearth;
  const entry = h.registry.resolve(model, 'image');
  const engine = await h.engines.image();
  const times = jobs.map(() => []);
  const t00 = performance.now();
  const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
  const settled = () => times.every((t) => t.length >= Math.max(minCalls, w) && median(t.slice(-w)) <= tolerance * Math.min(...t));
  let call = 0;
  while (!settled() && performance.now() - t00 < maxMs) {
    for (const [i, job] of jobs.entries()) {
      const t0 = performance.now();
      const reader = (await engine.run({ ...job, entry, prompt: `${job.prompt} warm-up ${call++}` })).getReader();
      for (;;) if ((await reader.read()).done) break;
      times[i].push(performance.now() - t0);
    }
  }
  return { calls: times.map((t) => t.length), ms: performance.now() - t00, settled: settled(), lastMs: times.map((t) => t.slice(-w)) };
}

/**
 * `warmup` + `rounds` rounds at one size; each round runs the three paths once, starting with a different one each
 * round (rotation, so no path always follows the same one): the PNG request through fetch → SW → host → worker,
 * the same request through hearth.handle (no SW), and the image worker's own stream (`engine.run(job)` over
 * Comlink, read to its end), with the ImageJob the handler would build (`job`, without its catalog `entry`, which is
 * the page registry's entry for `body.model`, as the handler resolves it). Every call gets its own prompt
 * (`prompts[i]`), so each one encodes its prompt. Returns ms per path per timed round (each run read to the end).
 *
 * During the rounds the page's engine pool hands the API an instrumented image engine: its `run` stream is
 * passed through a pull-through stream (as worker-protocol's own wrapper) that notes when the engine's stream ends,
 * so each API request is split into the engine's part (run() called → its stream done, as the host sees it)
 * and the rest (request handling, validation, the SW relay, the PNG response) within the same request, which
 * machine noise cannot skew the way it skews comparisons across requests. Path C calls the engine unwrapped.
 */
export async function sdxlRounds({ path, body, job, prompts, rounds, warmup }) {
  const h = window.hearth;
  const entry = h.registry.resolve(body.model, 'image');
  const pool = h.engines;
  const poolImage = pool.image;
  const engine = await poolImage.call(pool);
  let span = null;
  const instrumented = new Proxy(engine, {
    get(target, key) {
      if (key !== 'run') return target[key];
      return async (j) => {
        const mine = { start: performance.now(), end: 0 };
        span = mine;
        const reader = (await target.run(j)).getReader();
        return new ReadableStream({
          async pull(controller) {
            const { value, done } = await reader.read();
            if (done) {
              mine.end = performance.now();
              controller.close();
            } else controller.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        }, { highWaterMark: 0 });
      };
    },
  });
  const init = (prompt) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'image/png' },
    body: JSON.stringify({ ...body, text_prompts: [{ text: prompt }] }),
  });
  const read = async (res, label) => {
    const bytes = await res.arrayBuffer();
    if (!res.ok) throw new Error(`${label}: HTTP ${res.status} ${new TextDecoder().decode(bytes).slice(0, 300)}`);
    if (res.headers.get('content-type') !== 'image/png') throw new Error(`${label}: content-type ${res.headers.get('content-type')}`);
    if (!span?.end) throw new Error(`${label}: the instrumented engine saw no finished stream`);
    return { engineMs: span.end - span.start };
  };
  const variants = {
    sw: async (prompt) => read(await fetch(path, init(prompt)), 'image via SW'),
    handle: async (prompt) => read(await h.handle(new Request(path, init(prompt))), 'image via handle'),
    engine: async (prompt, t0) => {
      const reader = (await engine.run({ ...job, entry, prompt })).getReader();
      let tProgress = 0;
      let tImage = 0;
      let bytes = 0;
      for (;;) {
        const { value: e, done } = await reader.read();
        if (done) break;
        if (e.type === 'progress' && !tProgress) tProgress = performance.now();
        if (e.type === 'image') {
          tImage = performance.now();
          bytes = e.bytes.byteLength;
        }
      }
      if (!bytes) throw new Error('engine stream ended without an image');
      return { sampledMs: tProgress - t0, imageMs: tImage - t0 };
    },
  };
  const names = Object.keys(variants);
  const out = {
    ms: Object.fromEntries(names.map((n) => [n, []])), engineMs: { sw: [], handle: [] },
    engineSampledMs: [], engineImageMs: [], order: [],
  };
  let call = 0;
  pool.image = async () => instrumented;
  try {
    for (let r = 0; r < warmup + rounds; r++) {
      const order = names.map((_, i) => names[(r + i) % names.length]);
      for (const name of order) {
        const prompt = prompts[call++ % prompts.length];
        span = null;
        const t0 = performance.now();
        const extra = await variants[name](prompt, t0);
        const ms = performance.now() - t0;
        if (r < warmup) continue;
        out.ms[name].push(ms);
        if (name === 'engine') {
          out.engineSampledMs.push(extra.sampledMs);
          out.engineImageMs.push(extra.imageMs);
        } else {
          out.engineMs[name].push(extra.engineMs);
        }
      }
      if (r >= warmup) out.order.push(order.join(','));
    }
  } finally {
    pool.image = poolImage;
  }
  return out;
}

/**
 * Untimed: one prompt through the three paths; whether the PNG bytes agree, the headers, and the decoded RGBA of the
 * SW's image (to compare with the Node pipeline's pixels).
 */
export async function sdxlCheck({ path, body, job, prompt }) {
  const h = window.hearth;
  const entry = h.registry.resolve(body.model, 'image');
  const engine = await h.engines.image();
  const init = () => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'image/png' },
    body: JSON.stringify({ ...body, text_prompts: [{ text: prompt }] }),
  });
  const viaSw = await fetch(path, init());
  const swBytes = new Uint8Array(await viaSw.arrayBuffer());
  const viaHandle = await h.handle(new Request(path, init()));
  const handleBytes = new Uint8Array(await viaHandle.arrayBuffer());
  const reader = (await engine.run({ ...job, entry, prompt })).getReader();
  let engineBytes = new Uint8Array(0);
  let backend = null;
  const events = [];
  for (;;) {
    const { value: e, done } = await reader.read();
    if (done) break;
    events.push(e.type);
    if (e.type === 'start') backend = e.backend;
    if (e.type === 'image') engineBytes = new Uint8Array(e.bytes);
  }
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const bmp = await createImageBitmap(new Blob([swBytes], { type: 'image/png' }));
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bmp, 0, 0);
  const rgba = Array.from(ctx.getImageData(0, 0, bmp.width, bmp.height).data);
  return {
    status: { sw: viaSw.status, handle: viaHandle.status },
    headers: {
      contentType: viaSw.headers.get('content-type'), backend: viaSw.headers.get('x-hearth-backend'),
      seed: viaSw.headers.get('seed'), finishReason: viaSw.headers.get('finish-reason'),
    },
    engineBackend: backend,
    engineEvents: events.reduce((m, t) => ({ ...m, [t]: (m[t] ?? 0) + 1 }), {}),
    pngBytes: swBytes.length,
    swEqualsHandle: same(swBytes, handleBytes),
    swEqualsEngine: same(swBytes, engineBytes),
    width: bmp.width, height: bmp.height,
    rgba,
  };
}
