// The soak: Hearth tried as a hostile user would, through the service worker from two tabs. Malformed-input fuzz
// over every endpoint (tests/soak/cases.ts), concurrent mixed requests from both tabs checked against solo answers,
// abort storms, a service-worker stop, site-data clearing, memory over many requests, another site's form post, a
// decompression bomb, engine workers crashing or hanging mid-stream (full run only: tests/browser/supervision.test.ts
// covers one of each in npm test), and the host closing mid-stream. Prints one table (counts and the first failure of each kind)
// and fails on any hang, 5xx, non-ErrorResponse error, or lost or mixed answer.
// `npm run soak` runs it all (SOAK=full); the fast subset (every 10th fuzz case, fewer repetitions) runs in npm test.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launch, openHost, seedStoredFile, type HostPage } from '../browser/browser';
import { streamThenFault } from '../browser/faults';
import { soakCases, type SoakCase } from './cases';

const FULL = process.env.SOAK === 'full';
const baseUrl = inject('baseUrl');
const otherOrigin = baseUrl.replace('127.0.0.1', 'localhost');
/** No answer after this long is a hang (a first image request loads three models on wasm: ~25 s here). */
const HANG_MS = 60_000;

interface Row { kind: string; cases: number; failures: number; first: string }
const rows: Row[] = [];
const record = (kind: string, outcomes: { ok: boolean; what: string }[]) => {
  const failed = outcomes.filter((o) => !o.ok);
  rows.push({ kind, cases: outcomes.length, failures: failed.length, first: failed[0]?.what ?? '' });
  return failed;
};

interface Answer { status: number; text: string; ms: number; hang: boolean; contentType: string | null }

/** Sends cases from `page` through the service worker, one at a time; a case not answered in HANG_MS is a hang. */
async function send(page: Page, cases: SoakCase[]): Promise<Answer[]> {
  return page.evaluate(async ({ cases, hangMs }) => {
    const out: Answer[] = [];
    for (const c of cases) {
      const t0 = performance.now();
      let body: BodyInit | undefined = c.body;
      if (c.form) {
        const form = new FormData();
        for (const [k, v] of Object.entries(c.form)) {
          if (typeof v === 'string') form.set(k, v);
          else form.set(k, new Blob([new Uint8Array(v.bytes)], { type: v.type }), 'image.png');
        }
        body = form;
      }
      const answer = fetch(c.path, { method: c.method, headers: c.headers, body: c.method === 'GET' ? undefined : body })
        .then(async (res) => ({ status: res.status, text: (await res.text()).slice(0, 50_000), contentType: res.headers.get('content-type'), hang: false }))
        .catch((e: unknown) => ({ status: 0, text: String(e), contentType: null, hang: false }));
      const timeout = new Promise<{ status: number; text: string; contentType: null; hang: boolean }>((r) => setTimeout(() => r({ status: 0, text: 'no answer', contentType: null, hang: true }), hangMs));
      out.push({ ...(await Promise.race([answer, timeout])), ms: performance.now() - t0 });
    }
    return out;
  }, { cases, hangMs: HANG_MS });
}

/** What is wrong with an answer, or '' when it is a success or a spec-shaped 4xx. */
function judge(a: Answer): string {
  if (a.hang) return 'hang';
  if (a.status === 0) return `network error: ${a.text}`;
  if (a.status >= 500) return `${a.status}: ${a.text.slice(0, 200)}`;
  if (a.status >= 400) {
    try {
      const body = JSON.parse(a.text) as { error?: Record<string, unknown> };
      const keys = Object.keys(body.error ?? {}).sort().join(',');
      if (keys !== 'code,message,param,type' || typeof body.error!.message !== 'string') return `${a.status} not an ErrorResponse: ${a.text.slice(0, 200)}`;
    } catch {
      return `${a.status} not JSON: ${a.text.slice(0, 200)}`;
    }
  }
  return '';
}

let browser: Browser;
let host: HostPage;
let other: Page;
let png: number[];

beforeAll(async () => {
  browser = await launch();
  // LLM jobs get 15 s (the fuzz's longest runs take ~1 s here) so that a hung worker is restarted within the soak.
  host = await openHost(browser, baseUrl, 'devices=wasm&diagnostics=1&deadlines=llm:15000,graceMs:2000');
  other = await host.context.newPage();
  await other.goto(`${baseUrl}/?devices=wasm&diagnostics=1`);
  await other.waitForFunction(() => window.hearth !== undefined && Boolean(navigator.serviceWorker.controller));
  png = await other.evaluate(async () => {
    const canvas = new OffscreenCanvas(64, 64);
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = '#c63';
    ctx.fillRect(8, 8, 40, 40);
    return Array.from(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()));
  });
});

