/**
 * A GGUF file's llama.cpp names and metadata → the Llama-family model the WGSL decoder runs. Architectures: `llama`
 * (Llama 1/2/3.x, Mistral, SmolLM, TinyLlama…) and `qwen2` (Qwen2/2.5, with q/k/v biases). Matrices stay in the
 * file's blocks (F32 as float32 [n, k], the others as GGML blocks read by gemv_gguf.wgsl); norms and biases are
 * float32 vectors. RoPE: llama.cpp's converter permutes the q/k rows of `llama` models so that RoPE rotates adjacent
 * pairs (its "normal" mode), so those run with the interleaved layout and nothing is un-permuted; `qwen2` is stored
 * unpermuted and rotates halves (NEOX). Llama 3.1+ rope scaling arrives as the `rope_freqs.weight` tensor.
 */
import { invalidRequest } from '../../../core/errors';
import { checkGgufTypes, type GgufFile, type GgufHeader, type GgufTensor } from './gguf-file';
import { halfToFloat } from './gguf-reference';
import { f32FromBytes, type LinearWeight, type LlamaArchitecture, type LlamaLayerWeights, type LlamaWeights } from './weights';

export const GGUF_ARCHITECTURES = ['llama', 'qwen2'] as const;

const unsupported = (message: string) => invalidRequest(message, 'file', 'unsupported_gguf_model');
const bad = (message: string) => invalidRequest(`Not a readable GGUF file: ${message}`, 'file', 'invalid_gguf');

/** The architecture named by the metadata, refused with the list of supported ones. */
export function ggufArchitecture(metadata: Record<string, unknown>): (typeof GGUF_ARCHITECTURES)[number] {
  const arch = metadata['general.architecture'];
  if (typeof arch !== 'string') throw bad('general.architecture is missing');
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw unsupported(`GGUF architecture "${arch}" is not supported; supported: ${GGUF_ARCHITECTURES.join(', ')}`);
  }
  return arch as (typeof GGUF_ARCHITECTURES)[number];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

/** The decoder's architecture from the metadata (and the embedding's shape for the vocabulary size). */
export function ggufLlamaArchitecture(header: Pick<GgufHeader, 'metadata' | 'tensors'>): LlamaArchitecture {
  const m = header.metadata;
  const arch = ggufArchitecture(m);
  const key = (k: string) => num(m[`${arch}.${k}`]);
  const need = (k: string) => {
    const v = key(k);
    if (!Number.isInteger(v) || (v as number) <= 0) throw bad(`${arch}.${k} is missing`);
    return v as number;
  };
  const hidden = need('embedding_length');
  const heads = need('attention.head_count');
  const kvHeads = key('attention.head_count_kv') ?? heads;
  const headDim = key('attention.key_length') ?? hidden / heads;
  if ((key('attention.value_length') ?? headDim) !== headDim) throw unsupported('GGUF models whose value heads differ in size from key heads are not supported');
  if (!Number.isInteger(headDim) || headDim % 2 || headDim > 256) throw unsupported(`head size ${headDim} is not an even size up to 256`);
  if (heads % kvHeads) throw bad(`${heads} attention heads do not group over ${kvHeads} KV heads`);
  const ropeDims = key('rope.dimension_count') ?? headDim;
  if (ropeDims !== headDim) throw unsupported(`partial rotary embeddings (${ropeDims} of ${headDim} dimensions) are not supported`);
  const scaling = m[`${arch}.rope.scaling.type`];
  if (scaling !== undefined && scaling !== 'none') throw unsupported(`rope scaling "${String(scaling)}" is not supported (none, or Llama 3's rope_freqs, are)`);
  const embed = header.tensors.find((t) => t.name === 'token_embd.weight');
  if (!embed) throw bad('it has no token_embd.weight tensor');
  return {
    hidden,
    layers: need('block_count'),
    heads,
    kvHeads,
    headDim,
    intermediate: need('feed_forward_length'),
    vocab: embed.dims[1],
    rmsEps: key('attention.layer_norm_rms_epsilon') ?? 1e-5,
    ropeTheta: key('rope.freq_base') ?? 10000,
    ropeScaling: null,
    ropeLayout: arch === 'llama' ? 'interleaved' : 'half',
    maxPositions: key('context_length') ?? 2048,
  };
}

