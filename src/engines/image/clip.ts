/**
 * SDXL's text side: each CLIP tokenizer makes the 77 ids its encoder wants (BOS + up to 75 ids + EOS, padded with
 * that tokenizer's pad token), both encoders run, and the pipeline's conditioning is the two penultimate hidden
 * states concatenated per token, plus the second encoder's pooled, projected `text_embeds`. SD 1.x/2.x: one
 * encoder's last_hidden_state, no pooled embedding.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type * as OrtModule from 'onnxruntime-web';
import { internal } from '../../core/errors';
import { float16ToFloat32 } from '../../util/float16';

export const CLIP_LENGTH = 77;

type TokenText = string | { content: string } | null | undefined;
const text = (t: TokenText) => (typeof t === 'string' ? t : t?.content);

export class ClipTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly bos: number;
  private readonly eos: number;
  private readonly pad: number;

  constructor(tokenizerJson: object, config: { bos_token?: TokenText; eos_token?: TokenText; pad_token?: TokenText }) {
    this.tokenizer = new Tokenizer(tokenizerJson, config);
    const id = (t: string | undefined, fallback: string) => {
      const v = this.tokenizer.token_to_id(t ?? fallback);
      if (v === undefined) throw internal(`CLIP tokenizer lacks the token ${t ?? fallback}`, 'bad_model_config');
      return v;
    };
    this.bos = id(text(config.bos_token), '<|startoftext|>');
    this.eos = id(text(config.eos_token), '<|endoftext|>');
    this.pad = id(text(config.pad_token), '<|endoftext|>');
  }

  /** The 77 ids of `prompt` (longer prompts are cut to 75 tokens, as SDXL pipelines do). */
  ids77(prompt: string): number[] {
    const ids = this.tokenizer.encode(prompt, { add_special_tokens: false }).ids.slice(0, CLIP_LENGTH - 2);
    const out = [this.bos, ...ids, this.eos];
    while (out.length < CLIP_LENGTH) out.push(this.pad);
    return out;
  }
}

export interface TextConditioning {
  /** [77, width1 + width2] */
  hidden: Float32Array;
  /** [pooledWidth] */
  pooled: Float32Array;
}

/**
 * Runs one CLIP encoder on 77 ids (int32 or int64, as its `input_ids` declares) and returns the hidden state that
 * conditions the UNet, with all its outputs (for `text_embeds`): SD 1.x/2.x use `last_hidden_state`; SDXL uses the
 * penultimate `hidden_states.N` — the only one, when an export (microsoft/sdxl-turbo-webnn) keeps just that one.
 */
async function conditioning(ort: typeof OrtModule, session: OrtModule.InferenceSession, ids: number[], family: 'sdxl' | 'sd') {
  const meta = session.inputMetadata.find((m) => m.name === 'input_ids');
  const int32 = meta?.isTensor && meta.type === 'int32';
  const input = int32 ? new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length])
    : new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
  const out = await session.run({ input_ids: input });
  let name = 'last_hidden_state';
  if (family === 'sdxl') {
    const layers = Object.keys(out).filter((k) => /^hidden_states\.\d+$/.test(k)).map((k) => Number(k.slice(14)));
    if (!layers.length) throw internal('The text encoder exports no hidden_states.N output', 'bad_model_output');
    name = `hidden_states.${layers.length === 1 ? layers[0] : Math.max(...layers) - 1}`;
  }
  const tensor = out[name];
  if (!tensor) throw internal(`The text encoder exports no ${name}`, 'bad_model_output');
  const data = await tensor.getData();
  const hidden = tensor.type === 'float16' ? float16ToFloat32(data as Uint16Array) : data as Float32Array;
  return { hidden, width: tensor.dims[2], outputs: out };
}

export async function encodePrompt(
  ort: typeof OrtModule,
  encoders: { one: OrtModule.InferenceSession; two?: OrtModule.InferenceSession },
  tokenizers: { one: ClipTokenizer; two?: ClipTokenizer },
  prompt: string,
  family: 'sdxl' | 'sd' = 'sdxl',
): Promise<TextConditioning> {
  const a = await conditioning(ort, encoders.one, tokenizers.one.ids77(prompt), family);
  if (family === 'sd') {
    const hidden = a.hidden.slice();
    for (const t of Object.values(a.outputs)) t.dispose();
    return { hidden, pooled: new Float32Array(0) };
  }
  if (!encoders.two || !tokenizers.two) throw internal('An SDXL model needs text_encoder_2 and tokenizer_2', 'bad_catalog_entry');
  const b = await conditioning(ort, encoders.two, tokenizers.two.ids77(prompt), family);
  const pooledTensor = b.outputs.text_embeds;
  if (!pooledTensor) throw internal('text_encoder_2 exports no text_embeds', 'bad_model_output');
  const pooled = ((await pooledTensor.getData()) as Float32Array).slice();
  const width = a.width + b.width;
  const hidden = new Float32Array(CLIP_LENGTH * width);
  for (let t = 0; t < CLIP_LENGTH; t++) {
    hidden.set(a.hidden.subarray(t * a.width, (t + 1) * a.width), t * width);
    hidden.set(b.hidden.subarray(t * b.width, (t + 1) * b.width), t * width + a.width);
  }
  for (const out of [a.outputs, b.outputs]) for (const t of Object.values(out)) t.dispose();
  return { hidden, pooled };
}

/** SDXL base's conditioning for an absent negative prompt. */
export function zeroConditioning(like: TextConditioning): TextConditioning {
  return { hidden: new Float32Array(like.hidden.length), pooled: new Float32Array(like.pooled.length) };
}