afterAll(async () => {
  const table = [
    '| Check | Cases | Failures | First failure |',
    '|---|---:|---:|---|',
    ...rows.map((r) => `| ${r.kind} | ${r.cases} | ${r.failures} | ${r.first.replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 160)} |`),
  ].join('\n');
  console.log(`\nSoak (${FULL ? 'full' : 'fast subset'}):\n${table}\n`);
  if (FULL) writeFileSync('soak-results.md', `${table}\n`);
  await browser?.close();
});

describe(`soak (${FULL ? 'full' : 'fast subset'})`, () => {
  it('malformed-input fuzz over every endpoint: spec-shaped answers, no hang, no 5xx', async () => {
    const all = soakCases(png);
    expect(all.length).toBeGreaterThanOrEqual(1000);
    // The fast subset: every 10th case, without the ones that start real generation work (images, 200 tokens).
    const cases = FULL ? all : all.filter((c, i) => i % 10 === 0 && !c.path.includes('/image_generation/') && !c.name.includes('without max_tokens'));
    const answers = await send(other, cases);
    const slowest = answers.map((a, i) => [a.ms, cases[i].name] as const).sort((x, y) => y[0] - x[0]).slice(0, 5);
    console.log(`fuzz: ${cases.length} cases in ${Math.round(answers.reduce((t, a) => t + a.ms, 0) / 1000)} s; slowest: ${slowest.map(([ms, n]) => `${n} ${Math.round(ms)} ms`).join('; ')}`);
    const failed = record('malformed-input fuzz', answers.map((a, i) => ({ ok: !judge(a), what: `${cases[i].name} → ${judge(a)}` })));
    // After all that, a plain request to each engine answers at once.
    const after = await send(other, [
      { name: 'embeddings', path: '/inference/v1/embeddings', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-embed', input: 'after' }) },
      { name: 'chat', path: '/inference/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'after' }], max_tokens: 2 }) },
    ]);
    record('plain requests after the fuzz', after.map((a) => ({ ok: a.status === 200 && a.ms < 10_000, what: `${a.status} in ${Math.round(a.ms)} ms` })));
    expect(failed.map((f) => f.what)).toEqual([]);
    expect(after.map((a) => a.status)).toEqual([200, 200]);
  }, FULL ? 1_800_000 : 120_000);

  it('concurrent mixed requests from two tabs: each answer equals its solo answer', async () => {
    const count = FULL ? 50 : 12;
    const requests = Array.from({ length: count }, (_, i) => (i % 3 === 0
      ? { path: '/inference/v1/embeddings', body: { model: 'hearth/tiny-embed', input: `concurrent ${i}` } }
      : i % 3 === 1
        ? { path: '/inference/v1/completions', body: { model: 'hearth/tiny-llama', prompt: `Number ${i}`, max_tokens: 6, temperature: 0 } }
        : { path: '/inference/v1/chat/completions', body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: `Say ${i}` }], max_tokens: 6, temperature: 0, stream: true } }));
    const run = (page: Page, list: typeof requests) => page.evaluate(async (list) => Promise.all(list.map(async (r) => {
      const res = await fetch(r.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r.body) });
      const text = await res.text();
      // The part of the answer that must not depend on what ran beside it.
      if (r.path.endsWith('embeddings')) return `${res.status} ${JSON.stringify(JSON.parse(text).data?.[0]?.embedding?.slice(0, 8))}`;
      if (r.path.endsWith('/completions') && !r.path.includes('chat')) return `${res.status} ${JSON.parse(text).choices?.[0]?.text}`;
      return `${res.status} ${text.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)).choices?.[0]?.delta?.content ?? '').join('')}`;
    })), list);
    const solo: string[] = [];
    for (const r of requests) solo.push(...(await run(other, [r])));
    const half = Math.ceil(count / 2);
    const [a, b] = await Promise.all([run(host.page, requests.slice(0, half)), run(other, requests.slice(half))]);
    const together = [...a, ...b];
    const failed = record('concurrent mixed requests, two tabs', together.map((t, i) => ({ ok: t === solo[i] && t.startsWith('200'), what: `#${i}: ${t.slice(0, 60)} ≠ ${solo[i].slice(0, 60)}` })));
    expect(failed.map((f) => f.what)).toEqual([]);
  }, FULL ? 600_000 : 120_000);

  it('abort storms: streams aborted at random points, then a plain request answers at once', async () => {
    const storms = FULL ? 30 : 6;
    const result = await other.evaluate(async (storms) => {
      const post = (body: object, signal?: AbortSignal) => fetch('/inference/v1/chat/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal,
        body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Tell me a story' }], temperature: 0.8, ...body }),
      });
      await Promise.all(Array.from({ length: storms }, async (_, i) => {
        const abort = new AbortController();
        try {
          const res = await post({ stream: true, max_tokens: 100 }, abort.signal);
          const reader = res.body!.getReader();
          for (let k = 0; k < i % 4; k++) await reader.read();
          abort.abort();
        } catch { /* aborted */ }
      }));
      const t0 = performance.now();
      const res = await post({ max_tokens: 2 });
      return { status: res.status, ms: performance.now() - t0 };
    }, storms);
    const failed = record('abort storms', [{ ok: result.status === 200 && result.ms < 20_000, what: `after ${storms} aborts: ${result.status} in ${Math.round(result.ms)} ms` }]);
    expect(failed).toEqual([]);
  }, 180_000);

  it('another site\'s form post is refused (403) and a decompression bomb is refused (400)', async () => {
    const evil = await host.context.newPage();
    await evil.goto(`${otherOrigin}/favicon.svg`);
    const navigation = evil.waitForNavigation();
    await evil.evaluate((action) => {
      const form = document.createElementNS('http://www.w3.org/1999/xhtml', 'form') as HTMLFormElement;
      form.method = 'POST';
      form.enctype = 'text/plain';
      form.action = action;
      const input = document.createElementNS('http://www.w3.org/1999/xhtml', 'input') as HTMLInputElement;
      input.name = '{"model":"hearth/tiny-llama","messages":[{"role":"user","content":"hi"}],"x":"';
      input.value = '"}';
      form.append(input);
      document.documentElement.append(form);
      form.submit();
    }, `${baseUrl}/inference/v1/chat/completions`);
    const formStatus = (await navigation)?.status();
    await evil.close();
    // A PNG header declaring 20000×20000 pixels.
    const bomb = [...png.slice(0, 16), 0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, ...png.slice(24)];
    const [answer] = await send(other, [{ name: 'bomb', path: '/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0/image_to_image', method: 'POST', headers: {}, form: { model: 'hearth/tiny-sdxl', text_prompts: '[{"text":"x"}]', steps: '10', init_image: { bytes: bomb, type: 'image/png' } } }]);
    const failed = record('cross-origin form post, decompression bomb', [
      { ok: formStatus === 403, what: `form post: ${formStatus}` },
      { ok: answer.status === 400 && !judge(answer), what: `bomb: ${answer.status} ${answer.text.slice(0, 100)}` },
    ]);
    expect(failed.map((f) => f.what)).toEqual([]);
  });

  it('memory stays flat over many requests', async () => {
    const n = FULL ? 500 : 60;
    const cdp = await host.context.newCDPSession(host.page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    };
    const before = await heap();
    const statuses = await other.evaluate(async (n) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const res = await fetch('/inference/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-embed', input: `memory ${i}` }) });
        await res.arrayBuffer();
        out.push(res.status);
      }
      return out;
    }, n);
    const grown = (await heap()) - before;
    const failed = record(`memory over ${n} requests (host heap)`, [
      { ok: statuses.every((s) => s === 200), what: `statuses ${[...new Set(statuses)].join(',')}` },
      { ok: grown < 20 * 1024 * 1024, what: `host heap grew ${(grown / 1048576).toFixed(1)} MB` },
    ]);
    expect(failed.map((f) => f.what)).toEqual([]);
  }, 300_000);

  it('the service worker stopped, then site data cleared: the next requests answer (200 or a spec-shaped 503) within seconds', async () => {
    const cdp = await host.context.newCDPSession(other);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    const [afterStop] = await send(other, [{ name: 'after stop', path: '/inference/v1/models/hearth/tiny-embed', method: 'GET', headers: {} }]);
    await cdp.send('Storage.clearDataForOrigin', { origin: baseUrl, storageTypes: 'cache_storage,indexeddb' });
    const afterClear = await send(other, [
      { name: 'embeddings after clear', path: '/inference/v1/embeddings', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-embed', input: 'x' }) },
      { name: 'image after clear (not loaded yet)', path: '/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0', method: 'POST', headers: { 'content-type': 'application/json', accept: 'image/png' }, body: JSON.stringify({ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'x' }], steps: 10 }) },
    ]);
    const ok = (a: Answer) => (a.status === 200 || (a.status === 503 && !judge({ ...a, status: 400 }))) && a.ms < 60_000;
    const failed = record('service-worker stop, storage clear', [
      { ok: afterStop.status === 200 && afterStop.ms < 5000, what: `after stop: ${afterStop.status} in ${Math.round(afterStop.ms)} ms` },
      ...afterClear.map((a, i) => ({ ok: ok(a), what: `${['embeddings', 'image'][i]} after clear: ${a.hang ? 'hang' : a.status} in ${Math.round(a.ms)} ms ${a.text.slice(0, 100)}` })),
    ]);
    expect(failed.map((f) => f.what)).toEqual([]);
  }, 300_000);

  // Full run only (npm test covers one of each in tests/browser/hardening.test.ts): site data cleared while models load,
  // at random points, from the tab that is not the host; a quota too small (507); a hostile chat template (400).
  it.runIf(FULL)('storage cleared mid-load, quota exhausted, a hostile chat template: answers in seconds, then serves', async () => {
    const cdp = await host.context.newCDPSession(host.page);
    const post = (model: string, body: object): SoakCase => ({
      name: model, method: 'POST', headers: { 'content-type': 'application/json' },
      path: model.includes('embed') ? '/inference/v1/embeddings' : '/inference/v1/chat/completions',
      body: JSON.stringify({ model, ...body }),
    });
    const ask = (model: string) => post(model, model.includes('embed') ? { input: 'x' } : { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    const outcomes: { ok: boolean; what: string }[] = [];
    for (const model of ['hearth/tiny-embed-cls', 'hearth/tiny-llama-q4', 'hearth/stories260k-q4', 'hearth/tiny-llama-q4f16', 'hearth/stories260k']) {
      const pending = send(other, [ask(model)]);
      await other.waitForTimeout(Math.round(Math.random() * 400));
      await cdp.send('Storage.clearDataForOrigin', { origin: baseUrl, storageTypes: 'cache_storage,indexeddb' });
      const [during] = await pending;
      const [next] = await send(other, [ask(model)]);
      outcomes.push({ ok: (during.status === 200 || (during.status === 503 && /stor/i.test(during.text))) && during.ms < 60_000, what: `${model} cleared mid-load: ${during.hang ? 'hang' : during.status} in ${Math.round(during.ms)} ms ${during.text.slice(0, 100)}` });
      outcomes.push({ ok: next.status === 200 && next.ms < 30_000, what: `${model} next: ${next.status} in ${Math.round(next.ms)} ms` });
    }
    record('storage cleared mid-load (5 models, random points)', outcomes);

    await host.page.evaluate(() => {
      const hearth = window.hearth!;
      const base = hearth.registry.find('hearth/tiny-embed')!;
      hearth.registry.register({ ...base, id: 'soak/unsized-embed', aliases: [], builtIn: false,
        files: base.files.map((f) => ({ role: f.role, url: `${f.url}?v=soak-unsized` })) });
      const llm = hearth.registry.find('hearth/stories260k')!;
      hearth.registry.register({ ...llm, id: 'soak/hostile-template', aliases: [], builtIn: false,
        files: llm.files.map((f) => (f.role === 'tokenizer_config' ? { role: f.role, url: 'soak/hostile/tokenizer_config.json' } : f)) });
    });
    const usage = await host.page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: baseUrl, quotaSize: usage + 50_000 });
    const [full] = await send(other, [ask('soak/unsized-embed')]);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: baseUrl });
    const [room] = await send(other, [ask('soak/unsized-embed')]);
    const quota = record('quota exhausted (507 with bytes), then room again', [
      { ok: full.status === 507 && !judge({ ...full, status: 400 }) && /needs \d+ bytes/.test(full.text), what: `full: ${full.status} ${full.text.slice(0, 120)}` },
      { ok: room.status === 200, what: `room: ${room.status}` },
    ]);

    // A crafted tokenizer_config.json in storage for a user's model (no catalog sha256 to refuse it).
    const config = await host.page.evaluate(async () => (await fetch('models/hearth-stories260k/tokenizer_config.json')).json() as Promise<Record<string, unknown>>);
    await seedStoredFile(host.page, 'soak/hostile/tokenizer_config.json', JSON.stringify({ ...config,
      chat_template: "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(99999) %}{% for j in range(99999) %}{% set ns.s = ns.s ~ 'x' %}{% endfor %}{% endfor %}" }));
    const answers = await send(other, [ask('soak/hostile-template'), ask('soak/hostile-template'), ask('hearth/stories260k')]);
    const template = record('hostile chat template (400 in seconds), then a plain request', [
      { ok: answers[0].status === 400 || answers[0].status === 503, what: `first: ${answers[0].status} ${answers[0].text.slice(0, 120)}` },
      { ok: answers[1].status === 400 && /template_limit_exceeded/.test(answers[1].text) && answers[1].ms < 6000, what: `again: ${answers[1].status} in ${Math.round(answers[1].ms)} ms ${answers[1].text.slice(0, 120)}` },
      { ok: answers[2].status === 200, what: `plain: ${answers[2].status}` },
    ]);
    expect([...outcomes.filter((o) => !o.ok), ...quota, ...template].map((f) => f.what)).toEqual([]);
  }, 600_000);

  it.skipIf(!FULL)('engine workers crashing or hanging mid-stream: the stream ends (crash < 1 s, hang at its deadline), the next request answers 200', async () => {
    const outcomes: { ok: boolean; what: string }[] = [];
    const plain = { name: 'after the fault', path: '/inference/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }) };
    for (const [fault, rounds] of [['crash', 5], ['hang', 2]] as const) {
      for (let i = 0; i < rounds; i++) {
        const { outcome } = await streamThenFault(other, fault, { ms: 60_000, maxTokens: 240 });
        const code = fault === 'crash' ? 'engine_restarted' : 'deadline_exceeded';
        const limit = fault === 'crash' ? 1000 : 16_000;
        outcomes.push({ ok: outcome.error?.code === code && outcome.endedAfterMs < limit, what: `${fault} #${i}: ${outcome.error?.code ?? (outcome.done ? 'finished' : 'no error')} after ${outcome.endedAfterMs} ms` });
        if (fault === 'hang') await other.waitForTimeout(2500); // the grace period: the worker is restarted
        const [next] = await send(other, [plain]);
        outcomes.push({ ok: next.status === 200, what: `${fault} #${i}: next request ${next.status} ${next.text.slice(0, 120)}` });
      }
    }
    const failed = record('engine worker crash (5) and hang (2) mid-stream, then a request', outcomes);
    expect(failed.map((f) => f.what)).toEqual([]);
  }, 600_000);

  it('the host closes mid-stream: the other tab\'s stream errors within a second, then it serves', async () => {
    await other.evaluate(async () => {
      const res = await fetch('/inference/v1/_hearth/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ run_id: 'soak-orphan', count: 100000, interval_ms: 50 }) });
      const reader = res.body!.getReader();
      await reader.read();
      (window as unknown as { ended: Promise<number> }).ended = (async () => {
        try { for (;;) if ((await reader.read()).done) return -1; } catch { return Date.now(); }
      })();
    });
    const closedAt = Date.now();
    await host.page.close();
    const endedAt = await other.evaluate(() => Promise.race([(window as unknown as { ended: Promise<number> }).ended, new Promise<number>((r) => setTimeout(() => r(0), 5000))]));
    await other.waitForFunction(() => window.hearth!.host!.isHost(), undefined, { timeout: 15_000 });
    const [next] = await send(other, [{ name: 'next', path: '/inference/v1/embeddings', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hearth/tiny-embed', input: 'new host' }) }]);
    const failed = record('host tab closed mid-stream', [
      { ok: endedAt > 0 && endedAt - closedAt < 1000, what: endedAt > 0 ? `stream errored after ${endedAt - closedAt} ms` : 'stream still open after 5 s' },
      { ok: next.status === 200, what: `next request: ${next.status}` },
    ]);
    expect(failed.map((f) => f.what)).toEqual([]);
  }, 120_000);
});
