// Remote backends in the browser, against a real `hearth serve` started here (the `hearth` bin, as a child process):
// the shared API cases pass on the browser host (local-first with that server as remote: answered locally) and on
// a page forced to `devices=none` (answered through the server); chat streams through it as it is generated;
// aborting a stream in the page cancels the server's engine job; a wrong key comes back as the server's 401; and
// when the server is killed mid-stream the page's stream errors within a second.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/server/serve';
import { API_CASES, expectAnswer, caseInit } from '../api-cases';
import { launch, openHost, pageFetch, type HostPage } from './browser';

const baseUrl = inject('baseUrl');
let browser: Browser;
let child: ChildProcess;
let remoteURL: string;

/** Starts `node bin/hearth.mjs serve` on a free port (building its bundle first if needed) and waits for its URL. */
function startChild(args: string[]): Promise<{ process: ChildProcess; baseURL: string }> {
  const proc = spawn(process.execPath, ['bin/hearth.mjs', 'serve', '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Hearth serving (\S+)/.exec(out);
      if (m) resolve({ process: proc, baseURL: m[1] });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    proc.once('exit', (code) => reject(new Error(`hearth serve exited (${code}): ${out}`)));
  });
}

beforeAll(async () => {
  browser = await launch();
  const started = await startChild(['--cors', baseUrl]);
  child = started.process;
  remoteURL = started.baseURL;
}, 180_000);
afterAll(async () => {
  child?.kill('SIGKILL');
  await browser?.close();
});

const cancelledOnServer = async () => {
  const m = (await (await fetch(`${remoteURL}/models/hearth%2Ftiny-llama`)).json()) as { stats?: { cancelled: number } };
  return m.stats?.cancelled ?? 0;
};

async function runCase(host: HostPage, c: (typeof API_CASES)[number]) {
  const init = caseInit(c);
  return pageFetch(host.page, `/inference/v1${c.path}`, { method: init.method, headers: init.headers, rawBody: init.body });
}

// The browser host answers the cases locally although a local-first remote is configured (it can serve them); the
// image case is left to tests/browser/images.test.ts, which runs that path on this host already (30 s on wasm here).
describe('the shared API cases on the browser host, local-first: answered locally', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, `devices=wasm&remote=${encodeURIComponent(`srv=${remoteURL}`)}`); });
  afterAll(async () => { await host?.context.close(); });
  for (const c of API_CASES.filter((c) => !c.path.startsWith('/image_generation'))) {
    it(c.name, async () => {
      const answer = await runCase(host, c);
      expectAnswer(c, answer);
      // (A model it does not have would go to the remote: that is local-first too.)
      if (c.status === 200) expect(answer.headers['x-hearth-backend'] ?? '').not.toMatch(/^remote\//);
    });
  }
});

// The same local-first remote, on a page forced to `devices=none`: everything goes through the remote.
describe('a page whose only backend is a hearth serve remote', () => {
  let host: HostPage;
  beforeAll(async () => { host = await openHost(browser, baseUrl, `devices=none&remote=${encodeURIComponent(`srv=${remoteURL}`)}`); });
  afterAll(async () => { await host?.context.close(); });

  for (const c of API_CASES) {
    it(`${c.name} (through the remote)`, async () => {
      const answer = await runCase(host, c);
      expectAnswer(c, answer);
      if (c.status === 200 && c.path !== '/models') expect(answer.headers['x-hearth-backend']).toBe('remote/srv');
    });
  }

  it('GET /models says where each model runs', async () => {
    const { body } = await pageFetch(host.page, '/inference/v1/models');
    const tiny = (body as { data: { id: string; runs_on: string[] }[] }).data.find((m) => m.id === 'hearth/tiny-llama');
    expect(tiny?.runs_on).toEqual(['local', 'remote/srv']);
  });

  it('chat streams through the remote as it is generated', async () => {
    const arrivals = await host.page.evaluate(async () => {
      const res = await fetch('/inference/v1/chat/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 40, stream: true, seed: 2 }),
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const seen: { at: number; text: string }[] = [];
      const t0 = performance.now();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen.push({ at: performance.now() - t0, text: value });
      }
      return { backend: res.headers.get('x-hearth-backend'), seen };
    });
    expect(arrivals.backend).toBe('remote/srv');
    expect(arrivals.seen.length).toBeGreaterThan(2);
    expect(arrivals.seen.map((s) => s.text).join('')).toMatch(/data: \[DONE\]\n\n$/);
  });

  it('aborting the stream in the page cancels the job on the server', async () => {
    const before = await cancelledOnServer();
    await host.page.evaluate(async () => {
      const abort = new AbortController();
      const res = await fetch('/inference/v1/chat/completions', {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
        body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'A long story' }], max_tokens: 2000, stream: true }),
      });
      await res.body!.getReader().read();
      abort.abort();
    });
    await expect.poll(cancelledOnServer, { timeout: 10_000 }).toBe(before + 1);
  });
});

