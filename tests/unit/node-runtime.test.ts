// The ONNX Runtime `hearth serve` chooses (src/server/node-runtime.ts), on this machine's real onnxruntime-node:
// `auto` is onnxruntime-node with the CPU last and CUDA offered only where its provider library is installed (else
// the reason is listed); `wasm` is onnxruntime-web; and when CUDA is offered but cannot create a session (here: its
// provider library is missing, as on a machine whose CUDA runtime is absent), every engine falls back to the CPU,
// answers as the torch reference says, and GET /models/{id} names the CUDA failure.
import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/api/handle';
import { ModelRegistry } from '../../src/models/registry';
import { directoryFiles } from '../../src/server/model-files';
import { createNodeEngines } from '../../src/server/node-engines';
import { nodeRuntime, WASM_RUNTIME } from '../../src/server/node-runtime';
import { get, post, readJson, ROOT } from './node-api';

const embedRef = readJson<Record<string, { cases: { text: string; embedding: number[] }[] }>>('tests/fixtures/embeddings/reference.json');
const llmRef = readJson<{ prompts: { name: string; input_ids: number[] }[]; greedy: { prompt: string; new_tokens: number[] }[] }>('tests/fixtures/llm/reference.json');

describe('node runtime choice', () => {
  it('auto: onnxruntime-node, CPU last, CUDA only with its provider (else the reason); wasm: onnxruntime-web', async () => {
    const auto = await nodeRuntime('auto');
    expect(auto.name).toMatch(/^onnxruntime-node /);
    expect(auto.devices.at(-1)).toBe('cpu');
    if (!auto.devices.includes('cuda')) expect(auto.unavailable).toEqual([{ device: 'cuda', reason: expect.stringMatching(/CUDA execution provider/) }]);
    expect((await nodeRuntime('cpu')).devices).toEqual(['cpu']);
    expect(await nodeRuntime('wasm')).toBe(WASM_RUNTIME);
    expect(WASM_RUNTIME.devices).toEqual(['wasm']);
  });

  it('a CUDA device that cannot create sessions falls back to the CPU, and GET /models/{id} says why', async () => {
    const cpu = await nodeRuntime('cpu');
    const engines = createNodeEngines(directoryFiles(`${ROOT}public`), { runtime: { ...cpu, devices: ['cuda', 'cpu'] } });
    const handle = createApi({ registry: new ModelRegistry(), ...engines.deps });

    const [c] = embedRef['hearth-tiny-embed'].cases;
    const embedded = await handle(post('/embeddings', { model: 'hearth/tiny-embed', input: c.text }));
    expect(embedded.headers.get('x-hearth-backend')).toBe('cpu');
    const v = ((await embedded.json()) as { data: { embedding: number[] }[] }).data[0].embedding;
    expect(Math.max(...c.embedding.map((x, i) => Math.abs(x - v[i])))).toBeLessThan(1e-4);

    const p = llmRef.prompts[0];
    const expected = llmRef.greedy.find((g) => g.prompt === p.name)!.new_tokens.slice(0, 6);
    const completed = await handle(post('/completions', { model: 'hearth/tiny-llama', prompt: p.input_ids, max_tokens: 6, temperature: 0, return_token_ids: true }));
    expect(completed.headers.get('x-hearth-backend')).toBe('onnx/cpu');
    expect(((await completed.json()) as { choices: { token_ids: number[] }[] }).choices[0].token_ids).toEqual(expected);

    for (const [id, skipped] of [['hearth/tiny-embed', 'cuda'], ['hearth/tiny-llama', 'onnx:fp32:cuda']]) {
      const info = await (await handle(get(`/models/${id}`))).json() as { device: string; skipped_backends: { name: string; reason: string }[] };
      expect(info.device).toBe('cpu');
      expect(info.skipped_backends.map((s) => s.name)).toContain(skipped);
      expect(info.skipped_backends.find((s) => s.name === skipped)!.reason).toMatch(/cuda|providers_shared/i);
    }
  });
});
