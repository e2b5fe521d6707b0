/**
 * Serial queues: jobs that share a resource (a session, GPU buffers, a model's KV cache) run one at a time, in the
 * order they were queued, and one job's failure never stops the next. `KeyedQueue` keeps one such queue per key
 * (e.g. per model).
 */
import { deferred } from './deferred';

/** One place in a queue, taken at once: `ready` settles when every earlier place has been left. */
export interface QueueTurn {
  ready: Promise<void>;
  /** Lets the next job in (call it once this job has really stopped; later calls do nothing). */
  leave(): void;
}

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `job` once every job queued before it has settled; resolves or rejects as `job` does. */
  run<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job);
    this.tail = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Takes the next place now, for a job whose end is not one promise (a stream that ends when it is read or cancelled). */
  enter(): QueueTurn {
    const previous = this.tail;
    const done = deferred();
    this.tail = previous.then(() => done.promise);
    return { ready: previous, leave: () => done.resolve() };
  }
}

/** A SerialQueue per key, created on first use. */
export class KeyedQueue<K> {
  private readonly queues = new Map<K, SerialQueue>();

  of(key: K): SerialQueue {
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = new SerialQueue()));
    return queue;
  }

  run<T>(key: K, job: () => Promise<T>): Promise<T> {
    return this.of(key).run(job);
  }

  enter(key: K): QueueTurn {
    return this.of(key).enter();
  }
}
