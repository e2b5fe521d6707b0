/**
 * Just enough of an ONNX ModelProto to find a decoder's weights: every node (op, name, inputs, outputs, integer
 * attributes) and every initializer (name, dims, element type, and its bytes — a view into the model file or into
 * its external data file, never copied). Read with protobufjs' wire reader; values are not decoded here.
 */
import protobuf from 'protobufjs/minimal.js';
import { readTensorProto } from '../../onnx-tensor-proto';

type Reader = protobuf.Reader;

export interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  ints: Record<string, number>;
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  /** TensorProto.DataType: 1 float, 2 uint8, 10 float16, … */
  dataType: number;
  bytes: Uint8Array;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
}

export const ONNX_FLOAT = 1;
export const ONNX_UINT8 = 2;
export const ONNX_FLOAT16 = 10;

/** Reads `model` (external data files by the name the graph gives them). Throws on bytes that are not ONNX. */
export function readOnnxGraph(model: Uint8Array, external: { path: string; data: Uint8Array }[] = []): OnnxGraph {
  const r = protobuf.Reader.create(model);
  const graph: OnnxGraph = { nodes: [], initializers: new Map() };
  let graphs = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 7 && (tag & 7) === 2) {
      readGraph(r, r.uint32() + r.pos, model, external, graph);
      graphs++;
    } else r.skipType(tag & 7);
  }
  if (graphs !== 1) throw new Error(`not an ONNX model (${graphs} graphs)`);
  return graph;
}

function readGraph(r: Reader, end: number, model: Uint8Array, external: { path: string; data: Uint8Array }[], graph: OnnxGraph): void {
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) graph.nodes.push(readNode(r, r.uint32() + r.pos));
    else if (field === 5 && (tag & 7) === 2) {
      const t = readTensor(r, r.uint32() + r.pos, model, external);
      graph.initializers.set(t.name, t);
    } else r.skipType(tag & 7);
  }
}

function readNode(r: Reader, end: number): OnnxNode {
  const node: OnnxNode = { op: '', name: '', inputs: [], outputs: [], ints: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: node.inputs.push(r.string()); break;
      case 2: node.outputs.push(r.string()); break;
      case 3: node.name = r.string(); break;
      case 4: node.op = r.string(); break;
      case 5: {
        const stop = r.uint32() + r.pos;
        let name = '';
        let value: number | null = null;
        while (r.pos < stop) {
          const t = r.uint32();
          if (t >>> 3 === 1) name = r.string();
          else if (t >>> 3 === 3 && (t & 7) === 0) value = Number(r.int64());
          else r.skipType(t & 7);
        }
        if (value !== null) node.ints[name] = value;
        break;
      }
      default: r.skipType(tag & 7);
    }
  }
  return node;
}

function readTensor(r: Reader, end: number, model: Uint8Array, external: { path: string; data: Uint8Array }[]): OnnxTensor {
  const { name, dims, dataType, inline, external: ext } = readTensorProto(r, end);
  if (ext.location) {
    const file = external.find((f) => f.path === ext.location || f.path.split('/').pop() === ext.location.split('/').pop());
    if (!file) throw new Error(`initializer ${name} is in external data "${ext.location}", which was not given`);
    const offset = Number(ext.offset ?? 0);
    const length = ext.length ? Number(ext.length) : file.data.byteLength - offset;
    if (offset + length > file.data.byteLength) throw new Error(`initializer ${name} lies past the end of "${ext.location}"`);
    return { name, dims, dataType, bytes: file.data.subarray(offset, offset + length) };
  }
  return { name, dims, dataType, bytes: inline ? model.subarray(inline.offset, inline.offset + inline.length) : new Uint8Array(0) };
}
