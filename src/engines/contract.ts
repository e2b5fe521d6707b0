/**
 * The engine contract every kind that serves catalog models implements (src/engines/kinds.ts lists the kinds):
 * `load / loaded / unload` over a ModelHost (model-host.ts), and a run of one job. LLM and image jobs run as a stream
 * of events (`generate`; cancelling the stream stops the job between tokens or steps); embeddings answer one result
 * per request (`embed`), coalesced with the requests waiting for the same model.
 */
import type { CatalogEntry } from '../models/types';

export interface ModelEngine<Info> {
  /** Loads the entry's model (downloading it if needed) without running anything: the model manager's "load". */
  load(entry: CatalogEntry): Promise<Info>;
  /** The models loaded so far. */
  loaded(): Promise<Info[]>;
  /** Frees the model (and every copy of it); the next job loads it afresh. */
  unload(id: string): Promise<void>;
}

export interface StreamingEngine<Job, Event> {
  /**
   * Runs a job as a stream of events; the stream's cancel() stops the job. A job whose `signal` has aborted while it
   * waited for its turn is dropped before it starts (499 `cancelled`).
   */
  generate(job: Job, signal?: AbortSignal): Promise<ReadableStream<Event>>;
}
