// The ONNX variant the models page downloads ahead is the one the LLM engine loads first: both ask
// src/models/llm-variants.ts. Checked against the engine's real backend candidates (web-llm absent, the WGSL decoder,
// onnxruntime-web) on every combination of devices, shader-f16 and the WGSL decoder on or off, for the catalog's
// multi-variant LLMs (q4f16 + q4) and the single-variant q4f16 fixture: the first candidate that asks for files is the
// variant onnxVariantToDownload names (no 1 GB q4f16 fetched for an engine that will load q4, nor q4 when the WGSL
// decoder will load q4f16 on an adapter without shader-f16); and when the WGSL reader then refuses the file, the
// fallback records why and reuses the files already read. For an architecture the WGSL decoder does not run, config.json
// (read alone, first) says so before any graph file is fetched, in the engine and on the models page alike.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as ort from 'onnxruntime-web';
import { onnxBackend, webLlmBackend, wgslBackend, type LlmBackend } from '../../src/engines/llm/backend-registry';
import type { OnnxLlmFiles } from '../../src/engines/llm/onnx-backend';
import { createLlmService } from '../../src/engines/llm/service';
import { wgslConfigRefusal } from '../../src/engines/llm/wgsl/config';
import type { ModelFiles } from '../../src/engines/model-files';
import type { OrtDevice } from '../../src/engines/embeddings/types';
import { onnxVariantToDownload } from '../../src/models/llm-variants';
import { variantToDownload } from '../../src/runtime/download-variant';
import { directoryFiles } from '../../src/server/model-files';
import { nodeLlm, nodeLlmFiles, readJson, ROOT } from './node-api';
import { CATALOG } from '../../src/models/catalog';
import type { CatalogEntry } from '../../src/models/types';

class FilesAsked extends Error {}

/** The tiny Llama's config.json: every entry checked here is of an architecture the WGSL decoder runs (llama, qwen2). */
const LLAMA_CONFIG = readJson<object>('public/models/hearth-tiny-llama/config.json');
/** The same with an architecture the WGSL decoder does not run. */
const GEMMA_CONFIG = { ...LLAMA_CONFIG, model_type: 'gemma' };

/** The variant whose files the engine's candidates (in its order) fetch first; undefined when none gets that far. */
async function engineFirstFetch(entry: CatalogEntry, devices: OrtDevice[], shaderF16: boolean, wgsl: boolean,
  config: object = LLAMA_CONFIG): Promise<string | undefined> {
  const backends: LlmBackend[] = [webLlmBackend(undefined), ...(wgsl ? [wgslBackend({ device: async () => ({}) as GPUDevice })] : []), onnxBackend(ort)];
  for (const variant of entry.llm!.variants) {
    const context = {
      devices, hasShaderF16: async () => shaderF16, config: async () => config,
      files: async (): Promise<OnnxLlmFiles> => { throw new FilesAsked(variant.name); },
    };
    for (const backend of backends) {
      for (const candidate of backend.candidates(entry, variant, context)) {
        try {
          await candidate.create();
        } catch (e) {
          if (e instanceof FilesAsked) return e.message;
        }
      }
    }
  }
  return undefined;
}

