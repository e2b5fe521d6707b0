/**
 * The file variant of an LLM the models page downloads ahead, decided as the engine decides (src/models/llm-variants.ts)
 * — including the WGSL decoder's verdict on the architecture, from config.json read alone (a small file, fetched
 * without the rest of the model) when, and only when, that verdict changes which variant the engine loads first.
 */
import { wgslConfigRefusal } from '../engines/llm/wgsl/config';
import { onnxVariantToDownload, type LlmRunContext } from '../models/llm-variants';
import type { CatalogEntry } from '../models/types';

/** `readConfig`: the entry's config.json (for `variant`), read without downloading the rest of the model. */
export async function variantToDownload(entry: CatalogEntry, context: LlmRunContext,
  readConfig: (variant: string) => Promise<object>): Promise<string | undefined> {
  const assumingWgsl = onnxVariantToDownload(entry, context);
  if (!context.wgsl || assumingWgsl === undefined || !entry.files.some((f) => f.role === 'config')) return assumingWgsl;
  if (onnxVariantToDownload(entry, { ...context, wgsl: false }) === assumingWgsl) return assumingWgsl; // same either way
  let config: object;
  try {
    config = await readConfig(assumingWgsl);
  } catch {
    return assumingWgsl; // unreadable now (offline, storage): the download itself will answer why
  }
  return onnxVariantToDownload(entry, { ...context, wgslConfigRefusal: wgslConfigRefusal(config) });
}
