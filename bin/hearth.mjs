#!/usr/bin/env node
// The `hearth` command (`npx hearth serve --port 8080`). It runs src/server/cli.ts, bundled for Node by Vite into
// dist-server/hearth.mjs; the bundle is rebuilt first when it is missing or older than any file under src/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist-server', 'hearth.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const sources = ['src', 'shaders'].map((d) => join(root, d)).filter(existsSync);
if (!existsSync(bundle) || sources.some((d) => newestSource(d) > statSync(bundle).mtimeMs)) {
  let vite;
  try {
    vite = await import('vite');
  } catch {
    console.error('hearth: dist-server/hearth.mjs is missing and Vite is not installed to build it (run `npm install` in the repo).');
    process.exit(1);
  }
  await vite.build({
    root, configFile: false, logLevel: 'warn', mode: 'production', publicDir: false,
    build: {
      ssr: join(root, 'src/server/cli.ts'), outDir: join(root, 'dist-server'), emptyOutDir: true, target: 'node20',
      minify: false, rollupOptions: { output: { entryFileNames: 'hearth.mjs', format: 'es' } },
    },
  });
}

const { main } = await import(pathToFileURL(bundle).href);
await main(process.argv.slice(2), { modelDir: join(root, 'public') });
