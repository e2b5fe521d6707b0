// WebGPU in Node for unit tests: Dawn (npm `webgpu`) on Chromium's SwiftShader Vulkan driver, one instance per test
// file. Without an adapter the GPU tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1 (then `skipGpu`).
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
export const skipGpu = process.env.HEARTH_NO_GPU_TESTS === '1';

/** Dawn dlopen()s "libvulkan.so.1"; without a system loader, preload Chromium's. */
function preloadVulkanLoader(): string {
  if (process.platform !== 'linux') return 'platform default';
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib',
  ];
  const system = dirs.map((d) => join(d, 'libvulkan.so.1')).find((p) => existsSync(p));
  if (system) return system;
  const icd = (process.env.VK_ICD_FILENAMES ?? '').split(':')[0];
  const bundled = icd ? join(dirname(icd), 'libvulkan.so.1') : '';
  if (!bundled || !existsSync(bundled)) return 'none found';
  try {
    process.dlopen({ exports: {} }, bundled, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL | 0x1000);
  } catch {
    // expected: "Module did not self-register" — the library stays loaded (RTLD_NODELETE)
  }
  return `${bundled} (preloaded)`;
}

let gpu: Promise<GPU> | undefined;

/** The Dawn GPU (its globals installed), kept alive for the whole file. */
export function getGpu(suite: string): Promise<GPU> {
  return (gpu ??= (async () => {
    const loader = preloadVulkanLoader();
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    // Dawn for Node rejects views on SharedArrayBuffer (ORT's wasm memory may be shared): copy them first
    // (the same patch as /work/shared/gpu/shim.mjs).
    const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
    const writeBuffer = proto.writeBuffer;
    proto.writeBuffer = function (this: GPUQueue, buf: GPUBuffer, off: number, data: BufferSource | SharedArrayBuffer, dataOff = 0, size?: number) {
      const view = data as ArrayBufferView;
      if (view && typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer) {
        const bpe = (view as Uint8Array).BYTES_PER_ELEMENT || 1;
        const start = dataOff * bpe;
        const len = (size ?? (view as Uint8Array).length - dataOff) * bpe;
        const copy = new Uint8Array(len);
        copy.set(new Uint8Array(view.buffer, view.byteOffset + start, len));
        return writeBuffer.call(this, buf, off, copy, 0, len);
      }
      return writeBuffer.call(this, buf, off, data as BufferSource, dataOff, size);
    } as GPUQueue['writeBuffer'];
    const handle = create([]);
    const adapter = await handle.requestAdapter();
    if (!adapter) {
      throw new Error(
        `${suite}: Dawn (npm "webgpu") found no WebGPU adapter in Node.\n` +
          `  VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? '(unset)'}; Vulkan loader: ${loader}\n` +
          '  Install Chromium (SwiftShader ICD + libvulkan.so.1) or a Vulkan driver, or set HEARTH_NO_GPU_TESTS=1.',
      );
    }
    return handle;
  })());
}

/** A fresh device on the Dawn adapter (with those of `features` the adapter has). */
export async function getDevice(suite: string, features: GPUFeatureName[] = []): Promise<GPUDevice> {
  const adapter = await (await getGpu(suite)).requestAdapter();
  return adapter!.requestDevice({ requiredFeatures: features.filter((f) => adapter!.features.has(f)) });
}

/** mapAsync(READ) calls so far, ORT's included (a spy installed once on GPUBuffer.prototype). */
let mapReads = 0;
export function mapReadCount(): number {
  const proto = (globalThis as unknown as { GPUBuffer: { prototype: GPUBuffer & { __hearthCounted?: boolean } } }).GPUBuffer.prototype;
  if (!proto.__hearthCounted) {
    const map = proto.mapAsync;
    proto.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
      if ((args[0] & 1) !== 0) mapReads++; // GPUMapMode.READ
      return map.apply(this, args);
    };
    proto.__hearthCounted = true;
  }
  return mapReads;
}
