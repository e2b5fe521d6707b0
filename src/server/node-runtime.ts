/**
 * Which ONNX Runtime the Node engines run on (`hearth serve --device`): onnxruntime-node, native, on its CPU
 * execution provider and on CUDA where that provider's library is installed; or onnxruntime-web's wasm build, the
 * fallback when onnxruntime-node cannot load here. Choosing is all this file does: the engines take the module and
 * the ordered device list as they are, try the devices in that order and report each one that failed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import type { OrtDevice } from '../engines/embeddings/types';

/** The ONNX Runtime API the engines use; onnxruntime-node and onnxruntime-web both implement it (onnxruntime-common). */
export type NodeOrt = typeof ortWeb;

/** What `--device` accepts: `auto` is the best that works here (CUDA, then CPU; wasm when onnxruntime-node cannot load). */
export const DEVICE_CHOICES = ['auto', 'cuda', 'cpu', 'wasm'] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

export interface NodeRuntime {
  ort: NodeOrt;
  /** Tried in this order for every model; the first that creates a session serves it. */
  devices: OrtDevice[];
  /** The package and version, e.g. 'onnxruntime-node 1.30.0'. */
  name: string;
  /** Devices not offered, and why (e.g. the CUDA provider is not installed), for the start-up line. */
  unavailable: { device: OrtDevice; reason: string }[];
}

ortWeb.env.wasm.numThreads = 1;

/** onnxruntime-web's wasm build in Node (single-threaded): the Node tests' engines, and `--device wasm`. */
export const WASM_RUNTIME: NodeRuntime = {
  ort: ortWeb, devices: ['wasm'], name: `onnxruntime-web ${ortWeb.env.versions.web ?? ortWeb.env.versions.common} (wasm)`, unavailable: [],
};

/**
 * What every onnxruntime-node session starts from (an engine's own options win). Its thread pools stop spinning
 * between runs: the server's JavaScript (sampling, HTTP) runs between two decoder steps, and spinning pool threads
 * took the cores it needed (the tiny Llama decoded ~4× slower through the API than a bare session.run loop).
 */
const NATIVE_SESSION_DEFAULTS: ortWeb.InferenceSession.SessionOptions = {
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/** The module with `InferenceSession.create(bytes, options)` (all the engines call) starting from `defaults`. */
function withSessionDefaults(ort: NodeOrt, defaults: ortWeb.InferenceSession.SessionOptions): NodeOrt {
  const { InferenceSession } = ort;
  const create = (model: Uint8Array, options?: ortWeb.InferenceSession.SessionOptions) => InferenceSession.create(model, { ...defaults, ...options });
  return { ...ort, InferenceSession: Object.assign(Object.create(InferenceSession) as object, { create }) as NodeOrt['InferenceSession'] };
}

interface OrtNode {
  listSupportedBackends(): { name: string; bundled: boolean }[];
}

/**
 * Why CUDA cannot be offered, or null when its execution provider is there: bundled in the binding, or installed
 * beside it by onnxruntime-node's own install script (`ONNXRUNTIME_NODE_INSTALL=cuda12`, see the README). Whether
 * the machine's CUDA runtime then works is found out by creating the session (a failure falls back to the CPU).
 */
function cudaMissing(ortNode: OrtNode, bindingDir: string): string | null {
  const cuda = ortNode.listSupportedBackends().find((b) => b.name === 'cuda');
  if (!cuda) return `this onnxruntime-node build (${process.platform}/${process.arch}) has no CUDA execution provider`;
  if (cuda.bundled) return null;
  const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(join(bindingDir, library)) ? null
    : `the CUDA execution provider is not installed (${library} is not in ${bindingDir}; see the README's "hearth serve" section)`;
}

/** The runtime for a `--device` choice; an explicit device that cannot run here is an error that says why. */
export async function nodeRuntime(choice: DeviceChoice = 'auto'): Promise<NodeRuntime> {
  if (choice === 'wasm') return WASM_RUNTIME;
  let ortNode: NodeOrt & OrtNode;
  let bindingDir: string;
  try {
    ortNode = await import('onnxruntime-node') as unknown as NodeOrt & OrtNode;
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    bindingDir = join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch (e) {
    const reason = `onnxruntime-node cannot load here: ${(e as Error).message.split('\n')[0]}`;
    if (choice !== 'auto') throw new Error(reason);
    return { ...WASM_RUNTIME, unavailable: [{ device: 'cuda', reason }, { device: 'cpu', reason }] };
  }
  const name = `onnxruntime-node ${ortNode.env.versions.node ?? ortNode.env.versions.common}`;
  const noCuda = cudaMissing(ortNode, bindingDir);
  if (choice === 'cuda' && noCuda) throw new Error(`--device cuda: ${noCuda}`);
  const devices: OrtDevice[] = choice === 'cpu' ? ['cpu'] : choice === 'cuda' ? ['cuda'] : noCuda ? ['cpu'] : ['cuda', 'cpu'];
  return { ort: withSessionDefaults(ortNode, NATIVE_SESSION_DEFAULTS), devices, name, unavailable: choice === 'auto' && noCuda ? [{ device: 'cuda', reason: noCuda }] : [] };
}
