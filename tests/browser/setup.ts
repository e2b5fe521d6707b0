/**
 * Global setup for browser tests: builds the app once (unless HEARTH_SKIP_BUILD=1 and dist/ exists), bundles the
 * clients for in-page use (dist/test-sdk/openai.js, dist/test-sdk/clients.js), builds the library into dist-lib/ for the consumer app of
 * library.test.ts (unless HEARTH_SKIP_BUILD=1 and dist-lib/ exists; the consumer itself is static), and serves
 * dist/ with `vite preview` (COOP/COEP headers included) on a free port; tests read the URL with inject('baseUrl').
 * The builds are tests/browser/build-app.ts's; `npm test` runs them beside the unit tests and sets HEARTH_SKIP_BUILD=1.
 */
import { existsSync } from 'node:fs';
import { preview } from 'vite';
import type { TestProject } from 'vitest/node';
import { buildApp, buildLibrary } from './build-app';

declare module 'vitest' {
  export interface ProvidedContext { baseUrl: string }
}

export default async function setup(project: TestProject) {
  const skipBuild = process.env.HEARTH_SKIP_BUILD === '1';
  if (!(skipBuild && existsSync('dist/index.html'))) await buildApp();
  if (!(skipBuild && existsSync('dist-lib/index.js'))) await buildLibrary();
  const server = await preview({ preview: { port: 0, strictPort: false, host: '127.0.0.1' }, logLevel: 'warn' });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('preview server has no port');
  project.provide('baseUrl', `http://127.0.0.1:${address.port}`);
  return async () => {
    await server.close();
  };
}
