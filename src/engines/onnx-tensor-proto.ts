/**
 * One ONNX TensorProto (an initializer) read from protobuf wire bytes, without decoding its values: name, dims, the
 * element type number, where its values lie in the model file (raw_data or packed float_data), and its external-data
 * entries (location, offset, length). Shared by the readers that find weights in a model file without copying it:
 * the LoRA merge (src/engines/image/lora/onnx-weights.ts) and the WGSL decoder (src/engines/llm/wgsl/onnx-graph.ts).
 */
import type protobuf from 'protobufjs/minimal.js';

export interface TensorProtoFields {
  name: string;
  dims: number[];
  /** ONNX TensorProto.DataType (1 float, 2 uint8, 10 float16…). */
  dataType: number;
  /** Byte range of the values inside the model file, when they are stored inline. */
  inline: { offset: number; length: number } | null;
  /** external_data entries, e.g. `{location, offset, length}`; empty when the values are inline. */
  external: Record<string, string>;
}

/** Reads the TensorProto that ends at byte `end` of the reader's buffer (the reader is left at `end`). */
export function readTensorProto(r: protobuf.Reader, end: number): TensorProtoFields {
  const dims: number[] = [];
  let name = '';
  let dataType = 0;
  let inline: TensorProtoFields['inline'] = null;
  const external: Record<string, string> = {};
  while (r.pos < end) {
    const tag = r.uint32();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wire === 2) for (const stop = r.uint32() + r.pos; r.pos < stop;) dims.push(Number(r.int64()));
        else dims.push(Number(r.int64()));
        break;
      case 2: dataType = r.int32(); break;
      case 8: name = r.string(); break;
      // raw_data, or packed float_data: both are the values as little-endian bytes.
      case 4: case 9:
        if (wire !== 2) { r.skipType(wire); break; }
        inline = { length: r.uint32(), offset: r.pos };
        r.skip(inline.length);
        break;
      case 13: {
        const stop = r.uint32() + r.pos;
        let key = '';
        let value = '';
        while (r.pos < stop) {
          const t = r.uint32();
          if (t >>> 3 === 1) key = r.string();
          else if (t >>> 3 === 2) value = r.string();
          else r.skipType(t & 7);
        }
        external[key] = value;
        break;
      }
      default: r.skipType(wire);
    }
  }
  return { name, dims, dataType, inline, external };
}