describe('keys', () => {
  let keyed: RunningServer;
  beforeAll(async () => { keyed = await startServer({ port: 0, modelDir: 'public', apiKey: 'right', cors: [baseUrl], models: ['hearth/tiny-embed'] }); });
  afterAll(async () => { await keyed?.close(); });

  it("a wrong key is the remote's 401, naming the backend", async () => {
    const host = await openHost(browser, baseUrl, 'devices=none');
    try {
      await host.page.evaluate((url) => window.hearth!.remotes.set({ name: 'keyed', baseURL: url, apiKey: 'wrong', policy: 'remote' }), keyed.baseURL);
      const wrong = await pageFetch(host.page, '/inference/v1/embeddings', { body: { model: 'hearth/tiny-embed', input: 'x' } });
      expect(wrong.status).toBe(401);
      expect(wrong.headers['x-hearth-backend']).toBe('remote/keyed');
      expect((wrong.body as { error: { code: string } }).error.code).toBe('invalid_api_key');
      await host.page.evaluate((url) => window.hearth!.remotes.set({ name: 'keyed', baseURL: url, apiKey: 'right', policy: 'remote' }), keyed.baseURL);
      const right = await pageFetch(host.page, '/inference/v1/embeddings', { body: { model: 'hearth/tiny-embed', input: 'x' } });
      expect(right.status).toBe(200);
      // The key is nowhere in what the page shows of its remotes.
      const shown = await host.page.evaluate(() => JSON.stringify(window.hearth!.remotes.summaries()));
      expect(shown).not.toContain('right');
    } finally {
      await host.context.close();
    }
  });
});

describe('the remotes in the model manager', () => {
  let keyed: RunningServer;
  beforeAll(async () => { keyed = await startServer({ port: 0, modelDir: 'public', apiKey: 'right', cors: [baseUrl], models: ['hearth/tiny-embed'] }); });
  afterAll(async () => { await keyed?.close(); });

  it('adds a remote with a key that is kept for the visit only, unless "remember" is ticked', async () => {
    const host = await openHost(browser, baseUrl, 'devices=none#models');
    try {
      const add = async (remember: boolean) => {
        const form = host.page.locator('hearth-remotes form');
        await form.locator('input[name=name]').fill('keyed');
        await form.locator('input[name=baseURL]').fill(keyed.baseURL);
        await form.locator('select[name=policy]').selectOption('remote');
        await form.locator('input[name=apiKey]').fill('right');
        if (remember) await form.locator('input[name=remember]').check();
        await form.locator('button[type=submit]').click();
        await host.page.locator('hearth-remotes tr[data-remote=keyed]').waitFor();
      };
      const reload = async () => {
        await host.page.reload();
        await host.page.waitForFunction(() => window.hearth?.remotes.get('keyed') !== undefined);
        await host.page.evaluate(() => window.hearth!.host?.elected);
        await host.page.waitForFunction(() => Boolean(navigator.serviceWorker.controller));
      };
      const embed = () => pageFetch(host.page, '/inference/v1/embeddings', { body: { model: 'hearth/tiny-embed', input: 'x' } });
      await add(false);
      expect((await embed()).headers['x-hearth-backend']).toBe('remote/keyed');
      expect((await embed()).status).toBe(200);
      const stored = () => host.page.evaluate(() => localStorage.getItem('hearth:remotes') ?? '');
      expect(await stored()).toContain(keyed.baseURL);
      expect(await stored()).not.toContain('right');
      expect(await host.page.locator('hearth-remotes').textContent()).not.toContain('right');

      // After a reload the remote is back, without its key: the remote refuses.
      await reload();
      expect((await embed()).status).toBe(401);

      await add(true);
      expect(await stored()).toContain('right');
      await reload();
      expect((await embed()).status).toBe(200);
      await host.page.locator('hearth-remotes tr[data-remote=keyed] button.remove').click();
      expect(await stored()).not.toContain('keyed');
    } finally {
      await host.context.close();
    }
  });
});

describe('the remote dies', () => {
  it("killed mid-stream, the page's stream errors within a second", async () => {
    const host = await openHost(browser, baseUrl, `devices=none&remote=${encodeURIComponent(`srv=${remoteURL}`)}`);
    try {
      const started = host.page.evaluate(async () => {
        // Image progress events (Hearth's SSE extension): a job long enough to be cut midway.
        const res = await fetch('/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0', {
          method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a long fire' }], steps: 50, samples: 4 }),
        });
        const reader = res.body!.getReader();
        await reader.read();
        (window as unknown as { streaming: boolean }).streaming = true;
        try {
          for (;;) if ((await reader.read()).done) return { error: null, at: Date.now() };
        } catch (e) {
          return { error: String(e), at: Date.now() };
        }
      });
      await host.page.waitForFunction(() => (window as unknown as { streaming?: boolean }).streaming === true, undefined, { timeout: 30_000 });
      const killedAt = Date.now();
      child.kill('SIGKILL');
      const outcome = await started;
      expect(outcome.error).not.toBeNull();
      expect(outcome.at - killedAt).toBeLessThan(1000);
    } finally {
      await host.context.close();
    }
  });
});
