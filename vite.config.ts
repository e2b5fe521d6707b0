/**
 * Build and serve config. The demo page, the engine workers and the service worker are built as their own entry
 * points (the service worker at /hearth-sw.js so its scope is the whole site); onnxruntime-web's wasm files are
 * served from /ort/; dev and preview send COOP/COEP so ORT can use wasm threads while cross-origin model downloads
 * still work (credentialless).
 */
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const ORT_DIST = resolve(__dirname, 'node_modules/onnxruntime-web/dist');
const ORT_FILES = readdirSync(ORT_DIST).filter((f) => /^ort-wasm-simd-threaded\.asyncify\.(wasm|mjs)$/.test(f));

const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'credentialless',
};

/** Serves onnxruntime-web's runtime files at /ort/ in dev and copies them into the build. */
function ortRuntimeFiles(): Plugin {
  return {
    name: 'hearth-ort-runtime',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const name = req.url?.match(/^\/ort\/([^?]+)/)?.[1];
        if (name && ORT_FILES.includes(name)) {
          res.setHeader('content-type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
          createReadStream(resolve(ORT_DIST, name)).pipe(res);
          return;
        }
        // The dev service worker lives under /workers/ but controls the whole site.
        if (req.url?.startsWith('/workers/sw.ts')) res.setHeader('Service-Worker-Allowed', '/');
        next();
      });
    },
    generateBundle() {
      for (const name of ORT_FILES) {
        this.emitFile({ type: 'asset', fileName: `ort/${name}`, source: readFileSync(resolve(ORT_DIST, name)) });
      }
    },
  };
}

export default defineConfig({
  plugins: [ortRuntimeFiles()],
  server: { headers: isolationHeaders, port: 5173 },
  preview: { headers: isolationHeaders, port: 4173 },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      input: {
        main: resolve(__dirname, 'index.html'),
        'hearth-sw': resolve(__dirname, 'workers/sw.ts'),
      },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'hearth-sw' ? 'hearth-sw.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
});