/** Whether the decoder reads this tensor (others, e.g. unused extras, may be in any type). */
export const ggufTensorNeeded = (name: string) =>
  /^(token_embd|output_norm|output|rope_freqs)\.weight$/.test(name) || /^blk\.\d+\.(attn_(norm|q|k|v|output)|ffn_(norm|gate|up|down))\.(weight|bias)$/.test(name);

export function llamaWeightsFromGguf(file: GgufFile): LlamaWeights {
  const header = file.header;
  checkGgufTypes(header, ggufTensorNeeded);
  const arch = ggufLlamaArchitecture(header);
  const get = (name: string): GgufTensor => {
    const t = file.tensors.get(name);
    if (!t) throw bad(`it has no ${name} tensor`);
    return t;
  };
  const matrix = (name: string, n: number, k: number): LinearWeight => {
    const t = get(name);
    if (t.dims.length !== 2 || t.dims[0] !== k || t.dims[1] !== n) throw bad(`${name} is [${t.dims.join(', ')}], expected [${k}, ${n}] (GGML order)`);
    if (t.type === 'F32') return { kind: 'f32', layout: 'nk', n, k, bytes: t.bytes };
    return { kind: 'gguf', type: t.type, n, k, bytes: t.bytes };
  };
  const vector = (name: string, n: number, optional = false): Float32Array | null => {
    const t = file.tensors.get(name);
    if (!t) {
      if (optional) return null;
      throw bad(`it has no ${name} tensor`);
    }
    if (t.dims.reduce((a, b) => a * b, 1) !== n) throw bad(`${name} has ${t.dims.join('×')} elements, expected ${n}`);
    if (t.type === 'F32') return f32FromBytes(t.bytes);
    if (t.type === 'F16') return Float32Array.from({ length: n }, (_, i) => halfToFloat(t.bytes[2 * i] | (t.bytes[2 * i + 1] << 8)));
    throw unsupported(`${name} is ${t.type}; vectors must be F32 or F16`);
  };
  const q = arch.heads * arch.headDim;
  const kv = arch.kvHeads * arch.headDim;
  const layers: LlamaLayerWeights[] = [];
  for (let i = 0; i < arch.layers; i++) {
    const p = `blk.${i}.`;
    layers.push({
      attnNorm: vector(`${p}attn_norm.weight`, arch.hidden)!,
      q: matrix(`${p}attn_q.weight`, q, arch.hidden),
      k: matrix(`${p}attn_k.weight`, kv, arch.hidden),
      v: matrix(`${p}attn_v.weight`, kv, arch.hidden),
      o: matrix(`${p}attn_output.weight`, arch.hidden, q),
      qBias: vector(`${p}attn_q.bias`, q, true),
      kBias: vector(`${p}attn_k.bias`, kv, true),
      vBias: vector(`${p}attn_v.bias`, kv, true),
      mlpNorm: vector(`${p}ffn_norm.weight`, arch.hidden)!,
      gate: matrix(`${p}ffn_gate.weight`, arch.intermediate, arch.hidden),
      up: matrix(`${p}ffn_up.weight`, arch.intermediate, arch.hidden),
      down: matrix(`${p}ffn_down.weight`, arch.hidden, arch.intermediate),
    });
  }
  const ropeFactors = vector('rope_freqs.weight', arch.headDim / 2, true);
  const embed = matrix('token_embd.weight', arch.vocab, arch.hidden);
  const lmHead = file.tensors.has('output.weight') ? matrix('output.weight', arch.vocab, arch.hidden) : embed;
  return { arch: { ...arch, ropeFactors }, embed, layers, finalNorm: vector('output_norm.weight', arch.hidden)!, lmHead };
}
