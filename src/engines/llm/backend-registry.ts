/**
 * The LLM backends, registered as equals after onnxruntime-web's registry: each one (web-llm, Hearth's WGSL decoder
 * for ONNX variants and for GGUF files, our onnxruntime-web decoder, and any other, e.g. a remote) offers, per catalog variant, the candidates that could
 * run it; LlmService tries every backend's candidates in registry order and the resolver (../backends.ts) keeps the
 * first that loads, reporting why each one before it failed.
 */
import type { CatalogEntry, LlmVariant } from '../../models/types';
import { onnxRuntimeRefusal, wgslRefusal } from '../../models/llm-variants';
import type { BackendCandidate } from '../backends';
import type { OrtDevice } from '../embeddings/types';
import { generate, type LlmModel } from './generate';
import { loadOnnxLlm, type OnnxLlmFiles } from './onnx-backend';
import { assertDeviceAvailable, hasWebGpu, type Ort } from '../../core/session';
import type { LlmEvent, LlmJob, LoadedLlmInfo } from './types';
import { loadWgslLlm } from './wgsl/backend';
import { wgslConfigRefusal } from './wgsl/config';
import { loadGgufLlm } from './wgsl/gguf-backend';
import type { WgslLlmShaderSources } from './wgsl/decoder';

/** A loaded model, whatever runs it. */
export interface RunnableLlm {
  info: LoadedLlmInfo;
  generate(job: LlmJob): ReadableStream<LlmEvent>;
  release(): Promise<void>;
}

/** A backend family other than our ONNX decoder (web-llm), plugged in by the worker. */
export interface ExternalLlmBackend {
  name: string;
  load(entry: CatalogEntry, variant: LlmVariant): Promise<RunnableLlm>;
}

/** What a backend may ask while it offers candidates for one variant. */
export interface LlmBackendContext {
  devices: OrtDevice[];
  /** Whether the WebGPU adapter offers `shader-f16`. */
  hasShaderF16(): Promise<boolean>;
  /** The variant's config.json alone (a small file, fetched before the others): a backend that refuses the
   * architecture says so before the big files are downloaded. */
  config(): Promise<object>;
  /** The variant's ONNX files, downloaded once for every backend that reads them. */
  files(): Promise<OnnxLlmFiles>;
}

export interface LlmBackend {
  readonly name: string;
  /** The candidates that could run this variant (none: not one this backend runs); each fails with its reason. */
  candidates(entry: CatalogEntry, variant: LlmVariant, context: LlmBackendContext): BackendCandidate<RunnableLlm>[];
}

/** web-llm for MLC variants (`webLlm` absent: such variants fail with that reason). */
export function webLlmBackend(webLlm: ExternalLlmBackend | undefined): LlmBackend {
  return {
    name: 'web-llm',
    candidates: (entry, variant, { devices, hasShaderF16 }) => variant.backend !== 'web-llm' ? [] : [{
      name: `web-llm:${variant.name}`,
      create: async () => {
        if (!webLlm) throw new Error('web-llm is not available in this worker');
        if (!devices.includes('webgpu')) throw new Error('web-llm needs WebGPU, which is disabled');
        if (variant.requiresF16 && !(await hasShaderF16())) throw new Error('the adapter lacks shader-f16');
        return webLlm.load(entry, variant);
      },
    }],
  };
}

/**
 * Hearth's WGSL decoder for ONNX variants on WebGPU (fp32, q4, and the fp16 / q4f16 ones on any adapter). `device` supplies the GPU device (Node tests, benches; default:
 * one from navigator.gpu per model); `shaders` the kernel sources (default: the bundled ones).
 */
export function wgslBackend(options: { device?: () => Promise<GPUDevice>; shaders?: WgslLlmShaderSources }): LlmBackend {
  return {
    name: 'wgsl',
    candidates: (entry, variant, { devices, config, files }) => variant.backend !== 'onnx' || wgslRefusal(devices) ? [] : [{
      name: `wgsl:${variant.name}:webgpu`,
      create: async () => {
        if (!options.device) assertDeviceAvailable('webgpu');
        // config.json first: an architecture the decoder does not run is refused before the graph file is fetched.
        const refusal = wgslConfigRefusal(await config());
        if (refusal) throw new Error(refusal);
        // f16 variants (fp16 / q4f16 exports) need no `shader-f16` here: the WGSL decoder keeps their float16 weights
        // and scales as stored and widens them in its kernels (unpack2x16float), computing in float32.
        const device = await options.device?.();
        const model = await loadWgslLlm(entry, variant, await files(), { device, shaders: options.shaders });
        return llmRunnable(model, 'wgsl', variant.name, 'webgpu', () => model.decoder.release());
      },
    }],
  };
}

/**
 * Hearth's WGSL decoder for GGUF variants (WebGPU only): `wgsl` as for wgslBackend plus `ggufShader`, and `loadGguf`
 * the bytes of the variant's file (role 'gguf'). Either absent: GGUF variants fail with that reason. The GGUF
 * reader's own errors (a 400 naming the problem) pass through.
 */
export function ggufBackend(
  wgsl: { device?: () => Promise<GPUDevice>; shaders?: WgslLlmShaderSources; ggufShader?: string } | undefined,
  loadGguf: ((entry: CatalogEntry) => Promise<Uint8Array>) | undefined,
): LlmBackend {
  return {
    name: 'gguf',
    candidates: (entry, variant, { devices }) => variant.backend !== 'gguf' ? [] : [{
      name: `wgsl:${variant.name}:webgpu`,
      create: async () => {
        if (!wgsl || !loadGguf) throw new Error('GGUF files need Hearth\'s WGSL decoder, which is disabled here');
        if (!devices.includes('webgpu')) throw new Error('GGUF files need WebGPU, which is disabled');
        if (!wgsl.device && !hasWebGpu()) throw new Error('WebGPU is not available');
        const device = await wgsl.device?.();
        const model = await loadGgufLlm(entry, variant, await loadGguf(entry), { device, shaders: wgsl.shaders, ggufShader: wgsl.ggufShader });
        return llmRunnable(model, 'wgsl', variant.name, 'webgpu', () => model.decoder.release());
      },
    }],
  };
}

/** Our decoder on onnxruntime-web for ONNX variants, one candidate per enabled device. */
export function onnxBackend(ort: Ort): LlmBackend {
  return {
    name: 'onnx',
    candidates: (entry, variant, { devices, hasShaderF16, files }) => variant.backend !== 'onnx' ? [] : devices.map((device) => ({
      name: `onnx:${variant.name}:${device}`,
      create: async () => {
        assertDeviceAvailable(device);
        // The same rule the models page asks before downloading (models/llm-variants.ts).
        const refusal = onnxRuntimeRefusal(variant, device, device === 'webgpu' && variant.requiresF16 ? await hasShaderF16() : false);
        if (refusal) throw new Error(refusal);
        const model = await loadOnnxLlm(ort, entry, variant, device, await files());
        return llmRunnable(model, 'onnx', variant.name, device, () => model.decoder.release());
      },
    })),
  };
}

function llmRunnable(model: LlmModel, backend: string, variant: string, device: OrtDevice, release: () => Promise<void>): RunnableLlm {
  return {
    info: { id: model.id, backend, variant, device, skipped: [], stats: { requests: 0, cancelled: 0, generatedTokens: 0 } },
    generate(job) {
      return generate(model, job, this.info.stats);
    },
    release,
  };
}
