/**
 * Entry point of the diagnostics worker (only started when a host enables diagnostics): the Ticker stream source,
 * whose streams are transferred to the host rather than copied.
 */
import * as Comlink from 'comlink';
import { Ticker } from '../src/engines/diagnostics/ticker';

const ticker = new Ticker();
Comlink.expose({
  async tickStream(runId: string, count: number, intervalMs: number) {
    const stream = await ticker.tickStream(runId, count, intervalMs);
    return Comlink.transfer(stream, [stream as unknown as Transferable]);
  },
  runState: (runId: string) => ticker.runState(runId),
});
