// The built-in models' sizes and checksums in src/models/builtin-manifest.json match the files in public/models,
// and every built-in catalog file is covered (so the store verifies built-in downloads like any other).
import { describe, expect, it } from 'vitest';
import { buildManifest } from '../../scripts/builtin-manifest.mjs';
import manifest from '../../src/models/builtin-manifest.json';
import { CATALOG } from '../../src/models/catalog';

describe('built-in manifest', () => {
  it('is up to date (regenerate with `node scripts/builtin-manifest.mjs`)', () => {
    expect(buildManifest()).toEqual(manifest);
  });

  it('gives every built-in catalog file a size and sha256', () => {
    for (const e of CATALOG.filter((x) => x.builtIn)) {
      for (const f of e.files) {
        expect(f.size, `${e.id} ${f.url}`).toBeGreaterThan(0);
        expect(f.sha256, `${e.id} ${f.url}`).toMatch(/^[0-9a-f]{64}$/);
      }
    }
  });
});
