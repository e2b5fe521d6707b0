// The ONNX variant the models page downloads ahead is the one the LLM engine loads first: both ask
// src/models/llm-variants.ts. Checked against the engine's real backend candidates (web-llm absent, the WGSL decoder,
// onnxruntime-web) on every combination of devices, shader-f16 and the WGSL decoder on or off, for the catalog's
// multi-variant LLMs (q4f16 + q4) and the single-variant q4f16 fixture: the first candidate that asks for files is the
// variant onnxVariantToDownload names (no 1 GB q4f16 fetched for an engine that will load q4, nor q4 when the WGSL
// decoder will load q4f16 on an adapter without shader-f16); and when the WGSL reader then refuses the file, the
// fallback records why and reuses the files already read.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as ort from 'onnxruntime-web';
import { onnxBackend, webLlmBackend, wgslBackend, type LlmBackend } from '../../src/engines/llm/backend-registry';
import type { OnnxLlmFiles } from '../../src/engines/llm/onnx-backend';
import type { OrtDevice } from '../../src/engines/embeddings/types';
import { onnxVariantToDownload } from '../../src/models/llm-variants';
import { nodeLlm, nodeLlmFiles } from './node-api';
import { CATALOG } from '../../src/models/catalog';
import type { CatalogEntry } from '../../src/models/types';

class FilesAsked extends Error {}

/** The variant whose files the engine's candidates (in its order) fetch first; undefined when none gets that far. */
async function engineFirstFetch(entry: CatalogEntry, devices: OrtDevice[], shaderF16: boolean, wgsl: boolean): Promise<string | undefined> {
  const backends: LlmBackend[] = [webLlmBackend(undefined), ...(wgsl ? [wgslBackend({ device: async () => ({}) as GPUDevice })] : []), onnxBackend(ort)];
  for (const variant of entry.llm!.variants) {
    const context = { devices, hasShaderF16: async () => shaderF16, files: async (): Promise<OnnxLlmFiles> => { throw new FilesAsked(variant.name); } };
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
