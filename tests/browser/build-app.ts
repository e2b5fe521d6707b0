/**
 * The builds the browser tests run against, shared by their global setup (tests/browser/setup.ts) and `npm test`
 * (scripts/test.mjs builds them while the unit tests run, then starts the browser tests with HEARTH_SKIP_BUILD=1):
 * the app into dist/ (production mode), the clients bundled for in-page use into dist/test-sdk/ (openai.js,
 * clients.js), and the library into dist-lib/ for the consumer app of library.test.ts.
 */
import { build } from 'vite';

/** Runs `work` with NODE_ENV=production: under vitest it is 'test', which would make Vite build a development bundle. */
async function inProduction(work: () => Promise<unknown>): Promise<void> {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await work();
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}

/** The app (dist/) and, beside it, the clients as ES modules the page can import (dist/test-sdk/). */
export async function buildApp(): Promise<void> {
  await inProduction(async () => {
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
  });
}

/** The library (dist-lib/), as `npm run build:lib`'s Vite step builds it. */
export async function buildLibrary(): Promise<void> {
  await inProduction(() => build({ configFile: 'vite.lib.config.ts', logLevel: 'warn', mode: 'production' }));
}
