// The host's read-ahead for streamed bodies (src/runtime/read-ahead.ts): chunks that pile up while the consumer is
// busy come out as one, nothing is lost or reordered, the source is read ahead only up to the cap, and cancels and
// errors travel both ways.
import { describe, expect, it } from 'vitest';
import { readAhead } from '../../src/runtime/read-ahead';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = () => new Promise((r) => setTimeout(r, 5));

/** A source that enqueues whenever asked, and records how far it has been pulled. */
function source() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let cancelled: unknown = null;
  const stream = new ReadableStream<Uint8Array>({
    start(c) { controller = c; },
    cancel(reason) { cancelled = reason ?? 'cancelled'; },
  }, { highWaterMark: 0 });
  return { stream, push: (s: string | Uint8Array) => controller.enqueue(typeof s === 'string' ? bytes(s) : s), close: () => controller.close(), fail: (e: unknown) => controller.error(e), cancelled: () => cancelled };
}

describe('readAhead', () => {
  it('passes a lone chunk at once and joins the chunks that piled up, in order', async () => {
    const src = source();
    const { body, finished } = readAhead(src.stream);
    const reader = body.getReader();
    src.push('data: 1\n\n');
    expect(text((await reader.read()).value!)).toBe('data: 1\n\n');
    src.push('data: 2\n\n');
    src.push('data: 3\n\n');
    src.push('data: 4\n\n');
    await tick();
    expect(text((await reader.read()).value!)).toBe('data: 2\n\ndata: 3\n\ndata: 4\n\n');
    src.close();
    expect((await reader.read()).done).toBe(true);
    await finished;
  });

  it('stops reading the source past 1 MB held, and goes on once the consumer drains it', async () => {
    let pulls = 0;
    const chunk = new Uint8Array(256 * 1024);
    const stream = new ReadableStream<Uint8Array>({ pull(c) { pulls++; c.enqueue(chunk); } }, { highWaterMark: 0 });
    const { body } = readAhead(stream);
    await tick();
    expect(pulls).toBeGreaterThanOrEqual(4);
    expect(pulls).toBeLessThanOrEqual(6);
    const reader = body.getReader();
    const first = await reader.read();
    expect(first.value!.byteLength).toBeGreaterThanOrEqual(4 * chunk.byteLength);
    await tick();
    expect(pulls).toBeGreaterThan(6);
    await reader.cancel();
  });

  it('a cancel by the consumer or an abort signal reaches the source; a source error reaches the consumer', async () => {
    const a = source();
    const { body: bodyA, finished } = readAhead(a.stream);
    await bodyA.cancel('gone');
    await finished;
    expect(a.cancelled()).toBe('gone');

    const b = source();
    const abort = new AbortController();
    readAhead(b.stream, abort.signal);
    abort.abort('stop');
    await tick();
    expect(b.cancelled()).toBe('stop');

    const c = source();
    const reader = readAhead(c.stream).body.getReader();
    c.push('x');
    c.fail(new Error('engine failed'));
    expect(text((await reader.read()).value!)).toBe('x');
    await expect(reader.read()).rejects.toThrow('engine failed');
  });
});
