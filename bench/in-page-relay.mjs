// Functions the relay bench runs inside its pages by page.evaluate (serialised as source: they must use nothing
// outside themselves).

/**
 * One latency round in a page the service worker controls: `reps` times, a bare SW fetch (`/_hearth/sw-ping`,
 * answered in the service worker) then each relayed request, timed with performance.now() until the body is read.
 * Requests: an unknown API route (404 from `handle()`'s router: the relay and almost nothing else), `GET /models`,
 * and a tiny embeddings request (the engine worker too). Samples of one rep are paired.
 */
export async function relayLatencyRound({ reps, model, text }) {
  const api = '/inference/v1';
  const variants = {
    ping: [`${api}/_hearth/sw-ping`, undefined, 204],
    unknownRoute: [`${api}/_hearth/no-such-route`, undefined, 404],
    models: [`${api}/models`, undefined, 200],
    embeddings: [`${api}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, input: text }) }, 200],
  };
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let i = 0; i < reps; i++) {
    for (const [name, [url, init, expected]] of Object.entries(variants)) {
      const t0 = performance.now();
      const res = await fetch(url, init);
      await res.arrayBuffer();
      const ms = performance.now() - t0;
      if (res.status !== expected) throw new Error(`${name}: HTTP ${res.status}, expected ${expected}`);
      times[name].push(ms);
    }
  }
  return times;
}

/** In the host page: a busy main thread, `busyMs` of blocking work every `everyMs` (a janky UI). */
export function startBusyLoop({ busyMs, everyMs }) {
  window.__hearthBusy = setInterval(() => {
    const t0 = performance.now();
    while (performance.now() - t0 < busyMs) { /* busy */ }
  }, everyMs);
}

export function stopBusyLoop() {
  clearInterval(window.__hearthBusy);
}

/**
 * In another tab of the origin (its own main thread is idle): `count` relayed requests at random moments (0–`gapMs`
 * apart, so they do not fall into step with the host's busy loop), each timed until its body is read.
 */
export async function relayProbe({ count, gapMs, model, text }) {
  const times = { unknownRoute: [], embeddings: [] };
  for (let i = 0; i < count; i++) {
    await new Promise((r) => setTimeout(r, Math.random() * gapMs));
    let t0 = performance.now();
    let res = await fetch('/inference/v1/_hearth/no-such-route');
    await res.arrayBuffer();
    times.unknownRoute.push(performance.now() - t0);
    if (res.status !== 404) throw new Error(`unknown route: HTTP ${res.status}`);
    await new Promise((r) => setTimeout(r, Math.random() * gapMs));
    t0 = performance.now();
    res = await fetch('/inference/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, input: text }) });
    await res.arrayBuffer();
    times.embeddings.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`embeddings: HTTP ${res.status}`);
  }
  return times;
}
