/**
 * Global setup for browser tests: builds the app once (unless HEARTH_SKIP_BUILD=1 and dist/ exists), bundles the
 * clients for in-page use (dist/test-sdk/openai.js, dist/test-sdk/clients.js), builds the library into dist-lib/ for the consumer app of
 * library.test.ts (unless HEARTH_SKIP_BUILD=1 and dist-lib/ exists; the consumer itself is static), and serves
 * dist/ with `vite preview` (COOP/COEP headers included) on a free port; tests read the URL with inject('baseUrl').
 */
import { existsSync } from 'node:fs';
import { build, preview } from 'vite';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext { baseUrl: string }
}

export default async function setup(project: TestProject) {
  if (!(process.env.HEARTH_SKIP_BUILD === '1' && existsSync('dist/index.html'))) {
    // Under vitest NODE_ENV is 'test', which would make Vite build a development bundle.
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({ logLevel: 'warn', mode: 'production' });
      // The clients as ES modules the page can import, used unchanged against /inference/v1: the OpenAI SDK
      // (openai.js) and the client conformance cases with the AI SDK and LangChain (clients.js).
      await build({
        configFile: false, logLevel: 'warn', mode: 'production', publicDir: false,
        build: {
          outDir: 'dist/test-sdk', emptyOutDir: true, minify: false,
          lib: {
            entry: { openai: 'tests/browser/sdk-entry.ts', clients: 'tests/browser/clients-entry.ts' },
            formats: ['es'], fileName: (_format, name) => `${name}.js`,
          },
        },
      });
    } finally {
      process.env.NODE_ENV = nodeEnv;
    }
  }
  if (!(process.env.HEARTH_SKIP_BUILD === '1' && existsSync('dist-lib/index.js'))) {
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({ configFile: 'vite.lib.config.ts', logLevel: 'warn', mode: 'production' });
    } finally {
      process.env.NODE_ENV = nodeEnv;
    }
  }
  const server = await preview({ preview: { port: 0, strictPort: false, host: '127.0.0.1' }, logLevel: 'warn' });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('preview server has no port');
  project.provide('baseUrl', `http://127.0.0.1:${address.port}`);
  return async () => {
    await server.close();
  };
}
