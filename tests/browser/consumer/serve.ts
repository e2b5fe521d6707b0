/**
 * The consumer site's static server, as a real app would lay it out: `/` is this folder, `/dist-lib/` the built
 * library, `/hearth-sw.js` the library's service worker at the site root (a copy of dist-lib/hearth-sw.js), and
 * `/models/` the built-in model files (public/models). COOP/COEP are sent so onnxruntime-web can use wasm threads.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../../..');

const MOUNTS: [prefix: string, dir: string][] = [
  ['/dist-lib/', join(ROOT, 'dist-lib')],
  ['/models/', join(ROOT, 'public/models')],
  ['/', join(ROOT, 'tests/browser/consumer')],
];
const FILES: Record<string, string> = { '/': 'tests/browser/consumer/index.html', '/hearth-sw.js': 'dist-lib/hearth-sw.js' };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/** The file a URL path names, or undefined (outside every mount, or a `..` escape). */
export function fileFor(pathname: string): string | undefined {
  if (FILES[pathname]) return join(ROOT, FILES[pathname]);
  for (const [prefix, dir] of MOUNTS) {
    if (!pathname.startsWith(prefix)) continue;
    const file = normalize(join(dir, decodeURIComponent(pathname.slice(prefix.length))));
    return file.startsWith(`${dir}/`) ? file : undefined;
  }
  return undefined;
}

/** Serves the consumer site on 127.0.0.1 (port 0: a free one); resolves with its origin. */
export async function serveConsumer(port = 0): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'credentialless');
    res.setHeader('Cache-Control', 'no-store');
    const file = fileFor(new URL(req.url ?? '/', 'http://x').pathname);
    const stat = file ? statSync(file, { throwIfNoEntry: false }) : undefined;
    if (!file || !stat?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': String(stat.size),
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('consumer server has no port');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

