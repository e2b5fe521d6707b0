// Functions run inside the host page by page.evaluate (serialised as source: they must use nothing outside themselves).

/**
 * Latency rounds: each round runs every variant once, in the same order (interleaved, so machine noise hits all
 * alike), timing each with performance.now() until its body is read. Returns ms per variant per round.
 */
export async function latencyRounds({ rounds, warmup, text, model }) {
  const h = window.hearth;
  const api = '/inference/v1';
  const body = JSON.stringify({ model, input: text });
  const post = () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const entry = h.registry.find(model);
  const engine = await h.engines.embeddings();
  const ok = async (res, label) => {
    const bytes = await res.arrayBuffer();
    if (!res.ok) throw new Error(`${label}: HTTP ${res.status} ${new TextDecoder().decode(bytes).slice(0, 300)}`);
    return bytes;
  };
  const variants = {
    swPing: async () => ok(await fetch(`${api}/_hearth/sw-ping`), 'sw-ping'),
    embedSw: async () => ok(await fetch(`${api}/embeddings`, post()), 'embeddings via SW'),
    embedHandle: async () => ok(await h.handle(new Request(`${api}/embeddings`, post())), 'embeddings via handle'),
    embedWorker: async () => engine.run({ entry, inputs: [{ text, param: 'input' }] }),
    modelsSw: async () => ok(await fetch(`${api}/models`), 'models via SW'),
    modelsHandle: async () => ok(await h.handle(new Request(`${api}/models`)), 'models via handle'),
  };
  const names = Object.keys(variants);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < warmup + rounds; r++) {
    for (const name of names) {
      const t0 = performance.now();
      await variants[name]();
      const ms = performance.now() - t0;
      if (r >= warmup) times[name].push(ms);
    }
  }
  // Not timed: what the three embedding paths answered, to show they did the same work on the same device.
  const viaSw = await fetch(`${api}/embeddings`, post());
  const swJson = await viaSw.json();
  const viaHandle = await (await h.handle(new Request(`${api}/embeddings`, post()))).json();
  const direct = await engine.run({ entry, inputs: [{ text, param: 'input' }] });
  const maxAbs = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  return {
    times,
    check: {
      swStatus: viaSw.status,
      backend: viaSw.headers.get('x-hearth-backend'),
      promptTokens: swJson.usage?.prompt_tokens,
      dims: swJson.data?.[0]?.embedding?.length,
      maxDiffSwVsHandle: maxAbs(swJson.data[0].embedding, viaHandle.data[0].embedding),
      maxDiffSwVsWorker: maxAbs(swJson.data[0].embedding, Array.from(direct.vectors[0])),
    },
  };
}

/** One throughput round in the page: the same batch through the SW, through hearth.handle and straight to the worker. */
export async function throughputRound({ texts, model, reps }) {
  const h = window.hearth;
  const url = '/inference/v1/embeddings';
  const body = JSON.stringify({ model, input: texts });
  const post = () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const entry = h.registry.find(model);
  const engine = await h.engines.embeddings();
  const inputs = texts.map((text, i) => ({ text, param: `input[${i}]` }));
  const read = async (res) => {
    const bytes = await res.arrayBuffer(); // the body is read, not parsed: parsing is the caller's cost, not the API's
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${new TextDecoder().decode(bytes).slice(0, 300)}`);
  };
  const variants = {
    sw: async () => read(await fetch(url, post())),
    handle: async () => read(await h.handle(new Request(url, post()))),
    worker: async () => engine.run({ entry, inputs }),
  };
  const times = { sw: [], handle: [], worker: [] };
  for (let r = 0; r < reps; r++) {
    for (const [name, run] of Object.entries(variants)) {
      const t0 = performance.now();
      await run();
      times[name].push(performance.now() - t0);
    }
  }
  return { times };
}

/** Facts about the page for the report header. */
export function pageInfo() {
  return {
    crossOriginIsolated: self.crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
    // workers/embeddings.worker.ts sets ORT's wasm threads this way.
    ortWasmThreads: self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1,
    userAgent: navigator.userAgent,
    webgpu: 'gpu' in navigator,
  };
}
