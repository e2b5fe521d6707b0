/**
 * Engine faults from a test page: a streamed chat on the tiny Llama through the service worker, a fault injected
 * into its engine worker mid-stream through the test-only /_hearth/engine-fault route (hosts started with
 * diagnostics=1), and how the stream ended. Used by tests/browser/supervision.test.ts and the soak.
 */
import type { Page } from 'playwright-core';

export interface StreamOutcome {
  /** The SSE text received. */
  text: string;
  /** ms from the fault's injection to the stream's end. */
  endedAfterMs: number;
  /** The error event's body, if the stream ended with one. */
  error: { code: string; type: string } | null;
  done: boolean;
}

/**
 * In the page: starts a streamed chat, reads its first chunk, injects `fault` into the LLM worker (optionally with a
 * second, non-streamed request queued behind the stream) and reads the stream to its end.
 */
export async function streamThenFault(page: Page, fault: string, options: { ms?: number; queued?: boolean; maxTokens: number }) {
  return page.evaluate(async ({ fault, options }) => {
    const chat = (body: object) => fetch('/inference/v1/chat/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi!' }], temperature: 0, ...body }),
    });
    const res = await chat({ stream: true, max_tokens: options.maxTokens, ignore_eos: true });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    const queued = options.queued ? chat({ max_tokens: 2 }).then(async (r) => ({ status: r.status, body: await r.json() })) : null;
    const injected = await fetch('/inference/v1/_hearth/engine-fault', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ engine: 'llm', fault, ms: options.ms }),
    }).then((r) => r.json());
    const t0 = Date.now();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    const events = text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    const last = events.at(-1) ?? '';
    const error = last.startsWith('{"error"') ? JSON.parse(last).error : null;
    const outcome = { text, endedAfterMs: Date.now() - t0, error, done: last === '[DONE]' };
    return { injected, outcome, queued: queued ? await queued : null };
  }, { fault, options }) as Promise<{ injected: { injected: boolean }; outcome: StreamOutcome; queued: { status: number; body: { error?: { code: string } } } | null }>;
}
