// The clients people already use, unchanged, against Hearth's API function in Node (each client's fetch routed to
// `handle`): every call of tests/clients/cases.ts, checked by tests/clients/checks.ts. The same cases run in the page
// through the service worker in tests/browser/clients.test.ts. The image cases use the tiny SDXL on wasm, reached
// through the model alias the AI SDK's Fireworks provider needs.
import { describe, it } from 'vitest';
import { CATALOG } from '../../src/models/catalog';
import { ModelRegistry } from '../../src/models/registry';
import { CASE_NAMES, clientCases, IMAGE_ALIASES, type CaseName, type ClientEnv } from '../clients/cases';
import { clientChecks, type CheckContext } from '../clients/checks';
import { nodeApi, nodeImage, readJson } from './node-api';

const ref = readJson<Record<string, { cases: { text: string; embedding: number[] }[] }>>('tests/fixtures/embeddings/reference.json');
const embedCases = ref['hearth-tiny-embed'].cases.slice(0, 3);

// The user aliases startHearth({ aliases }) registers, here given to the registry directly.
const image = nodeImage();
const { handle } = nodeApi({ registry: new ModelRegistry(CATALOG, IMAGE_ALIASES) }, { image: async () => image });

const env: ClientEnv = {
  baseURL: 'http://localhost/inference/v1',
  fetch: ((input: string | URL | Request, init?: RequestInit) => handle(new Request(input, init))) as typeof fetch,
  embedTexts: embedCases.map((c) => c.text),
};
const ctx: CheckContext = { embeddings: embedCases.map((c) => c.embedding) };

async function run<N extends CaseName>(name: N): Promise<void> {
  const observed = await clientCases[name](env);
  (clientChecks[name] as (o: unknown, c: CheckContext) => void)(observed, ctx);
}

describe('clients, unchanged, against the API in Node', () => {
  for (const name of CASE_NAMES) it(name, () => run(name), 60_000);
});
