// The tiny ONNX embedders run in onnxruntime-web (wasm backend, in Node) and, after pooling + L2 normalisation in
// JS, reproduce the torch embeddings that scripts/make_fixtures.py wrote to tests/fixtures/embeddings/reference.json.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-web';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (rel: string): any => JSON.parse(readFileSync(root + rel, 'utf8'));

interface RefModel {
  hidden_size: number;
  max_tokens: number;
  pooling: 'mean' | 'cls';
  cases: { text: string; input_ids: number[]; embedding: number[] }[];
  batch?: { input_ids: number[][]; attention_mask: number[][]; embeddings: number[][] };
}
const reference = readJson('tests/fixtures/embeddings/reference.json') as Record<string, RefModel>;

ort.env.wasm.numThreads = 1;

const int64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0]!.length]);

/** Pool [batch, seq, hidden] by the attention mask (mean) or first token (cls), then L2-normalise. */
function pool(data: Float32Array, mask: number[][], hidden: number, pooling: 'mean' | 'cls'): number[][] {
  const seq = mask[0]!.length;
  return mask.map((row, b) => {
    const v = new Array<number>(hidden).fill(0);
    if (pooling === 'cls') {
      for (let h = 0; h < hidden; h++) v[h] = data[b * seq * hidden + h]!;
    } else {
      let n = 0;
      row.forEach((m, s) => {
        if (!m) return;
        n++;
        for (let h = 0; h < hidden; h++) v[h]! += data[(b * seq + s) * hidden + h]!;
      });
      for (let h = 0; h < hidden; h++) v[h]! /= n;
    }
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
}

describe.each(Object.entries(reference))('fixture model %s (onnxruntime-web wasm)', (name, ref) => {
  let session: ort.InferenceSession;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(readFileSync(`${root}public/models/${name}/model.onnx`), {
      executionProviders: ['wasm'],
    });
  });
  afterAll(async () => {
    await session?.release();
  });

  async function embed(ids: number[][], mask: number[][]): Promise<number[][]> {
    const out = await session.run({
      input_ids: int64(ids),
      attention_mask: int64(mask),
      token_type_ids: int64(ids.map((r) => r.map(() => 0))),
    });
    const hs = out.last_hidden_state!;
    expect(hs.type).toBe('float32');
    expect(hs.dims).toEqual([ids.length, ids[0]!.length, ref.hidden_size]);
    return pool(hs.data as Float32Array, mask, ref.hidden_size, ref.pooling);
  }

  it('has the real Hugging Face I/O names', () => {
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(session.outputNames).toEqual(['last_hidden_state']);
  });

  it.each(ref.cases.map((c, i) => [i, c] as const))('case %i matches the torch embedding', async (_i, c) => {
    const [got] = await embed([c.input_ids], [c.input_ids.map(() => 1)]);
    expect(maxAbsDiff(got!, c.embedding)).toBeLessThan(1e-4);
  });

  const batch = ref.batch;
  if (batch) {
    it('a padded batch matches the single runs', async () => {
      const got = await embed(batch.input_ids, batch.attention_mask);
      got.forEach((v, k) => {
        expect(maxAbsDiff(v, batch.embeddings[k]!)).toBeLessThan(1e-4);
        expect(maxAbsDiff(v, ref.cases[k]!.embedding)).toBeLessThan(1e-4);
      });
    });
  }
});
