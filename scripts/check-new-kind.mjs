#!/usr/bin/env node
/**
 * `npm run check:new-kind`: proves README's "Adding an engine kind" on a copy of this checkout. It adds a trial kind
 * `echo` (reverses text) exactly as the README says — its folder src/engines/echo/, its worker entry
 * workers/echo.worker.ts, its handler file src/api/handlers/echo.ts and its row in ENGINE_KINDS — and edits nothing
 * else. Then it checks that the copy type-checks (src, workers and the trial's own tests), keeps its layering
 * (dependency-cruiser), serves POST /inference/v1/_hearth/echo in Node (`createNodeEngines`, as `hearth serve` does)
 * and in Chromium (service worker → API worker → the kind's own worker, started by the host's pool), and merges its
 * loaded models with the other kinds' (what GET /models reads). Opt-in (about 2 minutes), not part of `npm test`. Exits non-zero on any failure.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const copy = mkdtempSync(join(tmpdir(), 'hearth-new-kind-'));
const run = (cmd, args) => execFileSync(cmd, args, { cwd: copy, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0' } });

/** The files the README says a new kind adds, and the one row it edits. */
const ADDED = {
  'src/engines/echo/types.ts': `/** The trial kind's boundary: a job is a text, its answer the text reversed. */
import type { ModelEngine } from '../contract';

export interface EchoJob { text: string }
export type EchoEngine = ModelEngine<EchoJob, { text: string }>;
`,
  'src/engines/echo/service.ts': `/** The trial kind's engine. */
import type { EngineEnvironment } from '../environment';
import type { EchoEngine } from './types';

export function createEchoService(environment: Pick<EngineEnvironment, 'files'>): EchoEngine {
  void environment;
  const loaded = new Set<string>();
  return {
    load: async (entry) => { loaded.add(entry.id); return { id: entry.id, device: 'cpu', backend: 'echo', skipped: [] }; },
    loaded: async () => [...loaded].map((id) => ({ id, device: 'cpu', backend: 'echo', skipped: [] })),
    unload: async (id) => { loaded.delete(id); },
    run: async (job) => { loaded.add('trial/echo'); return { text: [...job.text].reverse().join('') }; },
  };
}
`,
  'workers/echo.worker.ts': `/** Entry point of the trial kind's worker. */
import * as ort from 'onnxruntime-web/webgpu';
import { createEchoService } from '../src/engines/echo/service';
import { startEngineWorker } from '../src/runtime/engine-worker';

startEngineWorker(ort, ({ files }) => createEchoService({ files }));
`,
  'src/api/handlers/echo.ts': `/** POST /_hearth/echo: the trial kind's route. */
import { kindRoutes } from '../kind-routes';
import { jsonResponse } from '../http';
import type { Handler } from '../types';

const echo: Handler = async (ctx) => {
  const { input } = await ctx.json() as { input: string };
  return jsonResponse(await (await ctx.deps.engines.echo()).run({ text: input }));
};

export const routes = kindRoutes('echo', [{ path: '/_hearth/echo', method: 'POST', handler: echo }]);
`,
  'tests/unit/new-kind-trial.test.ts': `import { expect, it } from 'vitest';
import { get, nodeApi, post } from './node-api';

it('the trial kind is served in Node, and its loaded model is merged with the other kinds for GET /models', async () => {
  const { handle, engines } = nodeApi();
  const res = await handle(post('/_hearth/echo', { input: 'hello' }));
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ text: 'olleh' });
  expect([...(await engines.deps.engines.loaded()).keys()]).toContain('trial/echo');
  expect((await handle(get('/models'))).status).toBe(200);
});
`,
  'tests/browser/new-kind-trial.test.ts': `import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launch, openHost, pageFetch } from './browser';

const baseUrl = inject('baseUrl');
let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

it('the trial kind is served in Chromium: service worker, API worker, its own worker', async () => {
  const host = await openHost(browser, baseUrl, '');
  const res = await pageFetch(host.page, '/inference/v1/_hearth/echo', { body: { input: 'hello' } });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ text: 'olleh' });
  await host.context.close();
}, 120_000);
`,
};

const ROW = `  echo: models<EchoEngine>({
    answer: 'whole',
    deadlineMs: 60_000,
    worker: (name) => new Worker(new URL('../../workers/echo.worker.ts', import.meta.url), { type: 'module', name }),
    inProcess: import.meta.env.SSR ? () => import('./echo/service').then((m) => m.createEchoService) : undefined,
  }),
`;

try {
  // The checkout's tracked and untracked (not ignored) files, as they are now; node_modules by link.
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root })
    .toString().split('\0').filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    try { cpSync(join(root, file), join(copy, file)); } catch { /* deleted in the working tree */ }
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');

  for (const [file, text] of Object.entries(ADDED)) {
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    writeFileSync(join(copy, file), text);
  }
  const kindsFile = join(copy, 'src/engines/kinds.ts');
  let kinds = readFileSync(kindsFile, 'utf8');
  const anchor = 'export const ENGINE_KINDS = Object.freeze({\n';
  if (!kinds.includes(anchor)) throw new Error('ENGINE_KINDS not found in src/engines/kinds.ts');
  kinds = kinds.replace(anchor, anchor + ROW).replace(/^import type \{ ModelKind \}/m, "import type { EchoEngine } from './echo/types';\nimport type { ModelKind }");
  writeFileSync(kindsFile, kinds);

  writeFileSync(join(copy, 'tsconfig.trial.json'), JSON.stringify({
    extends: './tsconfig.json', include: ['src', 'workers', 'tests/unit/node-api.ts', 'tests/browser/setup.ts', 'tests/unit/new-kind-trial.test.ts', 'tests/browser/new-kind-trial.test.ts'],
  }));
  console.log(`check:new-kind: the trial kind added in ${copy}; type-checking, layering, Node, Chromium`);
  run('npx', ['tsc', '--noEmit', '-p', 'tsconfig.trial.json']);
  run('npx', ['depcruise', 'src', 'workers', '--config', '.dependency-cruiser.cjs']);
  run('npx', ['vitest', 'run', '--config', 'vitest.config.ts', 'tests/unit/new-kind-trial.test.ts']);
  run('npx', ['vitest', 'run', '--config', 'vitest.browser.config.ts', 'tests/browser/new-kind-trial.test.ts']);
  console.log('check:new-kind: passed — a kind added by its folder, worker entry, handler file and table row is served.');
} finally {
  rmSync(copy, { recursive: true, force: true });
}
