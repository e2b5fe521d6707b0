// The engine supervisor's rules, in Node: the real supervisor and the real worker side of the protocol
// (exposeEngine, job-control) talking over a MessageChannel that stands in for a Worker. The engine behind it is a
// small scripted one (steps on demand, a job that ignores aborts, a job that never settles), so each rule is shown
// exactly: deadlines answered at once, a stopped job acknowledged (no restart), a stuck one restarted after the
// grace period with 503 engine_restarted for every job it held, a crash or a lost device ending streams, a queued
// job dropped when its client has gone, and the next call served by a fresh worker.
import type * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { engineDeadlines } from '../../src/runtime/deadlines';
import { devicesAfterLosses } from '../../src/runtime/device-fallback';
import { superviseEngine, type EngineEndpoint, type SupervisedEngine } from '../../src/runtime/supervisor';
import { isPing } from '../../src/runtime/supervision-protocol';
import { exposeEngine } from '../../src/runtime/worker-protocol';

/** `whole`: the job answers its result itself (as an embeddings job does), not a stream (as LLM and image jobs do). */
interface Job { entry: { id: string }; steps: number; stepMs?: number; ignoreAbort?: boolean; whole?: boolean }

interface TestEngine {
  run(job: Job, signal?: AbortSignal): Promise<ReadableStream<number> | number>;
  started(): Promise<number>;
}

/** A scripted engine as a worker would run it: one job at a time; each step takes stepMs. */
class ScriptedEngine {
  private tail: Promise<unknown> = Promise.resolve();
  private startedJobs = 0;

  async run(job: Job, signal?: AbortSignal): Promise<ReadableStream<number> | number> {
    if (job.whole) return this.whole(job);
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    // Waits for the previous job, or until its client has gone.
    await Promise.race([previous, new Promise((r) => signal?.addEventListener('abort', r, { once: true }))]);
    if (signal?.aborted) {
      release();
      throw new HearthError({ status: 499, type: 'invalid_request_error', message: 'gone', param: null, code: 'cancelled' });
    }
    this.startedJobs++;
    let step = 0;
    return new ReadableStream<number>({
      pull: async (controller) => {
        if (job.ignoreAbort && step === 1) await new Promise(() => undefined); // stuck for good
        await new Promise((r) => setTimeout(r, job.stepMs ?? 1));
        if (step === job.steps) {
          release();
          controller.close();
        } else controller.enqueue(step++);
      },
      cancel: () => {
        if (job.ignoreAbort) return new Promise<void>(() => undefined);
        release();
      },
    }, { highWaterMark: 0 });
  }

  private async whole(job: Job): Promise<number> {
    if (job.ignoreAbort) await new Promise(() => undefined);
    await new Promise((r) => setTimeout(r, job.stepMs ?? 1));
    return job.steps;
  }

  async started(): Promise<number> {
    return this.startedJobs;
  }
}

interface FakeWorker extends EngineEndpoint { crash(): void; reportDeviceLost(): void; terminated: boolean; frozen: boolean }

/** A Worker stand-in: Comlink on one end of a MessageChannel, the real exposeEngine on the other. */
function fakeWorker(): FakeWorker {
  const { port1, port2 } = new MessageChannel();
  exposeEngine(new ScriptedEngine(), port2 as unknown as Comlink.Endpoint);
  const errors = new EventTarget();
  // Pings are answered as worker-watch.ts answers them, unless the test froze the worker (a blocked event loop).
  port2.addEventListener('message', (event) => {
    if (isPing(event.data) && !worker.frozen) port2.postMessage({ hearthPong: event.data.hearthPing });
  });
  const worker: FakeWorker = {
    terminated: false,
    frozen: false,
    postMessage: (message, transfer) => port1.postMessage(message, transfer),
    addEventListener: (type, listener) => (type === 'error' ? errors.addEventListener(type, listener) : port1.addEventListener(type, listener as EventListener)),
    removeEventListener: (type, listener) => (type === 'error' ? errors.removeEventListener(type, listener) : port1.removeEventListener(type, listener as EventListener)),
    terminate: () => {
      worker.terminated = true;
      port1.close();
    },
    crash: () => errors.dispatchEvent(new Event('error', { cancelable: true })),
    reportDeviceLost: () => port2.postMessage({ hearthEngine: 'device-lost', message: 'test' }),
  };
  return worker;
}

