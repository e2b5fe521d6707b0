/**
 * Where an ONNX model keeps its weights, read straight from the protobuf bytes: every initializer's name, dims, type
 * and the byte range of its values (inside the model file, or in its external data file), plus the MatMul / Gemm /
 * Conv nodes that consume them. A LoRA merge rewrites those byte ranges in place — same size, same layout — so the
 * patched model is a valid ONNX file without re-serialising the graph.
 */
import protobuf from 'protobufjs/minimal.js';
import { readTensorProto } from '../../onnx-tensor-proto';

type Reader = protobuf.Reader;

export type OnnxWeightType = 'float32' | 'float16';

export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** null for types a merge cannot rewrite (ints, bf16, doubles…). */
  type: OnnxWeightType | null;
  /** Byte range of the little-endian values: in the model bytes (`file` null) or in the external data file `file`. */
  file: string | null;
  offset: number;
  length: number;
}

/** A node that multiplies by a weight: the LoRA targets. */
export interface OnnxWeightNode {
  op: 'MatMul' | 'Gemm' | 'Conv';
  name: string;
  inputs: string[];
  /** Gemm's transB attribute (0 when absent). */
  transB: number;
}

export interface OnnxWeightIndex {
  initializers: Map<string, OnnxInitializer>;
  nodes: OnnxWeightNode[];
}

const TYPES: Record<number, OnnxWeightType> = { 1: 'float32', 10: 'float16' };
const ELEMENT_BYTES: Record<OnnxWeightType, number> = { float32: 4, float16: 2 };
const WEIGHT_OPS = new Set(['MatMul', 'Gemm', 'Conv']);

/** Indexes `bytes` (an ONNX ModelProto). Throws on bytes that are not one. */
export function indexOnnxWeights(bytes: Uint8Array): OnnxWeightIndex {
  const r = protobuf.Reader.create(bytes);
  const index: OnnxWeightIndex = { initializers: new Map(), nodes: [] };
  let graphs = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 7 && (tag & 7) === 2) {
      readGraph(r, r.uint32() + r.pos, index);
      graphs++;
    } else r.skipType(tag & 7);
  }
  if (graphs !== 1) throw new Error(`Not an ONNX model (${graphs} graphs)`);
  return index;
}

function readGraph(r: Reader, end: number, index: OnnxWeightIndex): void {
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) {
      const node = readNode(r, r.uint32() + r.pos);
      if (node) index.nodes.push(node);
    } else if (field === 5 && (tag & 7) === 2) {
      const init = readTensor(r, r.uint32() + r.pos);
      index.initializers.set(init.name, init);
    } else r.skipType(tag & 7);
  }
}

function readNode(r: Reader, end: number): OnnxWeightNode | null {
  const inputs: string[] = [];
  let name = '';
  let op = '';
  let transB = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: inputs.push(r.string()); break;
      case 3: name = r.string(); break;
      case 4: op = r.string(); break;
      case 5: {
        const attr = readIntAttribute(r, r.uint32() + r.pos);
        if (attr.name === 'transB') transB = attr.value;
        break;
      }
      default: r.skipType(tag & 7);
    }
  }
  return WEIGHT_OPS.has(op) ? { op: op as OnnxWeightNode['op'], name, inputs, transB } : null;
}

function readIntAttribute(r: Reader, end: number): { name: string; value: number } {
  let name = '';
  let value = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) name = r.string();
    else if (tag >>> 3 === 3 && (tag & 7) === 0) value = Number(r.int64());
    else r.skipType(tag & 7);
  }
  return { name, value };
}

function readTensor(r: Reader, end: number): OnnxInitializer {
  const { name, dims, dataType, inline, external } = readTensorProto(r, end);
  const type = TYPES[dataType] ?? null;
  const count = dims.reduce((a, b) => a * b, 1);
  if (external.location) {
    const length = external.length ? Number(external.length) : type ? count * ELEMENT_BYTES[type] : 0;
    return { name, dims, type, file: external.location, offset: Number(external.offset ?? 0), length };
  }
  return { name, dims, type, file: null, offset: inline?.offset ?? 0, length: inline?.length ?? 0 };
}

export const elementBytes = (type: OnnxWeightType) => ELEMENT_BYTES[type];