describe('the pre-download variant is the one the engine loads first', () => {
  beforeAll(() => { vi.stubGlobal('navigator', { gpu: {} }); }); // WebGPU present; `devices` says whether it is used
  afterAll(() => { vi.unstubAllGlobals(); });

  const entries = ['meta-llama/Llama-3.2-1B-Instruct', 'Qwen/Qwen2.5-0.5B-Instruct', 'hearth/tiny-llama-q4f16', 'hearth/tiny-llama-q4'].map((id) => CATALOG.find((e) => e.id === id)!);
  const deviceSets: OrtDevice[][] = [['webgpu', 'wasm'], ['webgpu'], ['wasm']];
  for (const entry of entries) {
    it(entry.id, async () => {
      for (const devices of deviceSets) {
        for (const shaderF16 of [false, true]) {
          for (const wgsl of [false, true]) {
            const engine = await engineFirstFetch(entry, devices, shaderF16, wgsl);
            const page = onnxVariantToDownload(entry, { devices, shaderF16, wgsl });
            const where = `${devices.join('+')}, shader-f16 ${shaderF16}, wgsl ${wgsl}`;
            if (engine === undefined) expect(entry.llm!.variants.some((v) => v.backend === 'onnx' && v.name === page), where).toBe(true);
            else expect(page, where).toBe(engine);
          }
        }
      }
    });
  }

  it('an architecture the WGSL decoder does not run (config.json read first): the page and the engine agree on every combination', async () => {
    const refusal = wgslConfigRefusal(GEMMA_CONFIG);
    expect(refusal).toMatch(/model_type "gemma"/);
    for (const entry of entries) {
      for (const devices of deviceSets) {
        for (const shaderF16 of [false, true]) {
          for (const wgsl of [false, true]) {
            const engine = await engineFirstFetch(entry, devices, shaderF16, wgsl, GEMMA_CONFIG);
            const page = onnxVariantToDownload(entry, { devices, shaderF16, wgsl, wgslConfigRefusal: refusal });
            const where = `${entry.id}: ${devices.join('+')}, shader-f16 ${shaderF16}, wgsl ${wgsl}`;
            if (engine === undefined) expect(entry.llm!.variants.some((v) => v.backend === 'onnx' && v.name === page), where).toBe(true);
            else expect(page, where).toBe(engine);
          }
        }
      }
    }
    // Without shader-f16 a non-Llama model's q4f16 runs nowhere on WebGPU: q4 is the variant fetched, not 1 GB of q4f16.
    const llama = entries[0];
    expect(onnxVariantToDownload(llama, { devices: ['webgpu', 'wasm'], shaderF16: false, wgsl: true, wgslConfigRefusal: refusal })).toBe('q4');
    expect(onnxVariantToDownload(llama, { devices: ['webgpu', 'wasm'], shaderF16: false, wgsl: true, wgslConfigRefusal: null })).toBe('q4f16');
  });

  it('the rule on Llama 3.2 1B: q4f16 on WebGPU whenever the WGSL decoder is on; without it, only with shader-f16', () => {
    const llama = entries[0];
    expect(onnxVariantToDownload(llama, { devices: ['webgpu', 'wasm'], shaderF16: false, wgsl: true })).toBe('q4f16');
    expect(onnxVariantToDownload(llama, { devices: ['webgpu', 'wasm'], shaderF16: false, wgsl: false })).toBe('q4');
    expect(onnxVariantToDownload(llama, { devices: ['webgpu', 'wasm'], shaderF16: true, wgsl: false })).toBe('q4f16');
    expect(onnxVariantToDownload(llama, { devices: ['wasm'], shaderF16: true, wgsl: true })).toBe('q4');
    // The q4f16-layout fixture keeps fp32 arithmetic, so onnxruntime-web runs it on wasm too.
    expect(onnxVariantToDownload(entries[2], { devices: ['wasm'], shaderF16: false, wgsl: false })).toBe('q4f16');
  });

  it('when the WGSL reader refuses a downloaded q4f16, the reason is in skipped and onnxruntime-web runs the same files (read once)', async () => {
    // A structural refusal (an architecture the WGSL decoder does not run), on an adapter without shader-f16.
    const entry = CATALOG.find((e) => e.id === 'hearth/tiny-llama-q4f16')!;
    const reads: string[] = [];
    const llm = nodeLlm({
      devices: ['webgpu', 'wasm'], hasShaderF16: async () => false, wgsl: { device: async () => ({}) as GPUDevice },
      loadFiles: async (e, variant) => {
        reads.push(variant);
        const files = await nodeLlmFiles(e, variant);
        return { ...files, config: { ...files.config, model_type: 'gemma' } };
      },
    });
    try {
      const info = await llm.load(entry);
      expect([info.backend, info.variant, info.device]).toEqual(['onnx', 'q4f16', 'wasm']);
      expect(info.skipped.map((s) => s.name)).toEqual(['wgsl:q4f16:webgpu', 'onnx:q4f16:webgpu']);
      expect(info.skipped[0].reason).toMatch(/model_type "gemma"/);
      expect(info.skipped[1].reason).toMatch(/shader-f16/);
      expect(reads).toEqual(['q4f16']);
    } finally {
      await llm.unload(entry.id);
    }
  });
});

