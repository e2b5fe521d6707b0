// The API worker's supervisor, in Node: the real supervisor and the real worker-side watch (answering pings) over a
// MessageChannel that stands in for the Worker; a "worker" can stop answering (a hang), fire an `error` event and go
// on answering (an uncaught error: no restart), or fire one and stop (a crash). Short watch times, so each rule shows
// in milliseconds. Then how a relayed event stream ends when its API worker is restarted (the error as its last
// event). The browser test (tests/browser/api-supervision.test.ts) shows the same through the service worker.
import { afterEach, describe, expect, it } from 'vitest';
import { HearthError } from '../../src/core/errors';
import { apiRestartError, superviseApiWorker, type ApiRestartReason, type ApiWatchTimes, type ApiWorkerSupervisor } from '../../src/runtime/api-supervisor';
import { watchApiWorker } from '../../src/runtime/api-worker-watch';
import { pipeUntil, StreamEnd } from '../../src/runtime/stream-end';

const TIMES: ApiWatchTimes = { pingMs: 20, unresponsiveMs: 300, crashCheckMs: 60, startMs: 400 };

/** A stand-in API worker: the page's end (an EventTarget with postMessage/terminate) and the worker's scope. */
class FakeWorker extends EventTarget {
  readonly channel = new MessageChannel();
  /** While true the worker's "event loop" is stuck: messages reach it but nothing answers them. */
  stuck = false;
  terminated = false;

  constructor() {
    super();
    this.channel.port1.onmessage = (e) => this.dispatchEvent(new MessageEvent('message', { data: e.data }));
    const port = this.channel.port2;
    const scope = {
      name: 'hearth-api',
      addEventListener: (type: string, listener: (e: MessageEvent) => void) => port.addEventListener(type, (e) => {
        if (!this.stuck) listener(e as MessageEvent);
      }),
      postMessage: (m: unknown) => port.postMessage(m),
      close: () => port.close(),
    };
    watchApiWorker(scope as unknown as DedicatedWorkerGlobalScope);
    port.start();
  }

  postMessage(message: unknown) {
    if (!this.terminated) this.channel.port1.postMessage(message);
  }

  terminate() {
    this.terminated = true;
    this.channel.port1.close();
    this.channel.port2.close();
  }

  /** An uncaught error, as the page sees it. */
  fail() {
    this.dispatchEvent(Object.assign(new Event('error'), { message: 'boom' }));
  }
}

let supervisor: ApiWorkerSupervisor<FakeWorker> | undefined;
afterEach(() => supervisor?.terminate());

