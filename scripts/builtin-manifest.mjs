// Writes src/models/builtin-manifest.json: size and sha256 of every file under public/models/, so the catalog's
// built-in entries carry exact sizes (shown before download) and checksums (verified by the store like any model).
// Run after scripts/make_fixtures.py: `node scripts/builtin-manifest.mjs` (tests/unit/builtin-manifest.test.ts checks it).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const modelsDir = join(root, 'public/models');

function walk(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

export function buildManifest() {
  const files = {};
  for (const path of walk(modelsDir)) {
    const bytes = readFileSync(path);
    files[relative(join(root, 'public'), path)] = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  return files;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = join(root, 'src/models/builtin-manifest.json');
  writeFileSync(out, `${JSON.stringify(buildManifest(), null, 1)}\n`);
  console.log(`wrote ${relative(root, out)}`);
}
