// LLM decode rounds run inside the host page by page.evaluate (serialised as source: they must use nothing outside
// themselves). Same timing record as bench/node-llm.mjs:
//   { ttftMs: sent → first content, decodeMs: first content → last token (usage chunk / done event), tokens }.

/**
 * `rounds` rounds, each running the three paths once in the same order: fetch → SW → host → worker (SSE),
 * hearth.handle (SSE, no SW) and the worker engine's own stream (Comlink). `params` are the GenerationParams the
 * API builds from `body` (computed in Node by the handler's own generationParams), so all three run the same job.
 */
export async function llmRounds({ rounds, body, params, prompt }) {
  const h = window.hearth;
  const url = '/inference/v1/completions';
  const init = () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const entry = h.registry.find(body.model);
  const engine = await h.engines.llm();

  // The first body bytes are the first content chunk (the handler sends nothing before the first text delta); the
  // chunk carrying "usage" follows the last token. Chunks are kept as text and parsed after the clock stops.
  const readSse = async (res, t0, label) => {
    if (!res.ok) throw new Error(`${label}: HTTP ${res.status} ${await res.text()}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parts = [];
    let tFirst = 0;
    let tLast = 0;
    let tail = '';
    for (;;) {
      const { value, done } = await reader.read();
      const now = performance.now();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      parts.push(text);
      if (!tFirst) tFirst = now;
      if (!tLast && (tail + text).includes('"usage"')) tLast = now;
      tail = text.slice(-16);
    }
    const tEnd = performance.now();
    const events = parts.join('').split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const usage = events.at(-1)?.usage;
    if (!usage) throw new Error(`${label}: SSE stream ended without usage: ${JSON.stringify(events.at(-1))}`);
    return {
      ttftMs: tFirst - t0, decodeMs: (tLast || tEnd) - tFirst, totalMs: tEnd - t0, tokens: usage.completion_tokens,
      text: events.map((e) => e.choices?.[0]?.text ?? '').join(''), chunks: events.length, reads: parts.length,
      backend: res.headers.get('x-hearth-backend'),
    };
  };

  const variants = {
    sw: async () => {
      const t0 = performance.now();
      return readSse(await fetch(url, init()), t0, 'completions via SW');
    },
    handle: async () => {
      const t0 = performance.now();
      return readSse(await h.handle(new Request(url, init())), t0, 'completions via handle');
    },
    engine: async () => {
      const t0 = performance.now();
      const reader = (await engine.run({ kind: 'completion', entry, prompts: [prompt], images: [], params })).getReader();
      let tFirst = 0;
      let tLast = 0;
      let tokens = 0;
      let backend = null;
      const pieces = [];
      for (;;) {
        const { value: e, done } = await reader.read();
        const now = performance.now();
        if (done) break;
        if (e.type === 'delta' && (e.text || e.logprobs)) {
          if (!tFirst) tFirst = now;
          pieces.push(e.text ?? '');
        } else if (e.type === 'done') {
          tLast = now;
          tokens = e.completionTokens;
        } else if (e.type === 'start') {
          backend = e.backend;
        }
      }
      const tEnd = performance.now();
      return { ttftMs: tFirst - t0, decodeMs: (tLast || tEnd) - tFirst, totalMs: tEnd - t0, tokens, text: pieces.join(''), backend };
    },
  };
  const out = Object.fromEntries(Object.keys(variants).map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(variants)) out[name].push(await run());
  }
  return out;
}