function supervise(times = TIMES) {
  const workers: FakeWorker[] = [];
  const restarts: ApiRestartReason[] = [];
  supervisor = superviseApiWorker(() => {
    const worker = new FakeWorker();
    workers.push(worker);
    return { endpoint: worker, value: worker };
  }, times);
  supervisor.onRestart((reason) => restarts.push(reason));
  return { s: supervisor, workers, restarts };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the API worker supervisor', () => {
  it('a worker that answers its pings is left alone', async () => {
    const { s, workers } = supervise();
    await sleep(1000); // many pings, each to be answered within unresponsiveMs
    expect(workers).toHaveLength(1);
    expect(s.health()).toEqual({ running: true, restarts: 0, lastRestart: null });
  });

  it('a worker that stops answering (a hang) is terminated within unresponsiveMs and a moment; its generation ends with 503 api_worker_restarted; a fresh one starts', async () => {
    const { s, workers, restarts } = supervise();
    await sleep(100); // answered its first ping
    const first = s.current();
    workers[0].stuck = true;
    const t0 = Date.now();
    const error = await first.ended;
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(TIMES.unresponsiveMs);
    expect(took).toBeLessThan(TIMES.pingMs + TIMES.unresponsiveMs + 250 + 1000); // slack for a loaded machine
    expect(error).toBeInstanceOf(HearthError);
    expect(error.toJSON().error).toMatchObject({ type: 'service_unavailable', code: 'api_worker_restarted' });
    expect(error.status).toBe(503);
    expect(first.isEnded()).toBe(true);
    expect(workers[0].terminated).toBe(true);
    expect(workers).toHaveLength(2);
    expect(s.current().value).toBe(workers[1]);
    expect(restarts).toEqual(['unresponsive']);
    expect(s.health()).toMatchObject({ running: true, restarts: 1, lastRestart: { reason: 'unresponsive' } });
    await sleep(400); // the new one answers: no further restart
    expect(workers).toHaveLength(2);
  });

  it('an error event from a worker that still answers (an uncaught error in one task) costs no restart', async () => {
    const { s, workers } = supervise();
    await sleep(100);
    workers[0].fail();
    await sleep(TIMES.crashCheckMs + 400);
    expect(workers).toHaveLength(1);
    expect(s.health().restarts).toBe(0);
  });

  it('an error event from a worker that is gone (a crash) restarts it within crashCheckMs and a moment', async () => {
    const { s, workers, restarts } = supervise();
    await sleep(100);
    const first = s.current();
    workers[0].stuck = true;
    const t0 = Date.now();
    workers[0].fail();
    const error = await first.ended;
    expect(Date.now() - t0).toBeLessThan(TIMES.crashCheckMs + 250 + 1000); // far below unresponsiveMs' path
    expect(error.message).toMatch(/crashed/);
    expect(restarts).toEqual(['crashed']);
    expect(workers).toHaveLength(2);
  });

  it('a worker that never answers is started three times at most (a broken script does not restart forever)', async () => {
    let started = 0;
    supervisor = superviseApiWorker(() => {
      const worker = new FakeWorker();
      worker.stuck = true;
      started++;
      return { endpoint: worker, value: worker };
    }, { ...TIMES, startMs: 50 });
    for (let waited = 0; supervisor.health().running && waited < 10_000; waited += 50) await sleep(50);
    await sleep(500); // and no fourth
    expect(started).toBe(3);
    expect(supervisor.health()).toMatchObject({ running: false, restarts: 3 });
  });
});

describe('a relayed event stream whose API worker is restarted (stream-end.ts)', () => {
  const encoder = new TextEncoder();
  /** A source that sends one event, then nothing (its worker is stuck or gone). */
  const stalled = () => new ReadableStream<Uint8Array>({
    start(controller) { controller.enqueue(encoder.encode('data: {"n":1}\n\n')); },
  });
  const readAll = async (stream: ReadableStream<Uint8Array>) => {
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk);
    return text;
  };

  it('stopped with a StreamEnd: the events so far, then the error as the last event, then the end', async () => {
    const stop = new AbortController();
    let ended = false;
    const piped = pipeUntil(stalled(), stop.signal, () => (ended = true));
    setTimeout(() => stop.abort(new StreamEnd(apiRestartError('unresponsive'))), 50);
    const events = (await readAll(piped)).split('\n\n').filter(Boolean);
    expect(events[0]).toBe('data: {"n":1}');
    expect(JSON.parse(events[1].slice('data: '.length)).error).toMatchObject({ type: 'service_unavailable', code: 'api_worker_restarted', param: null });
    expect(events).toHaveLength(2);
    expect(ended).toBe(true);
  });

  it('stopped with another reason (the host page gone): the stream errors, as before', async () => {
    const stop = new AbortController();
    const piped = pipeUntil(stalled(), stop.signal);
    setTimeout(() => stop.abort(new Error('host gone')), 50);
    await expect(readAll(piped)).rejects.toThrow('host gone');
  });

  it('not stopped: passes the source through to its end', async () => {
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('data: {"n":1}\n\n'));
        controller.enqueue(encoder.encode('data: [DONE]\n\n'));
        controller.close();
      },
    });
    expect(await readAll(pipeUntil(source, new AbortController().signal))).toBe('data: {"n":1}\n\ndata: [DONE]\n\n');
  });
});
