/**
 * Build and serve config. The demo page, the engine workers and the service worker are built as their own entry
 * points (the service worker at /hearth-sw.js so its scope is the whole site); onnxruntime-web's wasm is emitted
 * by Vite from ORT's own `new URL(…, import.meta.url)`; dev and preview send COOP/COEP so ORT can use wasm threads
 * while cross-origin model downloads still work (credentialless).
 */
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const root = import.meta.dirname;

const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'credentialless',
};

/** In dev the service worker is served from /workers/sw.ts but controls the whole site. */
function devServiceWorkerScope(): Plugin {
  return {
    name: 'hearth-dev-sw-scope',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (req.url?.startsWith('/workers/sw.ts')) res.setHeader('Service-Worker-Allowed', '/');
        next();
      });
    },
  };
}

export default defineConfig({
  plugins: [devServiceWorkerScope()],
  // Unknown paths are 404s (no SPA fallback): a missing model file must not come back as index.html.
  appType: 'mpa',
  server: { headers: isolationHeaders, port: 5173 },
  preview: { headers: isolationHeaders, port: 4173 },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      input: {
        main: resolve(root, 'index.html'),
        'hearth-sw': resolve(root, 'workers/sw.ts'),
      },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'hearth-sw' ? 'hearth-sw.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
});
