/**
 * Turns the tensors of a LoRA file into the modules it adapts: which model part (UNet or one of the two text
 * encoders), the module's path in diffusers naming, and its down/up matrices with their scale. Reads the layouts
 * SDXL adapters are published in:
 *   - PEFT / diffusers ≥ 0.22: `unet.<path>.lora_A.weight` + `lora_B.weight` (`text_encoder.`, `text_encoder_2.`);
 *   - older diffusers: `<part>.<path>.lora.down.weight` / `lora.up.weight`, and attention processors
 *     (`….attn1.processor.to_q_lora.down.weight`, `to_out_lora` = `to_out.0`);
 *   - kohya / sd-scripts: `lora_unet_<path_with_underscores>.lora_down.weight` / `lora_up.weight` / `.alpha`,
 *     `lora_te1_…`, `lora_te2_…`, with the UNet in Stability's SGM block naming (input_blocks / middle_block /
 *     output_blocks), renamed here to diffusers' down_blocks / mid_block / up_blocks.
 * Kohya paths keep underscores (their dots are lost); `targets.ts` matches them against the model in that form.
 * Other adapter types (LoHa, LoKr, DoRA) are refused by name.
 */
import { invalidRequest } from '../../../core/errors';
import type { SafetensorsFile } from './safetensors';

export type LoraPart = 'unet' | 'text_encoder' | 'text_encoder_2';

export interface LoraModule {
  part: LoraPart;
  /** The module path, dotted (`down_blocks.1.attentions.0…to_q`) or, for kohya files, underscored. */
  path: string;
  underscored: boolean;
  /** The file's key prefix, for messages. */
  key: string;
  /** [rank, …in] and [out, rank, (1, 1)], as float32. */
  down: { shape: number[]; values: Float32Array };
  up: { shape: number[]; values: Float32Array };
  /** alpha / rank (1 when the file gives no alpha). */
  scale: number;
}

const PARAM = 'lora_weight_filename';
const PART_PREFIXES: [string, LoraPart][] = [
  ['unet.', 'unet'], ['text_encoder_2.', 'text_encoder_2'], ['text_encoder.', 'text_encoder'],
  ['te2.', 'text_encoder_2'], ['te1.', 'text_encoder'], ['te.', 'text_encoder'],
];
const KOHYA_PREFIXES: [string, LoraPart][] = [['lora_unet_', 'unet'], ['lora_te2_', 'text_encoder_2'], ['lora_te1_', 'text_encoder'], ['lora_te_', 'text_encoder']];
/** Suffix pairs (down, up) → the module key is what precedes them. */
const SUFFIXES: [string, string][] = [
  ['.lora_A.weight', '.lora_B.weight'],
  ['.lora.down.weight', '.lora.up.weight'],
  ['.lora_down.weight', '.lora_up.weight'],
  ['.lora_linear_layer.down.weight', '.lora_linear_layer.up.weight'],
  ['_lora.down.weight', '_lora.up.weight'],
];
const UNSUPPORTED = [/\.hada_w\d/, /\.lokr_w\d/, /lora_magnitude_vector/, /\.dora_scale$/, /\.diff(_b)?$/];

export function loraModules(file: SafetensorsFile): LoraModule[] {
  for (const name of file.tensors.keys()) {
    if (UNSUPPORTED.some((re) => re.test(name))) {
      throw invalidRequest(`The adapter is not a LoRA (tensor "${name}" belongs to LoHa/LoKr/DoRA or a full-weight diff); only LoRA adapters are supported`, PARAM, 'unsupported_lora');
    }
  }
  const globalAlpha = metadataAlpha(file.metadata);
  const modules: LoraModule[] = [];
  const used = new Set<string>();
  for (const [name, downTensor] of file.tensors) {
    const pair = SUFFIXES.find(([down]) => name.endsWith(down));
    if (!pair) continue;
    const key = name.slice(0, -pair[0].length);
    const upTensor = file.tensors.get(key + pair[1]);
    if (!upTensor) throw invalidRequest(`LoRA tensor "${name}" has no matching "${key}${pair[1]}"`, PARAM, 'invalid_lora');
    used.add(name).add(key + pair[1]);
    const down = { shape: downTensor.shape, values: downTensor.values() };
    const up = { shape: upTensor.shape, values: upTensor.values() };
    const rank = down.shape[0];
    if (down.shape.length < 2 || up.shape.length < 2 || up.shape[1] !== rank || up.shape.slice(2).some((d) => d !== 1)) {
      throw invalidRequest(`LoRA module "${key}" has mismatched shapes: down [${down.shape.join(', ')}], up [${up.shape.join(', ')}]`, PARAM, 'invalid_lora');
    }
    const alphaTensor = file.tensors.get(`${key}.alpha`) ?? file.tensors.get(`${key}.lora.alpha`);
    if (alphaTensor) used.add(alphaTensor.name);
    const alpha = alphaTensor ? alphaTensor.values()[0] : globalAlpha;
    const scale = alpha === undefined ? 1 : alpha / rank;
    modules.push({ ...locate(key, pair[0] === '_lora.down.weight'), key, down, up, scale });
  }
  if (!modules.length) {
    throw invalidRequest('The file holds no LoRA weights (no lora_A/lora_B, lora.down/lora.up or lora_down/lora_up tensors)', PARAM, 'invalid_lora');
  }
  return modules;
}

