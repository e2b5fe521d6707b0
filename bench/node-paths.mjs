// The Node side of the throughput bench: a bare onnxruntime-web session.run loop, and the API assembled as in tests/unit/node-api.ts.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { ROOT } from './build.mjs';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

export { ort };

const readPublic = (url) => new Uint8Array(readFileSync(`${ROOT}public/${url}`));
const fileUrl = (entry, role) => entry.files.find((f) => f.role === role).url;
const readEntryFile = (entry, role) => readPublic(fileUrl(entry, role));
const readEntryJson = (entry, role) => JSON.parse(new TextDecoder().decode(readEntryFile(entry, role)));

/** Loads the bundled API modules (see build.mjs: buildNodeApi). */
export async function loadApiModules(dir) {
  const [{ createApi }, { ModelRegistry }, { EmbeddingsService }, { EmbeddingTokenizer }] = await Promise.all(
    ['handle', 'registry', 'service', 'tokenize'].map((m) => import(`${dir}/${m}.mjs`)));
  return { createApi, ModelRegistry, EmbeddingsService, EmbeddingTokenizer };
}

/**
 * tests/unit/node-api.ts's nodeApi(), from the bundled modules: createApi + EmbeddingsService on ORT wasm in Node
 * (`coalesceMs`: the idle engine's wait before it runs; undefined: the service's default).
 */
export function nodeApi(mods, coalesceMs) {
  const service = new mods.EmbeddingsService(ort, async (entry) => ({
    model: readEntryFile(entry, 'model'),
    tokenizer: readEntryJson(entry, 'tokenizer'),
    tokenizerConfig: readEntryJson(entry, 'tokenizer_config'),
  }), ['wasm'], coalesceMs);
  const handle = mods.createApi({
    registry: new mods.ModelRegistry(),
    engines: { embeddings: async () => service },
    isDownloaded: async (e) => e.builtIn,
  });
  return { handle, service };
}

/**
 * A bare session on the same model file with the session options the embedder uses, fed the batch the embedder
 * would build: the same tokenizer (with its truncation), padded to the longest input, mask 1 on real tokens.
 */
export async function directSession(mods, entry, texts) {
  const spec = entry.embeddings;
  const tokenizer = new mods.EmbeddingTokenizer(readEntryJson(entry, 'tokenizer'), readEntryJson(entry, 'tokenizer_config'), spec.maxTokens);
  const ids = texts.map((t) => tokenizer.encode(t));
  const batch = ids.length;
  const seq = Math.max(...ids.map((x) => x.length));
  const inputIds = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq);
  ids.forEach((row, b) => row.forEach((id, t) => {
    inputIds[b * seq + t] = BigInt(id);
    mask[b * seq + t] = 1n;
  }));
  const session = await ort.InferenceSession.create(readEntryFile(entry, 'model'), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds = {
    [spec.inputs.inputIds]: new ort.Tensor('int64', inputIds, [batch, seq]),
    [spec.inputs.attentionMask]: new ort.Tensor('int64', mask, [batch, seq]),
  };
  if (spec.inputs.tokenTypeIds && session.inputNames.includes(spec.inputs.tokenTypeIds)) {
    feeds[spec.inputs.tokenTypeIds] = new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]);
  }
  return {
    promptTokens: ids.reduce((s, x) => s + x.length, 0),
    paddedShape: [batch, seq],
    async run() {
      const out = await session.run(feeds);
      const hidden = out[spec.output];
      if (!hidden) throw new Error(`no ${spec.output} output`);
      return hidden.data.length;
    },
    release: () => session.release(),
  };
}

export const embeddingsRequest = (model, input) => new Request('http://localhost/inference/v1/embeddings', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model, input }),
});
