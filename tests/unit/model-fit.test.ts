// Whether a model can load in a browser, decided from catalog sizes before any download (src/models/fit.ts): graph
// files over one ArrayBuffer, external data or graph + data over the 4 GiB WebAssembly heap are refused with a 503
// naming the file, its size, the limit and the device's WebGPU limits; every built-in and real catalog entry that
// the catalog offers for local use fits. External data files are found by the catalog's declaration, whatever
// their name (model.onnx_data, model.onnx.data, weights.pb).
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../src/models/catalog';
import { BROWSER_LIMITS, checkFits, type DeviceLimits } from '../../src/models/fit';
import { dataPathOf, externalDataFiles, filesFor } from '../../src/models/store';
import type { CatalogEntry, ModelFile } from '../../src/models/types';
import { HearthError } from '../../src/api/errors';

const GPU: DeviceLimits = { ...BROWSER_LIMITS, maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27 };
const entry = (files: ModelFile[]): CatalogEntry => ({
  id: 'test/big', aliases: [], kind: 'image', backend: 'onnx', ownedBy: 'test', description: '', builtIn: false, created: 0, files,
});
const refusal = (files: ModelFile[], limits = GPU): HearthError => {
  try {
    checkFits(entry(files), files, limits);
  } catch (e) {
    return e as HearthError;
  }
  throw new Error('not refused');
};

describe('checkFits', () => {
  it('refuses external data over the 4 GiB heap (fp32 SDXL UNet), naming file, size and the device limits', () => {
    const e = refusal([
      { role: 'unet', url: 'https://hf.co/x/unet/model.onnx', size: 1_200_000 },
      { role: 'unet_data', url: 'https://hf.co/x/unet/model.onnx_data', size: 10_269_917_184, externalDataOf: 'unet' },
    ]);
    expect(e).toBeInstanceOf(HearthError);
    expect(e.status).toBe(503);
    expect(e.code).toBe('model_too_large');
    expect(e.message).toContain('unet/model.onnx_data is 10.27 GB (10,269,917,184 bytes)');
    expect(e.message).toContain('4 GiB');
    expect(e.message).toContain('maxBufferSize 1 GiB, maxStorageBufferBindingSize 0.13 GiB');
    expect(e.message).toContain('What fits');
  });

  it('refuses a graph file over one ArrayBuffer, and a graph + external data over the heap', () => {
    expect(refusal([{ role: 'unet', url: 'u/unet/model.onnx', size: 2.5e9 }]).message).toContain('unet/model.onnx is 2.50 GB');
    const both = refusal([
      { role: 'unet', url: 'u/unet/model.onnx', size: 1.9e9 },
      { role: 'unet_data', url: 'u/unet/weights.pb', size: 2.9e9, externalDataOf: 'unet' },
    ], BROWSER_LIMITS);
    expect(both.message).toContain('unet/model.onnx with its external data (unet/weights.pb) is 4.80 GB');
    expect(both.message).toContain('no WebGPU adapter');
  });

  it('lets a 2.78 GB external data file with a small graph through (it is streamed, never one ArrayBuffer)', () => {
    const files = [
      { role: 'text_encoder_2', url: 'u/text_encoder_2/model.onnx', size: 1_700_000 },
      { role: 'text_encoder_2_data', url: 'u/text_encoder_2/model.onnx.data', size: 2_778_639_360, externalDataOf: 'text_encoder_2' },
    ];
    expect(() => checkFits(entry(files), files, GPU)).not.toThrow();
  });

  it('the real catalog: SDXL 1.0 (fp32, 10.3 GB UNet weights) is refused and says a remote is needed; the Turbo and LLM entries fit', () => {
    const sdxl = CATALOG.find((e) => e.id === 'stable-diffusion-xl-1024-v1-0')!;
    const e = (() => { try { checkFits(sdxl, filesFor(sdxl), GPU); } catch (x) { return x as HearthError; } throw new Error('not refused'); })();
    expect(e.code).toBe('model_too_large');
    expect(e.message).toContain('unet/model.onnx_data is about 10.30 GB (as its listing shows)');
    expect(e.message).toContain('remote backend');
    for (const id of ['stabilityai/sdxl-turbo', 'stabilityai/sd-turbo', 'meta-llama/Llama-3.2-1B-Instruct', 'Qwen/Qwen2.5-0.5B-Instruct']) {
      const entry = CATALOG.find((x) => x.id === id)!;
      expect(() => checkFits(entry, filesFor(entry), GPU), id).not.toThrow();
    }
  });

  it('every built-in model fits (their sizes come from the manifest)', () => {
    for (const e of CATALOG.filter((x) => x.builtIn)) expect(() => checkFits(e, filesFor(e), GPU), e.id).not.toThrow();
  });
});

describe('external data declared per catalog file', () => {
  it('finds a graph\'s external data by declaration and names it as the graph does', () => {
    const e = entry([
      { role: 'unet', url: 'https://hf.co/a/unet/model.onnx' },
      { role: 'unet_weights', url: 'https://hf.co/a/unet/weights.pb', externalDataOf: 'unet' },
      { role: 'text_encoder', url: 'https://hf.co/a/text_encoder/model.onnx' },
      { role: 'text_encoder_data', url: 'https://hf.co/a/text_encoder/model.onnx.data', externalDataOf: 'text_encoder' },
      { role: 'vae_decoder_data', url: 'https://hf.co/a/vae/data.bin?download=1', externalDataOf: 'vae_decoder', dataPath: 'model.onnx_data' },
    ]);
    expect(externalDataFiles(e, 'unet').map(dataPathOf)).toEqual(['weights.pb']);
    expect(externalDataFiles(e, 'text_encoder').map(dataPathOf)).toEqual(['model.onnx.data']);
    expect(externalDataFiles(e, 'vae_decoder').map(dataPathOf)).toEqual(['model.onnx_data']);
    expect(externalDataFiles(e, 'vae_encoder')).toEqual([]);
  });
});