/** The part and module path a key names. */
function locate(key: string, processor: boolean): Pick<LoraModule, 'part' | 'path' | 'underscored'> {
  for (const [prefix, part] of KOHYA_PREFIXES) {
    if (key.startsWith(prefix)) {
      const path = key.slice(prefix.length);
      return { part, path: part === 'unet' ? sgmToDiffusers(path) : path, underscored: true };
    }
  }
  let rest = key.replace(/^base_model\.model\./, '');
  let part: LoraPart = 'unet';
  for (const [prefix, p] of PART_PREFIXES) {
    if (rest.startsWith(prefix)) {
      part = p;
      rest = rest.slice(prefix.length);
      break;
    }
  }
  // Attention processors: `attn1.processor.to_q_lora` adapts `attn1.to_q`; `to_out_lora` adapts `to_out.0`.
  if (processor) rest = rest.replace(/\.processor\.(to_[qkv]|to_out)$/, (_, proj: string) => `.${proj === 'to_out' ? 'to_out.0' : proj}`);
  return { part, path: rest, underscored: false };
}

/** Kohya names SDXL's UNet blocks as Stability's SGM code does; diffusers (and ONNX exports) use down/mid/up blocks. */
export function sgmToDiffusers(path: string, layersPerBlock = 2): string {
  const perBlock = layersPerBlock + 1;
  const resnet = (rest: string) => rest
    .replace(/^in_layers_2/, 'conv1').replace(/^out_layers_3/, 'conv2')
    .replace(/^emb_layers_1/, 'time_emb_proj').replace(/^skip_connection/, 'conv_shortcut');
  let m = /^input_blocks_(\d+)_(\d+)_(.+)$/.exec(path);
  if (m) {
    const i = Number(m[1]);
    const block = Math.floor((i - 1) / perBlock);
    const layer = (i - 1) % perBlock;
    if (m[3].startsWith('op')) return `down_blocks_${block}_downsamplers_0_conv`;
    return m[2] === '0' ? `down_blocks_${block}_resnets_${layer}_${resnet(m[3])}` : `down_blocks_${block}_attentions_${layer}_${m[3]}`;
  }
  m = /^middle_block_(\d+)_(.+)$/.exec(path);
  if (m) {
    const where = ['resnets_0', 'attentions_0', 'resnets_1'][Number(m[1])];
    return `mid_block_${where}_${where.startsWith('resnets') ? resnet(m[2]) : m[2]}`;
  }
  m = /^output_blocks_(\d+)_(\d+)_(.+)$/.exec(path);
  if (m) {
    const i = Number(m[1]);
    const block = Math.floor(i / perBlock);
    const layer = i % perBlock;
    if (m[2] === '0') return `up_blocks_${block}_resnets_${layer}_${resnet(m[3])}`;
    if (m[2] === '1' && !m[3].startsWith('conv')) return `up_blocks_${block}_attentions_${layer}_${m[3]}`;
    return `up_blocks_${block}_upsamplers_0_${m[3]}`;
  }
  return path
    .replace(/^input_blocks_0_0$/, 'conv_in')
    .replace(/^time_embed_0/, 'time_embedding_linear_1').replace(/^time_embed_2/, 'time_embedding_linear_2')
    .replace(/^label_emb_0_0/, 'add_embedding_linear_1').replace(/^label_emb_0_2/, 'add_embedding_linear_2')
    .replace(/^out_2$/, 'conv_out');
}

/** A file-wide alpha from diffusers/PEFT metadata (`lora_adapter_metadata` or `ss_network_alpha`), if any. */
function metadataAlpha(metadata: Record<string, string>): number | undefined {
  if (metadata.ss_network_alpha && Number.isFinite(Number(metadata.ss_network_alpha))) return Number(metadata.ss_network_alpha);
  for (const key of ['lora_adapter_metadata', 'unet.lora_adapter_metadata']) {
    try {
      const parsed = JSON.parse(metadata[key] ?? 'null') as { lora_alpha?: number } | null;
      if (parsed && typeof parsed.lora_alpha === 'number') return parsed.lora_alpha;
    } catch { /* not JSON: no alpha */ }
  }
  return undefined;
}
