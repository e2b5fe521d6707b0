/**
 * Finds the ONNX weight each LoRA module adapts. Exports name weights two ways: Conv and Gemm weights keep their
 * module name (`down_blocks.0.resnets.0.conv1.weight`), while torch's exporter turns Linear layers into MatMul nodes
 * whose transposed weight is an anonymous `onnx::MatMul_1234` — but the node is named after the module
 * (`/down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q/MatMul`). So every weight is indexed under both
 * paths, and a LoRA path matches exactly or as a whole-segment suffix either way (an export wrapper may add or drop
 * a leading module); a match must be unique.
 */
import type { LoraModule } from './adapter-keys';
import type { OnnxInitializer, OnnxWeightIndex, OnnxWeightNode } from './onnx-weights';

export interface MergeTarget {
  module: LoraModule;
  initializer: OnnxInitializer;
  /** Output features, and input features × kernel size: the LoRA delta is rows × cols. */
  rows: number;
  cols: number;
  /** Stored [cols, rows] (MatMul and Gemm without transB) rather than [rows, cols] (Conv, Gemm with transB). */
  transposed: boolean;
}

interface Candidate { initializer: OnnxInitializer; transposed: boolean }

export interface ResolvedTargets {
  targets: MergeTarget[];
  unmatched: { module: LoraModule; why: string }[];
}

export function resolveTargets(index: OnnxWeightIndex, modules: LoraModule[]): ResolvedTargets {
  const byPath = candidates(index);
  const underscored = new Map<string, Candidate>();
  for (const [path, c] of byPath) underscored.set(path.replaceAll('.', '_'), c);
  const out: ResolvedTargets = { targets: [], unmatched: [] };
  for (const module of modules) {
    const found = find(module.underscored ? underscored : byPath, module.path, module.underscored ? '_' : '.');
    if (typeof found === 'string') {
      out.unmatched.push({ module, why: found });
      continue;
    }
    const { initializer, transposed } = found;
    const rank = module.down.shape[0];
    const rows = module.up.shape[0];
    const cols = module.down.values.length / rank;
    const count = initializer.dims.reduce((a, b) => a * b, 1);
    const [outDim, inDims] = transposed
      ? [initializer.dims[1], initializer.dims[0]]
      : [initializer.dims[0], initializer.dims.slice(1).reduce((a, b) => a * b, 1)];
    if (rows * cols !== count || rows !== outDim || cols !== inDims) {
      out.unmatched.push({ module, why: `its delta is ${rows}×${cols} but the weight "${initializer.name}" is [${initializer.dims.join(', ')}]` });
      continue;
    }
    if (!initializer.type) {
      out.unmatched.push({ module, why: `the weight "${initializer.name}" is not float32 or float16` });
      continue;
    }
    out.targets.push({ module, initializer, rows, cols, transposed });
  }
  return out;
}

/** Every weight a LoRA may adapt, under the module paths it is known by. */
function candidates(index: OnnxWeightIndex): Map<string, Candidate> {
  const map = new Map<string, Candidate>();
  for (const node of index.nodes) {
    const initializer = index.initializers.get(node.inputs[1]);
    if (!initializer || initializer.dims.length < 2) continue;
    const candidate = { initializer, transposed: storedTransposed(node) };
    const fromNode = node.name.replace(/^\//, '').split('/').slice(0, -1).join('.');
    if (fromNode) map.set(fromNode, candidate);
    if (initializer.name.endsWith('.weight')) map.set(initializer.name.slice(0, -'.weight'.length), candidate);
  }
  return map;
}

const storedTransposed = (node: OnnxWeightNode) => node.op === 'MatMul' || (node.op === 'Gemm' && node.transB === 0);

function find(map: Map<string, Candidate>, path: string, sep: string): Candidate | string {
  const exact = map.get(path);
  if (exact) return exact;
  const hits = new Map<string, Candidate>();
  for (const [key, c] of map) {
    if (key.endsWith(sep + path) || path.endsWith(sep + key)) hits.set(c.initializer.name, c);
  }
  if (hits.size === 1) return [...hits.values()][0];
  return hits.size ? `it matches ${hits.size} weights (${[...hits.keys()].slice(0, 3).join(', ')}…)` : 'no weight of this model has that name';
}
