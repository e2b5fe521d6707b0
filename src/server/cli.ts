/**
 * The `hearth` command line (bin/hearth.mjs runs this file's build): `hearth serve` starts the API on node:http
 * (serve.ts) and prints the base URL; Ctrl-C stops it. Keys come from flags or, to keep them out of the process
 * list, from the environment (HEARTH_API_KEY; HEARTH_REMOTE_KEY_<NAME> for a remote).
 */
import { parseArgs } from 'node:util';
import type { RemoteConfig } from '../api/remote/types';
import { MODEL_KINDS } from '../engines/kinds';
import { DEFAULT_DEADLINES } from '../runtime/deadlines';
import { DEVICE_CHOICES, type DeviceChoice } from './node-runtime';
import { startServer } from './serve';

const USAGE = `Usage: hearth serve [options]

  --port <n>          port to listen on (default 8080; 0 picks a free one)
  --host <addr>       interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --models <list>     catalog ids, aliases or patterns to serve, comma-separated or repeated (default: all)
  --cors <origin>     let pages on this origin call the server (repeatable; '*' for any)
  --api-key <key>     require "Authorization: Bearer <key>" (or set HEARTH_API_KEY)
  --model-dir <dir>   folder holding models/ as in the web app's public/ (default: the repo's public/)
  --device <d>        where models run: auto (default: CUDA where installed, then CPU, on onnxruntime-node;
                      wasm when it cannot load), cuda, cpu, or wasm (onnxruntime-web's build)
  --remote <n>=<url>  also relay to a remote backend, local-first (repeatable; key in HEARTH_REMOTE_KEY_<N>)
  --deadlines <list>  engine job deadlines, KIND:MS comma-separated (default ${MODEL_KINDS.map((k) => `${k}:${DEFAULT_DEADLINES[k]}`).join(',')},
                      as in the browser); a job past its deadline answers 503 deadline_exceeded
  --quiet             no request log`;

export async function main(argv: string[], defaults: { modelDir: string }): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'serve') {
    console.log(USAGE);
    process.exitCode = command === undefined || command === '--help' || command === 'help' ? 0 : 2;
    return;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        models: { type: 'string', multiple: true },
        cors: { type: 'string', multiple: true },
        'api-key': { type: 'string' },
        'model-dir': { type: 'string' },
        device: { type: 'string', default: 'auto' },
        remote: { type: 'string', multiple: true },
        deadlines: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be 0–65535 (got ${values.port})`);
    process.exitCode = 2;
    return;
  }
  const device = values.device as DeviceChoice;
  if (!DEVICE_CHOICES.includes(device)) {
    console.error(`--device must be one of ${DEVICE_CHOICES.join(', ')} (got ${values.device})`);
    process.exitCode = 2;
    return;
  }
  const deadlines: Record<string, number> = {};
  for (const pair of values.deadlines ? values.deadlines.split(',') : []) {
    const [kind, ms] = pair.split(':');
    if (!MODEL_KINDS.some((k) => k === kind) || !(Number(ms) > 0)) {
      console.error(`--deadlines takes KIND:MS pairs, KIND one of ${MODEL_KINDS.join(', ')} (got ${pair})`);
      process.exitCode = 2;
      return;
    }
    deadlines[kind] = Number(ms);
  }
  const remotes: RemoteConfig[] = (values.remote ?? []).map((spec) => {
    const at = spec.indexOf('=');
    const name = spec.slice(0, at);
    return { name, baseURL: spec.slice(at + 1), apiKey: process.env[`HEARTH_REMOTE_KEY_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] };
  });
  let server;
  try {
    server = await startServer({
      port,
      host: values.host,
      modelDir: values['model-dir'] ?? defaults.modelDir,
      models: values.models?.flatMap((m) => m.split(',')).map((m) => m.trim()).filter(Boolean),
      cors: values.cors,
      apiKey: values['api-key'] ?? process.env.HEARTH_API_KEY,
      remotes,
      device,
      deadlines,
      log: values.quiet ? undefined : (line) => console.log(line),
    });
  } catch (e) {
    console.error(`hearth serve: ${(e as Error).message}`);
    process.exitCode = 1;
    return;
  }
  const { runtime } = server.engines;
  console.log(`Hearth serving ${server.baseURL} (${server.models.length} models${values.cors?.length ? `; CORS for ${values.cors.join(', ')}` : ''})`);
  console.log(`Models run on ${runtime.name}: ${runtime.devices.join(', then ')}`);
  for (const { device: d, reason } of runtime.unavailable) console.log(`  no ${d}: ${reason}`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
