/**
 * A sentence embedder on onnxruntime-web: one InferenceSession per model, created on the first device that works
 * (WebGPU, then wasm), fed padded batches of token ids, pooled and normalised as the catalog entry prescribes.
 */
import type * as OrtModule from 'onnxruntime-web';
import { resolveBackend } from '../backends';
import { invalidRequest, internal } from '../../core/errors';
import { createSession, type Ort } from '../../core/session';
import type { CatalogEntry, EmbeddingsSpec } from '../../models/types';
import { l2Normalize, pool, truncateDimensions } from './pooling';
import { EmbeddingTokenizer } from './tokenize';
import type { LoadedModelInfo } from '../contract';
import type { EmbeddingInput, EmbedResult, OrtDevice } from './types';

export type { Ort };

export interface EmbedderFiles {
  model: Uint8Array;
  tokenizer: object;
  tokenizerConfig: object;
}

/** Tokens per run (batch × padded length): keeps one run's activations small on modest GPUs. */
const MAX_BATCH_TOKENS = 16384;
const MAX_BATCH_SIZE = 64;

export class OnnxEmbedder {
  private constructor(
    private readonly ort: Ort,
    readonly id: string,
    private readonly spec: EmbeddingsSpec,
    private readonly session: OrtModule.InferenceSession,
    private readonly tokenizer: EmbeddingTokenizer,
    /** The device its session runs on. */
    readonly device: OrtDevice,
    readonly info: LoadedModelInfo,
  ) {}

  static async create(ort: Ort, entry: CatalogEntry, files: EmbedderFiles, devices: OrtDevice[]): Promise<OnnxEmbedder> {
    const spec = entry.embeddings;
    if (!spec) throw internal(`Catalog entry ${entry.id} has no embeddings spec`, 'bad_catalog_entry');
    const tokenizer = new EmbeddingTokenizer(files.tokenizer, files.tokenizerConfig, spec.maxTokens);
    const resolved = await resolveBackend(
      entry.id,
      devices.map((device) => ({
        name: device,
        create: () => createSession(ort, files.model, device, { graphOptimizationLevel: 'all' }, 'WebGPU is not available in this browser'),
      })),
    );
    const device = resolved.name as OrtDevice;
    const info: LoadedModelInfo = { id: entry.id, device, backend: 'onnx', skipped: resolved.skipped };
    return new OnnxEmbedder(ort, entry.id, spec, resolved.value, tokenizer, device, info);
  }

  /** Tokenises every input, runs them in length-sorted padded batches, and returns vectors in input order. */
  async embed(inputs: EmbeddingInput[], dimensions?: number): Promise<EmbedResult> {
    const [result] = await this.embedMany([{ inputs, dimensions }]);
    if ('error' in result) throw result.error;
    return result;
  }

  /**
   * Several requests' inputs run together (coalescing): each request is checked and tokenised on its own (a bad one
   * gets its own error and does not touch the others), then all inputs share the length-sorted padded batches, and
   * each request gets its vectors and token count as if it had run alone. A failure of the run itself throws.
   */
  async embedMany(requests: { inputs: EmbeddingInput[]; dimensions?: number }[]): Promise<(EmbedResult | { error: unknown })[]> {
    const checked = requests.map((r): { ids: number[][] } | { error: unknown } => {
      try {
        this.checkDimensions(r.dimensions);
        return { ids: r.inputs.map((input) => ('text' in input ? this.tokenizer.encode(input.text) : this.tokenizer.checkIds(input.ids, input.param))) };
      } catch (error) {
        return { error };
      }
    });
    const ids: number[][] = [];
    const owner: [number, number][] = [];
    checked.forEach((c, r) => {
      if ('ids' in c) c.ids.forEach((x, i) => { ids.push(x); owner.push([r, i]); });
    });
    const vectors: Float32Array[][] = requests.map((r) => new Array(r.inputs.length));
    const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
    for (const batch of planBatches(order, ids)) {
      const pooled = await this.runBatch(batch.map((i) => ids[i]));
      batch.forEach((flat, k) => {
        const [r, i] = owner[flat];
        const dimensions = requests[r].dimensions;
        const v = this.spec.normalize ? l2Normalize(pooled[k]) : pooled[k];
        vectors[r][i] = dimensions === undefined ? v : truncateDimensions(v, dimensions);
      });
    }
    return checked.map((c, r) => ('error' in c
      ? { error: c.error }
      : { vectors: vectors[r], promptTokens: c.ids.reduce((sum, x) => sum + x.length, 0), backend: this.device }));
  }

  private checkDimensions(dimensions: number | undefined): void {
    if (dimensions === undefined) return;
    if (!this.spec.matryoshka) {
      throw invalidRequest(`Model ${this.id} does not support "dimensions" (it is not Matryoshka-trained)`, 'dimensions', 'unsupported_parameter');
    }
    if (dimensions > this.spec.hiddenSize) {
      throw invalidRequest(`"dimensions" must be at most ${this.spec.hiddenSize} for ${this.id} (got ${dimensions})`, 'dimensions');
    }
  }

  private async runBatch(batchIds: number[][]): Promise<Float32Array[]> {
    const batch = batchIds.length;
    const seq = Math.max(...batchIds.map((x) => x.length));
    const inputIds = new BigInt64Array(batch * seq);
    const mask = new BigInt64Array(batch * seq);
    batchIds.forEach((row, b) => row.forEach((id, t) => {
      inputIds[b * seq + t] = BigInt(id);
      mask[b * seq + t] = 1n;
    }));
    const { Tensor } = this.ort;
    const feeds: Record<string, OrtModule.Tensor> = {
      [this.spec.inputs.inputIds]: new Tensor('int64', inputIds, [batch, seq]),
      [this.spec.inputs.attentionMask]: new Tensor('int64', mask, [batch, seq]),
    };
    if (this.spec.inputs.tokenTypeIds && this.session.inputNames.includes(this.spec.inputs.tokenTypeIds)) {
      feeds[this.spec.inputs.tokenTypeIds] = new Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]);
    }
    const results = await this.session.run(feeds);
    const hidden = results[this.spec.output];
    if (!hidden) throw internal(`Model ${this.id} produced no "${this.spec.output}" output`, 'bad_model_output');
    try {
      const data = (await hidden.getData()) as Float32Array;
      const width = hidden.dims[hidden.dims.length - 1];
      return pool(data, mask, batch, seq, width, this.spec.pooling);
    } finally {
      for (const t of Object.values(results)) t.dispose();
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Groups length-sorted inputs so each run stays under the token and batch-size budgets. */
export function planBatches(order: number[], ids: number[][]): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    const longest = ids[i].length; // sorted ascending: the newest is the longest
    if (current.length > 0 && ((current.length + 1) * longest > MAX_BATCH_TOKENS || current.length >= MAX_BATCH_SIZE)) {
      batches.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length) batches.push(current);
  return batches;
}