let supervised: SupervisedEngine<TestEngine> | undefined;
const workers: FakeWorker[] = [];

function supervise(deadlines: { llm?: number; embeddings?: number; graceMs?: number; unresponsiveMs?: number }, kind: 'llm' | 'embeddings' = 'llm') {
  supervised = superviseEngine<TestEngine>(kind, () => {
    const w = fakeWorker();
    workers.push(w);
    return w;
  }, engineDeadlines(deadlines));
  return supervised;
}

afterEach(() => {
  supervised?.terminate();
  workers.length = 0;
});

async function readAll(stream: ReadableStream<number>): Promise<{ values: number[]; error?: HearthError }> {
  const values: number[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { values };
      values.push(value);
    }
  } catch (e) {
    return { values, error: e as HearthError };
  }
}

const job = (steps: number, extra: Partial<Job> = {}): Job => ({ entry: { id: 'm' }, steps, ...extra });
const whole = (steps: number, extra: Partial<Job> = {}): Job => job(steps, { ...extra, whole: true });

/** A streamed job's answer. */
async function streamed(answer: Promise<ReadableStream<number> | number>): Promise<ReadableStream<number>> {
  const value = await answer;
  if (!(value instanceof ReadableStream)) throw new Error(`expected a stream, got ${value}`);
  return value;
}

