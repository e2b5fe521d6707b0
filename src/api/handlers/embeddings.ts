/**
 * POST /embeddings: validate against the spec, resolve the model, hand the inputs to the embeddings engine and
 * shape its vectors as a CreateEmbeddingResponse (float arrays or base64 of little-endian float32).
 */
import { kindRoutes } from '../kind-routes';
import { encodeVector, type EncodingFormat } from '../embedding-encoding';
import type { EmbeddingInput } from '../../engines/embeddings/types';
import { jsonResponse } from '../http';
import type { Handler } from '../types';
import { acceptRequest } from '../live-fields';

interface EmbeddingRequestBody {
  model: string;
  input: string | string[] | number[] | number[][];
  dimensions?: number;
  encoding_format?: EncodingFormat;
}

export const createEmbedding: Handler = async (ctx) => {
  const body = await ctx.json();
  acceptRequest(ctx, 'embeddings', body);
  const req = body as EmbeddingRequestBody;
  const entry = ctx.deps.registry.resolve(req.model, 'embeddings');
  const engine = await ctx.deps.engines.embeddings();
  const result = await engine.run({ entry, inputs: toInputs(req.input), dimensions: req.dimensions }, ctx.request.signal);
  const format = req.encoding_format ?? 'float';
  return jsonResponse(
    {
      object: 'list',
      data: result.vectors.map((v, index) => ({ object: 'embedding', index, embedding: encodeVector(v, format) })),
      model: req.model,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    },
    { headers: { 'x-hearth-backend': result.backend } },
  );
};

/** The spec's four input shapes become one list; `param` keeps each item's place for error messages. */
export function toInputs(input: EmbeddingRequestBody['input']): EmbeddingInput[] {
  if (typeof input === 'string') return [{ text: input, param: 'input' }];
  if (input.every((x) => typeof x === 'number')) return [{ ids: input as number[], param: 'input' }];
  return (input as (string | number[])[]).map((x, i) =>
    typeof x === 'string' ? { text: x, param: `input[${i}]` } : { ids: x, param: `input[${i}]` });
}

/** The path it serves (the embeddings kind's route: src/api/routes.ts). */
export const routes = kindRoutes('embeddings', [
  { path: '/embeddings', method: 'POST', handler: createEmbedding, operation: 'embeddings' },
]);
