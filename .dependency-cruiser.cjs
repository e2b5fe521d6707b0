/**
 * Hearth's layering, checked by dependency-cruiser in `npm run typecheck` (so in `npm test`):
 *
 *   components → runtime → api → engines → core        models → core        util: leaf helpers
 *
 * A layer may import the layers to its right, never those to its left. `src/server` (hearth serve) and `src/demo`
 * are entry points like `workers/`: they wire layers together. Nothing in `src/` or `workers/` imports `tests/`,
 * and there are no import cycles. Run it alone with `npm run lint:deps`.
 */
const layer = (name) => `^src/${name}/`;

/** Layers each layer must not import (everything to its left, and the entry points). */
const forbid = (from, targets, comment) => ({
  name: `${from}-not-to-${targets.join('-')}`,
  comment,
  severity: 'error',
  from: { path: layer(from) },
  to: { path: `^src/(${targets.join('|')})/` },
});

module.exports = {
  forbidden: [
    forbid('core', ['util', 'models', 'engines', 'api', 'runtime', 'components', 'server', 'demo'],
      'src/core is what every layer shares: it imports nothing else in src.'),
    forbid('util', ['core', 'models', 'engines', 'api', 'runtime', 'components', 'server', 'demo'],
      'src/util holds leaf helpers (bytes, rng, float16): it imports nothing else in src.'),
    forbid('models', ['engines', 'api', 'runtime', 'components', 'server', 'demo'],
      'src/models (catalog, store) depends on src/core only.'),
    forbid('engines', ['api', 'runtime', 'components', 'server', 'demo'],
      'Engines throw coded errors from src/core; only src/api knows HTTP.'),
    forbid('api', ['runtime', 'components', 'server', 'demo'],
      'src/api runs in Node and in workers: it knows nothing of hosts, pages or components.'),
    forbid('runtime', ['components', 'server', 'demo'],
      'src/runtime (relay, host, client) does not depend on the UI.'),
    forbid('components', ['engines', 'models', 'server', 'demo'],
      'Components talk to the API through the one client in src/components/api.ts, never to engines or caches.'),
    {
      name: 'no-tests-in-src',
      comment: 'Test-only code lives in tests/; nothing that ships imports it.',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { path: '^tests/' },
    },
    {
      name: 'no-cycles',
      comment: 'Imports form a tree: a cycle means two modules are one idea or a layer points back.',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves.',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|dist-lib)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
