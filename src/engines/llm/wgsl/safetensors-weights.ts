/**
 * A Llama-family decoder's weights from Hugging Face `model.safetensors` (one file or the shards of one model), by the
 * names transformers saves: `model.embed_tokens.weight`, `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight` (+ `.bias`
 * for Qwen2), `model.layers.{i}.mlp.{gate,up,down}_proj.weight`, the two layer norms, `model.norm.weight`, and
 * `lm_head.weight` unless tied. Matrices are torch's [out, in] ('nk'), kept as views of the file's bytes, never
 * converted on the CPU: F32 as 'f32', F16 and BF16 as 'f16' weights of that format (the kernels widen them; see
 * widen_f16.wgsl / widen_bf16.wgsl); only F64 (which no checkpoint uses for matrices) is rounded to float32. Norms and
 * biases (1-D, tiny) are widened to float32 once at load.
 */
import { readSafetensors, type SafeTensor } from '../../image/lora/safetensors';
import { f32Bytes, type HalfFormat, type LinearWeight, type LlamaArchitecture, type LlamaLayerWeights, type LlamaWeights } from './weights';

export function llamaWeightsFromSafetensors(shards: Uint8Array[], arch: LlamaArchitecture, tiedEmbeddings: boolean): LlamaWeights {
  const tensors = new Map<string, SafeTensor>();
  for (const bytes of shards) for (const [name, t] of readSafetensors(bytes, 'model', 'model').tensors) tensors.set(name, t);
  const find = (name: string) => tensors.get(name) ?? tensors.get(name.replace(/^model\./, ''));
  const matrix = (name: string, n: number, k: number, allowMoreRows = false): LinearWeight => {
    const t = find(name);
    if (!t) throw new Error(`model.safetensors has no ${name}`);
    const [rows, cols] = t.shape;
    if (t.shape.length !== 2 || cols !== k || (rows !== n && !(allowMoreRows && rows > n))) {
      throw new Error(`${name} is [${t.shape.join(', ')}], expected [${n}, ${k}]`);
    }
    if (t.dtype === 'F16' || t.dtype === 'BF16') {
      const format: HalfFormat = t.dtype === 'F16' ? 'f16' : 'bf16';
      return { kind: 'f16', format, layout: 'nk', n: rows, k: cols, bytes: t.bytes() };
    }
    return { kind: 'f32', layout: 'nk', n: rows, k: cols, bytes: t.dtype === 'F32' ? t.bytes() : f32Bytes(t.values()) };
  };
  const vector = (name: string, n: number, optional = false): Float32Array | null => {
    const t = find(name);
    if (!t) {
      if (optional) return null;
      throw new Error(`model.safetensors has no ${name}`);
    }
    if (t.shape.length !== 1 || t.shape[0] !== n) throw new Error(`${name} is [${t.shape.join(', ')}], expected [${n}]`);
    return t.values();
  };
  const q = arch.heads * arch.headDim;
  const kv = arch.kvHeads * arch.headDim;
  const layers: LlamaLayerWeights[] = [];
  for (let i = 0; i < arch.layers; i++) {
    const p = `model.layers.${i}`;
    layers.push({
      attnNorm: vector(`${p}.input_layernorm.weight`, arch.hidden)!,
      q: matrix(`${p}.self_attn.q_proj.weight`, q, arch.hidden),
      k: matrix(`${p}.self_attn.k_proj.weight`, kv, arch.hidden),
      v: matrix(`${p}.self_attn.v_proj.weight`, kv, arch.hidden),
      o: matrix(`${p}.self_attn.o_proj.weight`, arch.hidden, q),
      qBias: vector(`${p}.self_attn.q_proj.bias`, q, true),
      kBias: vector(`${p}.self_attn.k_proj.bias`, kv, true),
      vBias: vector(`${p}.self_attn.v_proj.bias`, kv, true),
      mlpNorm: vector(`${p}.post_attention_layernorm.weight`, arch.hidden)!,
      gate: matrix(`${p}.mlp.gate_proj.weight`, arch.intermediate, arch.hidden),
      up: matrix(`${p}.mlp.up_proj.weight`, arch.intermediate, arch.hidden),
      down: matrix(`${p}.mlp.down_proj.weight`, arch.hidden, arch.intermediate),
    });
  }
  const embed = matrix('model.embed_tokens.weight', arch.vocab, arch.hidden, true);
  const lmHead = tiedEmbeddings || !find('lm_head.weight') ? embed : matrix('lm_head.weight', arch.vocab, arch.hidden, true);
  return { arch, embed, layers, finalNorm: vector('model.norm.weight', arch.hidden)!, lmHead };
}
