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

/** Data for one storage binding of a kernel test. */
export type KernelData = Float32Array | Uint32Array | Uint8Array;

const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * Runs one entry point of `code` alone: binding 0 is a 64-byte uniform of `params` (u32, or `{ f }` for f32), the
 * others storage buffers holding `bindings` (padded to 4 bytes); returns the contents of the bindings listed in `read`.
 */
export async function runKernel(device: GPUDevice, code: string, entry: string, params: (number | { f: number })[],
  bindings: Record<number, KernelData>, groups: [number, number?, number?], read: number[]): Promise<Map<number, ArrayBuffer>> {
  let pipelines = pipelineCache.get(device);
  if (!pipelines) pipelineCache.set(device, (pipelines = new Map()));
  const key = `${entry}\n${code}`;
  let pipeline = pipelines.get(key);
  if (!pipeline) {
    const module = device.createShaderModule({ code });
    pipelines.set(key, (pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: entry } })));
  }
  const words = new ArrayBuffer(64);
  const view = new DataView(words);
  params.forEach((p, i) => (typeof p === 'number' ? view.setUint32(4 * i, p, true) : view.setFloat32(4 * i, p.f, true)));
  const uniform = device.createBuffer({ size: 64, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(uniform, 0, words);
  const buffers = new Map<number, GPUBuffer>();
  for (const [b, data] of Object.entries(bindings)) {
    const size = Math.max(16, Math.ceil(data.byteLength / 4) * 4);
    const buf = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const padded = new Uint8Array(size);
    padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    device.queue.writeBuffer(buf, 0, padded);
    buffers.set(Number(b), buf);
  }
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
  for (const [b, buf] of buffers) entries.push({ binding: b, resource: { buffer: buf } });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
  pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
  pass.end();
  const out = new Map<number, GPUBuffer>();
  for (const b of read) {
    const src = buffers.get(b)!;
    const dst = device.createBuffer({ size: src.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(src, 0, dst, 0, src.size);
    out.set(b, dst);
  }
  device.queue.submit([enc.finish()]);
  const result = new Map<number, ArrayBuffer>();
  for (const [b, dst] of out) {
    await dst.mapAsync(GPUMapMode.READ);
    result.set(b, dst.getMappedRange().slice(0));
    dst.destroy();
  }
  for (const b of buffers.values()) b.destroy();
  uniform.destroy();
  return result;
}
