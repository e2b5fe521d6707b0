/**
 * Whether a model's files can load in this browser at all, decided from the catalog's sizes before any byte is
 * downloaded. onnxruntime-web takes a graph file as one ArrayBuffer (Chrome reads at most ~2 GB into one), copies a
 * graph and its external data into a 32-bit WebAssembly heap (4 GiB at most, whatever the execution provider), and
 * streams an external data file over 1 GiB into one WebAssembly.Memory (4 GiB at most). A model that breaks one of
 * these is refused with a 503 naming the file, its size, the limit and the device's WebGPU limits.
 */
import { hearthError } from '../core/errors';
import type { CatalogEntry, ModelFile } from './types';

export interface DeviceLimits {
  /** Largest file read into one ArrayBuffer (a graph file, or external data passed as bytes). */
  maxArrayBufferBytes: number;
  /** The WebAssembly heap onnxruntime-web copies a graph and its external data into. */
  wasmMemoryBytes: number;
  /** The WebGPU adapter's limits, when there is one (reported in the message; activations must fit them). */
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
}

const GiB = 1024 ** 3;
/** Conservative browser limits: Chrome reads at most ~2 GB into one ArrayBuffer; wasm32 memory is 4 GiB. */
export const BROWSER_LIMITS: DeviceLimits = { maxArrayBufferBytes: 2 * GiB, wasmMemoryBytes: 4 * GiB };
/** External data files larger than this are handed to onnxruntime-web as a blob: URL it streams, not as bytes. */
export const IN_MEMORY_EXTERNAL_DATA_BYTES = GiB;

/** The browser's limits, with the WebGPU adapter's buffer limits when an adapter exists. */
export async function browserLimits(): Promise<DeviceLimits> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  const adapter = await gpu?.requestAdapter().catch(() => null);
  if (!adapter) return BROWSER_LIMITS;
  const { maxBufferSize, maxStorageBufferBindingSize } = adapter.limits;
  return { ...BROWSER_LIMITS, maxBufferSize, maxStorageBufferBindingSize };
}

const fileName = (file: ModelFile) => file.url.split('/').slice(-2).join('/');
const bytes = (n: number, listed = false) => (listed
  ? `about ${(n / 1e9).toFixed(2)} GB (as its listing shows)`
  : `${(n / 1e9).toFixed(2)} GB (${n.toLocaleString('en-US')} bytes)`);
const gib = (n: number) => `${+(n / GiB).toFixed(2)} GiB`;

export const tooLarge = (message: string) => hearthError('model_too_large', message);

/** Throws a 503 `model_too_large` when one of `files` (a model's files, sizes from the catalog) cannot load. */
export function checkFits(entry: CatalogEntry, files: readonly ModelFile[], limits: DeviceLimits): void {
  const device = limits.maxBufferSize === undefined
    ? 'no WebGPU adapter'
    : `WebGPU maxBufferSize ${gib(limits.maxBufferSize)}, maxStorageBufferBindingSize ${gib(limits.maxStorageBufferBindingSize ?? 0)}`;
  const fits = `What fits: graph files under ${gib(limits.maxArrayBufferBytes)} and each graph with its external data under `
    + `${gib(limits.wasmMemoryBytes)} (fp16 or int4 exports), or this model on a remote backend.`;
  const refuse = (why: string) => {
    throw tooLarge(`Model ${entry.id} cannot load in this browser: ${why} (${device}). ${fits}`);
  };
  /** The exact size, else the size a listing shows (rounded): enough to tell what cannot fit. */
  const sizeOf = (f: ModelFile) => f.size ?? f.listedSize;
  for (const file of files) {
    const size = sizeOf(file);
    if (size === undefined) continue;
    if (!file.externalDataOf && size > limits.maxArrayBufferBytes) {
      refuse(`${fileName(file)} is ${bytes(size, file.size === undefined)}, over the ${gib(limits.maxArrayBufferBytes)} one ArrayBuffer can hold`);
    }
    if (file.externalDataOf && size > limits.wasmMemoryBytes) {
      refuse(`${fileName(file)} is ${bytes(size, file.size === undefined)}, over the ${gib(limits.wasmMemoryBytes)} of a WebAssembly heap`);
    }
  }
  for (const graph of files.filter((f) => !f.externalDataOf)) {
    const data = files.filter((f) => f.externalDataOf === graph.role && (f.variant === undefined || f.variant === graph.variant));
    if (!data.length || sizeOf(graph) === undefined || data.some((d) => sizeOf(d) === undefined)) continue;
    const total = data.reduce((sum, d) => sum + sizeOf(d)!, sizeOf(graph)!);
    if (total > limits.wasmMemoryBytes) {
      const listed = [graph, ...data].some((f) => f.size === undefined);
      refuse(`${fileName(graph)} with its external data (${data.map(fileName).join(', ')}) is ${bytes(total, listed)}, over the `
        + `${gib(limits.wasmMemoryBytes)} WebAssembly heap onnxruntime-web loads it into`);
    }
  }
}
