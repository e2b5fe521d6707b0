// A queued job whose client has gone is dropped before it starts, on the real engines in Node (the tiny Llama and
// the tiny embedder on onnxruntime-web wasm): the request's AbortSignal reaches the engine, which takes the job out of
// its queue (499 `cancelled`) without running it; the job behind it still runs.
import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/models/registry';
import { createEmbeddingsService } from '../../src/engines/embeddings/service';
import { directoryFiles } from '../../src/server/model-files';
import { nodeEnvironment } from '../../src/server/node-engines';
import { nodeApi, ROOT } from './node-api';

const service = createEmbeddingsService(nodeEnvironment(directoryFiles(`${ROOT}public`)));
const { handle } = nodeApi({}, { embeddings: async () => service });
const request = (path: string, body: object, signal?: AbortSignal) => new Request(`http://localhost/inference/v1${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal,
});
const chat = (extra: object, signal?: AbortSignal) => request('/chat/completions', {
  model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], temperature: 0, ...extra,
}, signal);
const stats = async () => ((await (await handle(new Request('http://localhost/inference/v1/models/hearth/tiny-llama'))).json()) as
  { stats: { requests: number; cancelled: number; queued: number } }).stats;

describe('jobs whose client has gone', () => {
  it('an LLM job aborted while it waits its turn is dropped at once and never runs', async () => {
    expect((await handle(chat({ max_tokens: 1 }))).status).toBe(200); // loaded
    const first = await handle(chat({ stream: true, max_tokens: 50 }));
    const reader = first.body!.getReader();
    await reader.read(); // the first job holds the model while its stream is open
    const before = await stats();
    const client = new AbortController();
    const dropped = handle(chat({ max_tokens: 5 }, client.signal));
    const behind = handle(chat({ max_tokens: 1 }));
    for (let i = 0; i < 100 && (await stats()).queued < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await stats()).queued).toBe(2);
    client.abort();
    const answer = await dropped; // answered while the first job still holds the model
    expect(answer.status).toBe(499);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('cancelled');
    expect((await stats()).queued).toBe(1);
    await reader.cancel();
    expect((await behind).status).toBe(200);
    const after = await stats();
    expect(after.requests - before.requests).toBe(1); // only the job behind it ran
    expect(after.queued).toBe(0);
  });

  it('an embeddings request whose client has gone is dropped from its batch; the others are answered', async () => {
    const entry = new ModelRegistry().resolve('hearth/tiny-embed', 'embeddings');
    await service.run({ entry, inputs: [{ text: 'load', param: 'input' }] });
    const before = service.counters.requests;
    const client = new AbortController();
    client.abort();
    const [gone, kept] = await Promise.allSettled([
      service.run({ entry, inputs: [{ text: 'gone', param: 'input' }] }, client.signal),
      service.run({ entry, inputs: [{ text: 'kept', param: 'input' }] }),
    ]);
    expect(gone).toMatchObject({ status: 'rejected', reason: { status: 499, code: 'cancelled' } });
    expect(kept).toMatchObject({ status: 'fulfilled' });
    expect(service.counters.requests - before).toBe(1);
  });
});
