// The ModelHost's one queueing rule and the one loaded-model shape, without an engine: per-model queues let two
// models run side by side while one model's jobs wait for each other; a per-device queue serialises every job;
// jobs waiting for their turn are counted in `stats.queued` and dropped (499 cancelled) when their client has gone;
// GET /models' merge (loaded.ts) joins the kinds' lists and the adapter-merged copies of one model.
import { describe, expect, it } from 'vitest';
import { deferred } from '../../src/core/deferred';
import type { LoadedModelInfo } from '../../src/engines/contract';
import { mergeInfos, mergeLoaded } from '../../src/engines/loaded';
import { ModelHost, type QueueScope } from '../../src/engines/model-host';

interface Model { id: string; stats: { requests: number; cancelled: number; generatedTokens: number } }

function host(queue: QueueScope) {
  return new ModelHost<Model>({
    release: () => undefined,
    describe: (m) => ({ id: m.id, device: 'wasm', backend: 'onnx', skipped: [], stats: m.stats }),
    queue,
  });
}
const model = (id: string): Model => ({ id, stats: { requests: 0, cancelled: 0, generatedTokens: 0 } });

/** Starts a job that holds its turn until `end` is called; `started` says whether its turn came. */
function hold(h: ModelHost<Model>, key: string) {
  const gate = deferred();
  const job = { started: false, end: () => gate.resolve(), done: undefined as unknown as Promise<void> };
  job.done = h.enqueue(key, async () => {
    job.started = true;
    await gate.promise;
  });
  return job;
}
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('ModelHost queueing', () => {
  it("per model: one model's jobs wait for each other, another model's run meanwhile", async () => {
    const h = host('model');
    const a1 = hold(h, 'a');
    const a2 = hold(h, 'a');
    const b1 = hold(h, 'b');
    await tick();
    expect([a1.started, a2.started, b1.started]).toEqual([true, false, true]);
    a1.end();
    await tick();
    expect(a2.started).toBe(true);
    a2.end();
    b1.end();
    await Promise.all([a1.done, a2.done, b1.done]);
  });

  it('per device: every job waits for the one before it, whatever its model', async () => {
    const h = host('device');
    const a1 = hold(h, 'a');
    const b1 = hold(h, 'b');
    await tick();
    expect([a1.started, b1.started]).toEqual([true, false]);
    a1.end();
    await tick();
    expect(b1.started).toBe(true);
    b1.end();
    await b1.done;
  });

  it('turn(): waiting jobs are counted in stats.queued, and one whose client has gone is dropped at once', async () => {
    const h = host('model');
    await h.get('m', async () => model('m'));
    const leaveFirst = await h.turn('m');
    const client = new AbortController();
    const dropped = h.turn('m', client.signal);
    const behind = h.turn('m');
    await tick();
    expect((await h.infos())[0].stats?.queued).toBe(2);
    client.abort();
    await expect(dropped).rejects.toMatchObject({ status: 499, code: 'cancelled' });
    expect((await h.infos())[0].stats?.queued).toBe(1);
    leaveFirst();
    const leaveBehind = await behind;
    expect((await h.infos())[0].stats?.queued).toBe(0);
    leaveBehind();
  });
});

describe('loaded models, merged without per-kind code', () => {
  const info = (id: string, extra: Partial<LoadedModelInfo> = {}): LoadedModelInfo => ({ id, device: 'wasm', backend: 'onnx', skipped: [], ...extra });

  it("joins the kinds' lists by id, in kind order, and a model's copies into one with every adapter", () => {
    const merged = mergeLoaded([
      [info('e', { skipped: [{ name: 'webgpu', reason: 'no adapter' }] })],
      [info('l', { backend: 'wgsl', variant: 'q4', device: 'webgpu' })],
      [info('i'), info('i', { loras: ['r/a.safetensors'] }), info('j', { loras: ['r/b.safetensors'] })],
    ]);
    expect([...merged.keys()]).toEqual(['e', 'l', 'i', 'j']);
    expect(merged.get('e')).toEqual({ device: 'wasm', backend: 'onnx', skipped: [{ name: 'webgpu', reason: 'no adapter' }] });
    expect(merged.get('l')).toEqual({ device: 'webgpu', backend: 'wgsl', variant: 'q4', skipped: [] });
    expect(merged.get('i')).toEqual({ device: 'wasm', backend: 'onnx', skipped: [], loras: ['r/a.safetensors'] });
    expect(mergeInfos([info('i', { loras: ['x'] }), info('i', { loras: ['y'] })])).toEqual([info('i', { loras: ['x', 'y'] })]);
  });
});
