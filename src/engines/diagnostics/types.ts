/** A test-only streaming source living in an engine worker: proves streams and aborts cross every hop. */
export interface DiagnosticsEngine {
  /** A stream of `count` text chunks, one every `intervalMs`, tagged with `runId`. */
  tickStream(runId: string, count: number, intervalMs: number): Promise<ReadableStream<Uint8Array>>;
  /** What the worker saw of a run: chunks it produced and whether the consumer cancelled. */
  runState(runId: string): Promise<{ produced: number; cancelled: boolean; finished: boolean } | null>;
}
