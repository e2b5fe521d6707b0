/**
 * A Hugging Face config.json → the architecture our WGSL decoder runs, or an Error saying why it cannot (the reason
 * the backend registry records before falling back to onnxruntime-web).
 */
import type { LlamaArchitecture } from './weights';

/** `model_type`s whose decoder is Llama's: RMSNorm, RoPE, GQA, SwiGLU (Qwen2 adds q/k/v biases, read from the weights). */
export const WGSL_MODEL_TYPES = ['llama', 'qwen2', 'mistral'] as const;

interface HfLlamaConfig {
  model_type?: string;
  hidden_size?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_key_value_heads?: number;
  head_dim?: number;
  intermediate_size?: number;
  vocab_size?: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  rope_scaling?: { rope_type?: string; type?: string; factor?: number; low_freq_factor?: number; high_freq_factor?: number; original_max_position_embeddings?: number } | null;
  max_position_embeddings?: number;
  hidden_act?: string;
  sliding_window?: number | null;
  use_sliding_window?: boolean;
}

/** Why the WGSL decoder cannot run the model config.json describes; null when it can (its weights decide the rest). */
export function wgslConfigRefusal(config: object): string | null {
  try {
    llamaArchitecture(config);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export function llamaArchitecture(config: object): LlamaArchitecture {
  const c = config as HfLlamaConfig;
  const type = c.model_type ?? '(none)';
  if (!(WGSL_MODEL_TYPES as readonly string[]).includes(type)) {
    throw new Error(`model_type "${type}" is not one the WGSL decoder runs (${WGSL_MODEL_TYPES.join(', ')})`);
  }
  if (c.hidden_act && c.hidden_act !== 'silu') throw new Error(`hidden_act "${c.hidden_act}" is not silu`);
  if (c.use_sliding_window) throw new Error('sliding-window attention is not supported');
  const need = (v: number | undefined, name: string) => {
    if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`config.json lacks ${name}`);
    return v as number;
  };
  const hidden = need(c.hidden_size, 'hidden_size');
  const heads = need(c.num_attention_heads, 'num_attention_heads');
  const kvHeads = c.num_key_value_heads ?? heads;
  const headDim = c.head_dim ?? hidden / heads;
  if (!Number.isInteger(headDim) || headDim % 2 || headDim > 256) throw new Error(`head_dim ${headDim} is not an even size up to 256`);
  if (heads % kvHeads) throw new Error(`${heads} attention heads do not group over ${kvHeads} KV heads`);
  let ropeScaling: LlamaArchitecture['ropeScaling'] = null;
  if (c.rope_scaling) {
    const kind = c.rope_scaling.rope_type ?? c.rope_scaling.type;
    if (kind === 'llama3') {
      const s = c.rope_scaling;
      ropeScaling = {
        factor: s.factor ?? 8, lowFreqFactor: s.low_freq_factor ?? 1, highFreqFactor: s.high_freq_factor ?? 4,
        originalMaxPositions: s.original_max_position_embeddings ?? 8192,
      };
    } else if (kind !== 'default') throw new Error(`rope_scaling "${kind}" is not supported (llama3 and default are)`);
  }
  return {
    hidden,
    layers: need(c.num_hidden_layers, 'num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    intermediate: need(c.intermediate_size, 'intermediate_size'),
    vocab: need(c.vocab_size, 'vocab_size'),
    rmsEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta: c.rope_theta ?? 10000,
    ropeScaling,
    ropeLayout: 'half',
    maxPositions: c.max_position_embeddings ?? 2048,
  };
}
