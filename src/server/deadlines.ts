/**
 * Job deadlines for the engines `hearth serve` runs in its own process: the browser host's defaults
 * (src/runtime/deadlines.ts, from the kinds table), timed the same way (`JOB_TIMING`: a whole answer from the call,
 * a stream from its first read) and answered the same: at the deadline the caller gets 503 `deadline_exceeded` at
 * once (a stream: as its last event) and the job is aborted through its AbortSignal (a stream is cancelled too), which
 * the engines see at their next step (Node's engines yield between events). There is no worker to restart here: a
 * job that blocks the event loop itself is not stopped by this, but one that waits forever or runs long is.
 */
import { perModelKind, type Engines, type ModelKind } from '../engines/kinds';
import type { EngineDeadlines } from '../runtime/deadlines';
import { deadlineError, JOB_METHOD, JOB_TIMING } from '../runtime/supervisor';

type Getters = { [K in ModelKind]: Engines[K] };
type Runner = (job: unknown, signal?: AbortSignal) => Promise<unknown>;

/** `engines` with every model kind's jobs (`run`) held to `deadlines`. */
export function withDeadlines(engines: Engines, deadlines: EngineDeadlines): Engines {
  return {
    ...engines,
    ...perModelKind<Getters>(<K extends ModelKind>(kind: K) =>
      (async () => timed(kind, await engines[kind](), deadlines[kind])) as Getters[K]),
  };
}

function timed<E extends object>(kind: ModelKind, engine: E, ms: number): E {
  return new Proxy(engine, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== JOB_METHOD || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return (job: unknown, signal?: AbortSignal) => runTimed(kind, (value as Runner).bind(target), job, signal, ms);
    },
  });
}

async function runTimed(kind: ModelKind, run: Runner, job: unknown, signal: AbortSignal | undefined, ms: number): Promise<unknown> {
  // The engine's signal: aborted by the caller's, or at the deadline with its error.
  const abort = new AbortController();
  const follow = () => abort.abort(signal?.reason);
  if (signal?.aborted) follow();
  else signal?.addEventListener('abort', follow, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late: Promise<never> | undefined;
  /** Starts the deadline; it rejects with the deadline's error, then aborts the job and calls `onExpire`. */
  const arm = (onExpire: () => void = () => undefined) => {
    late ??= new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = deadlineError(kind, ms);
        reject(error); // first: a read that the abort or cancel below ends must not look like the end
        abort.abort(error);
        onExpire();
      }, ms);
    });
    late.catch(() => undefined);
    return late;
  };
  const end = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', follow);
  };

  if (JOB_TIMING[kind] === 'call') {
    try {
      return await Promise.race([run(job, abort.signal), arm()]);
    } finally {
      end();
    }
  }
  let answer: unknown;
  try {
    answer = await run(job, abort.signal);
  } catch (e) {
    end();
    throw e;
  }
  if (!(answer instanceof ReadableStream)) {
    end();
    return answer;
  }
  const source = answer.getReader();
  return new ReadableStream({
    async pull(controller) {
      try {
        const { value, done } = await Promise.race([source.read(), arm(() => void source.cancel(abort.signal.reason).catch(() => undefined))]);
        if (done) {
          end();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        end();
        controller.error(e);
      }
    },
    cancel(reason) {
      end();
      return source.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
