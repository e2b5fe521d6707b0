// src/core's queues and promise helpers: jobs run one at a time in queue order, a failure does not stop the queue,
// a turn taken with enter() holds the queue until it is left, keys queue apart, and withTimeout/deferred settle.
import { describe, expect, it } from 'vitest';
import { deferred, sleep, withTimeout } from '../../src/core/deferred';
import { KeyedQueue, SerialQueue } from '../../src/core/queue';

describe('SerialQueue', () => {
  it('runs jobs one at a time, in order, past failures', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    const job = (name: string, ms: number, fail = false) => async () => {
      running++;
      expect(running).toBe(1);
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      running--;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([q.run(job('a', 20)), q.run(job('b', 1, true)), q.run(job('c', 5))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('holds the queue for a turn until it is left, even when a later turn leaves first', async () => {
    const q = new SerialQueue();
    const first = q.enter();
    const second = q.enter();
    let thirdRan = false;
    const third = q.run(async () => { thirdRan = true; });
    await first.ready;
    second.leave(); // left before it was even ready (a job cancelled while it waited)
    await sleep(5);
    expect(thirdRan).toBe(false);
    first.leave();
    first.leave(); // a second leave does nothing
    await third;
    expect(thirdRan).toBe(true);
  });

  it('KeyedQueue queues each key apart', async () => {
    const q = new KeyedQueue<string>();
    const a = q.enter('a');
    let bRan = false;
    await q.run('b', async () => { bRan = true; });
    expect(bRan).toBe(true);
    let aNextRan = false;
    const aNext = q.run('a', async () => { aNextRan = true; });
    await sleep(5);
    expect(aNextRan).toBe(false);
    a.leave();
    await aNext;
    expect(aNextRan).toBe(true);
  });
});

describe('deferred and withTimeout', () => {
  it('settle from outside, and time out with the given error', async () => {
    const d = deferred<number>();
    d.resolve(3);
    expect(await d.promise).toBe(3);
    expect(await withTimeout(sleep(1).then(() => 'ok'), 1000, () => new Error('late'))).toBe('ok');
    await expect(withTimeout(new Promise(() => undefined), 10, () => new Error('late'))).rejects.toThrow('late');
  });
});