describe('config.json before the model file', () => {
  it('a non-Llama q4f16 + q4 model without shader-f16: config.json is read first and no q4f16 graph file is fetched', async () => {
    // The tiny Llama's files as a two-variant ONNX model (q4f16 needing shader-f16 or WGSL, q4 also on wasm), its
    // config.json saying an architecture the WGSL decoder does not run; reads are recorded in order.
    const base = CATALOG.find((e) => e.id === 'hearth/tiny-llama-q4f16')!;
    const q4 = CATALOG.find((e) => e.id === 'hearth/tiny-llama-q4')!.files.find((f) => f.role === 'model')!;
    const entry: CatalogEntry = {
      ...base, id: 'test/not-llama',
      files: [...base.files, q4],
      llm: { ...base.llm!, variants: [{ backend: 'onnx', name: 'q4f16', requiresF16: true, wasm: false }, { backend: 'onnx', name: 'q4', requiresF16: false, wasm: true }] },
    };
    const disk = directoryFiles(`${ROOT}public`);
    const reads: string[] = [];
    const files: ModelFiles = {
      read: (e, role, variant) => { reads.push(`${role}:${variant}`); return disk.read(e, role, variant); },
      readJson: async (e, role, variant, options) => {
        reads.push(`${role}${options?.alone ? ' alone' : ''}:${variant}`);
        const json = await disk.readJson(e, role, variant);
        return role === 'config' ? { ...json, model_type: 'gemma' } : json;
      },
      readExternalData: (e, role, variant) => { reads.push(`external data of ${role}:${variant}`); return disk.readExternalData(e, role, variant); },
    };
    const llm = createLlmService({ ort, files, devices: ['webgpu', 'wasm'], hasShaderF16: async () => false, wgsl: { device: async () => ({}) as GPUDevice } });
    try {
      const info = await llm.load(entry);
      expect([info.backend, info.variant, info.device]).toEqual(['onnx', 'q4', 'wasm']);
      expect(info.skipped.map((s) => s.name)).toEqual(['wgsl:q4f16:webgpu', 'onnx:q4f16:webgpu', 'onnx:q4f16:wasm', 'wgsl:q4:webgpu', 'onnx:q4:webgpu']);
      expect(info.skipped[0].reason).toMatch(/model_type "gemma"/);
      expect(info.skipped[3].reason).toMatch(/model_type "gemma"/);
      expect(reads[0]).toBe('config alone:q4f16');
      expect(reads.filter((r) => r.endsWith(':q4f16'))).toEqual(['config alone:q4f16']); // nothing else of q4f16
      const firstGraph = reads.findIndex((r) => r.startsWith('model:') || r.startsWith('external data'));
      expect(reads.slice(0, firstGraph).every((r) => r.startsWith('config'))).toBe(true);
      expect(reads).toContain('model:q4');
    } finally {
      await llm.unload(entry.id);
    }
  });
});

describe('the models page reads config.json first only when it decides the variant', () => {
  const llama = CATALOG.find((e) => e.id === 'meta-llama/Llama-3.2-1B-Instruct')!;
  const noF16 = { devices: ['webgpu', 'wasm'], shaderF16: false, wgsl: true } as const;
  const reader = (config: object | Error) => {
    const asked: string[] = [];
    return { asked, read: async (variant: string) => { asked.push(variant); if (config instanceof Error) throw config; return config; } };
  };

  it('without shader-f16 and with the WGSL decoder on: q4 for a non-Llama config, q4f16 for a Llama one (config read once, alone)', async () => {
    const gemma = reader(GEMMA_CONFIG);
    expect(await variantToDownload(llama, noF16, gemma.read)).toBe('q4');
    expect(gemma.asked).toEqual(['q4f16']);
    const ok = reader(LLAMA_CONFIG);
    expect(await variantToDownload(llama, noF16, ok.read)).toBe('q4f16');
    expect(ok.asked).toEqual(['q4f16']);
  });

  it('not read where the verdict changes nothing (shader-f16, WGSL decoder off, no WebGPU); unreadable: the plain rule', async () => {
    for (const context of [{ ...noF16, shaderF16: true }, { ...noF16, wgsl: false }, { ...noF16, devices: ['wasm'] }]) {
      const gemma = reader(GEMMA_CONFIG);
      expect(await variantToDownload(llama, context, gemma.read)).toBe(onnxVariantToDownload(llama, context));
      expect(gemma.asked).toEqual([]);
    }
    expect(await variantToDownload(llama, noF16, reader(new Error('offline')).read)).toBe('q4f16');
  });
});
