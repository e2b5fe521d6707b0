import { resolve } from 'node:path';
import { defineConfig } from 'vite';
const root = import.meta.dirname;
export default defineConfig({
  root,
  publicDir: false,
  worker: { format: 'es' },
  define: { 'process.env.NODE_ENV': '"production"' },
  build: {
    outDir: '/tmp/h/out1', emptyOutDir: true, target: 'es2022', minify: true,
    lib: { entry: { index: resolve(root, 'src/index.ts'), components: resolve(root, 'src/components/index.ts') }, formats: ['es'] },
  },
});
