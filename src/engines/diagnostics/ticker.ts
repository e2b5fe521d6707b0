/**
 * A test-only stream source run inside an engine worker: `count` SSE events spaced `intervalMs` apart, with a
 * record of how many were produced and whether the reader cancelled. It proves that streams and their cancellation
 * cross worker → host → service worker → page the way token streams will.
 */
import type { DiagnosticsEngine } from './types';

interface RunState { produced: number; cancelled: boolean; finished: boolean }

export class Ticker implements DiagnosticsEngine {
  private readonly runs = new Map<string, RunState>();

  async tickStream(runId: string, count: number, intervalMs: number): Promise<ReadableStream<Uint8Array>> {
    const state: RunState = { produced: 0, cancelled: false, finished: false };
    this.runs.set(runId, state);
    const encoder = new TextEncoder();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        const tick = () => {
          if (state.cancelled) return;
          if (state.produced === count) {
            state.finished = true;
            controller.enqueue(encoder.encode('data: [DONE]\n\n'));
            controller.close();
            return;
          }
          const event = { run_id: runId, index: state.produced, sent_at: Date.now() };
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
          state.produced++;
          timer = setTimeout(tick, intervalMs);
        };
        tick();
      },
      cancel() {
        state.cancelled = true;
        clearTimeout(timer);
      },
    });
  }

  async runState(runId: string): Promise<RunState | null> {
    const s = this.runs.get(runId);
    return s ? { ...s } : null;
  }
}
