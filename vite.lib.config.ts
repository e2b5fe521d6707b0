/**
 * Library build (`npm run build:lib`, part of `npm run build`): ES modules in dist-lib/ for apps that embed Hearth.
 *
 *   dist-lib/index.js       the public API (src/index.ts): startHearth, createHearth, installServiceWorker, createApi,
 *                           the registry, and every web component (importing it registers the custom elements)
 *   dist-lib/components.js  the web components alone (src/components/index.ts)
 *   dist-lib/hearth-sw.js   the service worker, one self-contained file (no imports): the app serves it at its root
 *   dist-lib/assets/        engine workers, onnxruntime-web's wasm and lazily loaded chunks, found at run time
 *                           through `new URL(…, import.meta.url)`, so dist-lib/ can be served from any folder
 *
 * Everything is bundled (lit, comlink, onnxruntime-web…): the files work as they are, with no bundler on the app's
 * side. Three things differ from Vite's library defaults, each needed for that:
 * - Built URLs (workers, wasm) are relative to the chunk that names them (`renderBuiltUrl` → relative) instead of
 *   `/assets/…`, which would only work with dist-lib/ at the site root. `base` stays '/', so the code's
 *   `import.meta.env.BASE_URL` ('/': the API at /inference/v1, models at /models/, the service worker's scope) is
 *   what the demo build has.
 * - Library mode inlines every asset as a data: URL; onnxruntime-web's 27 MB wasm would be base64'd into each engine
 *   worker (72 MB each). A transform marks ORT's `new URL('ort-wasm-….wasm', import.meta.url)` with `?no-inline`
 *   so it is emitted once as a file beside the workers. Engine workers themselves are emitted as files by Vite's
 *   worker plugin (`new Worker(new URL(…, import.meta.url), { type: 'module' })`), with `worker.format: 'es'`.
 * - Rollup shares modules between entries as chunks, so the service worker (which shares the API's error helpers
 *   with the client) is built by a second, single-entry build after the main one, into the same folder.
 */
import { resolve } from 'node:path';
import { build, defineConfig, type Plugin } from 'vite';

const root = import.meta.dirname;
const outDir = resolve(root, 'dist-lib');

/** Library mode would inline onnxruntime-web's wasm as base64; `?no-inline` makes Vite emit it as a file. */
function ortWasmAsFile(): Plugin {
  return {
    name: 'hearth-ort-wasm-as-file',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]onnxruntime-web[\\/]dist[\\/].*\.mjs$/.test(id)) return null;
      const out = code.replace(/new URL\((["'`])(ort-wasm[\w.-]*\.wasm)\1,\s*import\.meta\.url\)/g,
        (_m, q: string, file: string) => `new URL(${q}${file}?no-inline${q},import.meta.url)`);
      return out === code ? null : { code: out, map: null };
    },
  };
}

/** Builds workers/sw.ts on its own into dist-lib/hearth-sw.js, so it imports nothing. */
function serviceWorkerAlone(): Plugin {
  return {
    name: 'hearth-sw-alone',
    apply: 'build',
    async closeBundle() {
      await build({
        configFile: false,
        root,
        publicDir: false,
        logLevel: 'warn',
        mode: 'production',
        build: {
          outDir,
          emptyOutDir: false,
          target: 'es2022',
          minify: false,
          lib: { entry: resolve(root, 'workers/sw.ts'), formats: ['es'], fileName: () => 'hearth-sw.js' },
        },
      });
    },
  };
}

export default defineConfig({
  root,
  // The built-in models (public/models) are not part of the library: an app serves them itself (see README).
  publicDir: false,
  plugins: [ortWasmAsFile(), serviceWorkerAlone()],
  worker: { format: 'es', plugins: () => [ortWasmAsFile()] },
  // Library mode leaves process.env alone; some dependencies test process.env.NODE_ENV.
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  experimental: { renderBuiltUrl: () => ({ relative: true }) },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 8192,
    lib: {
      entry: { index: resolve(root, 'src/index.ts'), components: resolve(root, 'src/components/index.ts') },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rollupOptions: {
      output: { chunkFileNames: 'assets/[name]-[hash].js' },
    },
  },
});
