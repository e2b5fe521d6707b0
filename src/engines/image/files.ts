/**
 * Gathers an image model's files for ImageService from whatever its repository ships: the ONNX parts it has (with
 * their external data, any name), and each CLIP tokenizer from `tokenizer.json` or, where there is none, from
 * `vocab.json` + `merges.txt` (clip-files.ts); and the safety checker's files. The reader is any ModelFiles: the
 * artifact store in workers, a directory in Node.
 */
import { internal } from '../../core/errors';
import type { CatalogEntry, ExternalDataFile } from '../../models/types';
import { hasFile, type ModelFiles } from '../model-files';
import { clipTokenizerJson, type ClipTokenizerConfig } from './clip-files';
import type { SchedulerConfig } from './scheduler';

/** The bytes of every part (by catalog role) and the parsed JSON configs. */
export interface SdxlFiles {
  models: Record<string, Uint8Array>;
  /** External weights by part (`unet` → [{path, data}]) for exports over 2 GB. */
  externalData: Record<string, ExternalDataFile[]>;
  tokenizer: object; tokenizerConfig: object;
  /** SDXL's second tokenizer (absent for SD 1.x/2.x). */
  tokenizer2?: object; tokenizer2Config?: object;
  schedulerConfig: SchedulerConfig;
}

/** What loadImageFiles reads through (any ModelFiles). */
export type ModelFileReader = ModelFiles;

/** The ONNX parts of an image model, by catalog role (each optional but the text encoders, the UNet and the VAE decoder). */
export const IMAGE_PARTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder', 'controlnet', 'unet_controlnet'] as const;
export type ImagePart = (typeof IMAGE_PARTS)[number];

export async function loadImageFiles(entry: CatalogEntry, reader: ModelFileReader): Promise<SdxlFiles> {
  const has = (role: string) => entry.files.some((f) => f.role === role && !f.optional);
  const models: Record<string, Uint8Array> = {};
  const externalData: Record<string, ExternalDataFile[]> = {};
  for (const part of IMAGE_PARTS) {
    if (!has(part)) continue;
    models[part] = await reader.read(entry, part);
    const data = await reader.readExternalData(entry, part);
    if (data.length) externalData[part] = data;
  }
  /** `tokenizer` or `tokenizer_2`: tokenizer.json when the repository has it, else built from vocab.json + merges.txt. */
  const tokenizer = async (role: string) => {
    const config = (await reader.readJson(entry, `${role}_config`)) as ClipTokenizerConfig;
    if (has(role)) return { json: await reader.readJson(entry, role), config };
    if (!has(`${role}_vocab`) || !has(`${role}_merges`)) {
      throw internal(`Model ${entry.id} has neither ${role}.json nor vocab.json + merges.txt for its ${role}`, 'bad_catalog_entry');
    }
    const vocab = (await reader.readJson(entry, `${role}_vocab`)) as Record<string, number>;
    const merges = new TextDecoder().decode(await reader.read(entry, `${role}_merges`));
    return { json: clipTokenizerJson(vocab, merges, config), config };
  };
  const one = await tokenizer('tokenizer');
  const two = has('text_encoder_2') ? await tokenizer('tokenizer_2') : undefined;
  return {
    models, externalData,
    tokenizer: one.json, tokenizerConfig: one.config,
    ...(two && { tokenizer2: two.json, tokenizer2Config: two.config }),
    schedulerConfig: (await reader.readJson(entry, 'scheduler_config')) as SchedulerConfig,
  };
}

/** The safety checker's ONNX bytes and, when the repository has it, its preprocessor config. */
export async function readSafetyCheckerFiles(entry: CatalogEntry, reader: ModelFiles): Promise<{ model: Uint8Array; preprocessor?: object }> {
  return {
    model: await reader.read(entry, 'safety_checker'),
    preprocessor: hasFile(entry, 'safety_checker_config') ? await reader.readJson(entry, 'safety_checker_config') : undefined,
  };
}