describe('engine supervisor', () => {
  it('runs jobs through the worker and counts them in flight per model while they stream', async () => {
    const { engine, health } = supervise({});
    const stream = await streamed(engine.run(job(3)));
    expect(health().jobsInFlight).toEqual({ m: 1 });
    expect(await readAll(stream)).toEqual({ values: [0, 1, 2] });
    expect(health()).toMatchObject({ kind: 'llm', running: true, restarts: 0, lastRestart: null, jobsInFlight: {} });
    expect(await engine.run(whole(7))).toBe(7);
  });

  it('a job past its deadline gets 503 deadline_exceeded at once; a worker that stops it is not restarted', async () => {
    const { engine, health } = supervise({ llm: 150, graceMs: 2000 });
    const t0 = Date.now();
    const result = await readAll(await streamed(engine.run(job(1000, { stepMs: 20 }))));
    expect(result.error).toMatchObject({ status: 503, code: 'deadline_exceeded' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(result.values.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100)); // the worker's acknowledgement
    expect(health()).toMatchObject({ restarts: 0, running: true, jobsInFlight: {} });
    expect(await readAll(await streamed(engine.run(job(2))))).toEqual({ values: [0, 1] });
    expect(workers).toHaveLength(1);
  });

  it('a stuck job: its caller gets deadline_exceeded, the worker is restarted after the grace period, the jobs it held get 503 engine_restarted, the next call works', async () => {
    const { engine, health } = supervise({ llm: 200, graceMs: 300 });
    const stuck = await streamed(engine.run(job(10, { ignoreAbort: true })));
    const queued = streamed(engine.run(job(2))).then(readAll, (e: HearthError) => ({ values: [], error: e }));
    const t0 = Date.now();
    const first = await readAll(stuck);
    expect(first.error).toMatchObject({ status: 503, code: 'deadline_exceeded' });
    expect(health().restarts).toBe(0);
    const second = await queued;
    expect(second.error).toMatchObject({ status: 503, type: 'service_unavailable', code: 'engine_restarted' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(workers[0].terminated).toBe(true);
    expect(health()).toMatchObject({ restarts: 1, running: false, lastRestart: { reason: 'deadline' }, jobsInFlight: {} });
    expect(await readAll(await streamed(engine.run(job(2))))).toEqual({ values: [0, 1] });
    expect(workers).toHaveLength(2);
    expect(health()).toMatchObject({ restarts: 1, running: true });
  });

  it('a whole-answer job past its deadline: 503 at once, and the worker restarted if the call never settles', async () => {
    const { engine, health } = supervise({ embeddings: 100, graceMs: 200 }, 'embeddings');
    await expect(engine.run(whole(1, { ignoreAbort: true }))).rejects.toMatchObject({ status: 503, code: 'deadline_exceeded' });
    await new Promise((r) => setTimeout(r, 400));
    expect(health()).toMatchObject({ restarts: 1, lastRestart: { reason: 'deadline' } });
    // One that settles within the grace period is not a stuck worker.
    await expect(engine.run(whole(1, { stepMs: 250 }))).rejects.toMatchObject({ code: 'deadline_exceeded' });
    await new Promise((r) => setTimeout(r, 400));
    expect(health().restarts).toBe(1);
    expect(await engine.run(whole(5))).toBe(5);
  });

  it('a worker that crashes mid-stream: the stream ends with 503 engine_restarted at once; the next call works', async () => {
    const { engine, health } = supervise({});
    const stream = await streamed(engine.run(job(1000, { stepMs: 10 })));
    const reading = readAll(stream);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    workers[0].crash();
    const result = await reading;
    expect(Date.now() - t0).toBeLessThan(200);
    expect(result.values.length).toBeGreaterThan(0);
    expect(result.error).toMatchObject({ status: 503, code: 'engine_restarted' });
    expect(health()).toMatchObject({ restarts: 1, lastRestart: { reason: 'crashed' } });
    expect(await readAll(await streamed(engine.run(job(1))))).toEqual({ values: [0] });
  });

  it('a worker reporting a lost GPU device: its jobs get 503 device_lost and a fresh worker serves the next', async () => {
    const { engine, health } = supervise({});
    const reading = readAll(await streamed(engine.run(job(1000, { stepMs: 10 }))));
    await new Promise((r) => setTimeout(r, 30));
    workers[0].reportDeviceLost();
    expect((await reading).error).toMatchObject({ status: 503, code: 'device_lost' });
    expect(health()).toMatchObject({ restarts: 1, lastRestart: { reason: 'device_lost' } });
    expect(await engine.run(whole(3))).toBe(3);
    expect(workers).toHaveLength(2);
  });

  it('a queued job whose client has gone is dropped before it starts', async () => {
    const { engine, health } = supervise({});
    const running = await streamed(engine.run(job(3)));
    const client = new AbortController();
    const waiting = streamed(engine.run(job(3), client.signal)).then(readAll, (e: HearthError) => ({ values: [], error: e }));
    await new Promise((r) => setTimeout(r, 20));
    expect(health().jobsInFlight).toEqual({ m: 2 });
    client.abort();
    expect((await waiting).error).toMatchObject({ status: 499, code: 'cancelled' });
    expect(await readAll(running)).toEqual({ values: [0, 1, 2] });
    expect(await engine.started()).toBe(1);
    expect(health().jobsInFlight).toEqual({});
  });

  it('a job waiting for its stream counts no deadline while the worker answers pings; a worker that stops answering is restarted', async () => {
    const { engine, health } = supervise({ llm: 150, graceMs: 150, unresponsiveMs: 150 });
    const first = await streamed(engine.run(job(2))); // not read yet: the next job waits its turn
    const waiting = streamed(engine.run(job(1))).then(readAll, (e: HearthError) => ({ values: [], error: e }));
    await new Promise((r) => setTimeout(r, 700)); // several deadlines, each ping answered
    expect(health()).toMatchObject({ restarts: 0, jobsInFlight: { m: 2 } });
    workers[0].frozen = true;
    expect((await waiting).error).toMatchObject({ status: 503, code: 'engine_restarted' });
    expect(health()).toMatchObject({ restarts: 1, lastRestart: { reason: 'unresponsive' } });
    expect((await readAll(first)).error).toMatchObject({ code: 'engine_restarted' });
    expect(await readAll(await streamed(engine.run(job(1))))).toEqual({ values: [0] });
  });

  it('an engine whose GPU devices keep getting lost gets a wasm-only worker next (2 losses in 10 minutes)', () => {
    const both = ['webgpu', 'wasm'] as const;
    const now = 1_000_000_000;
    expect(devicesAfterLosses([...both], [now - 1000], now)).toEqual(['webgpu', 'wasm']);
    expect(devicesAfterLosses([...both], [now - 5000, now - 1000], now)).toEqual(['wasm']);
    expect(devicesAfterLosses([...both], [now - 11 * 60_000, now - 1000], now)).toEqual(['webgpu', 'wasm']);
    expect(devicesAfterLosses(['webgpu'], [now - 5000, now - 1000], now)).toEqual(['webgpu']); // no wasm to fall back to
  });
});
