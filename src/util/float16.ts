/**
 * Fast float16 reads for bulk data (LoRA merges, safetensors, float16 logits): a 65,536-entry table of every half-precision value,
 * built once with @petamoriken/float16's exact conversion, because its per-call accessors cost ~1 µs an element.
 */
import { getFloat16 } from '@petamoriken/float16';

let table: Float32Array | undefined;

/** The float32 value of every float16 bit pattern. */
export function halfTable(): Float32Array {
  if (!table) {
    const view = new DataView(new ArrayBuffer(2));
    table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) {
      view.setUint16(0, bits, true);
      table[bits] = getFloat16(view, 0, true);
    }
  }
  return table;
}

/**
 * Widens float16 data to a new Float32Array: raw bit patterns (Uint16Array, what onnxruntime-web returns where the
 * platform has no Float16Array) or a native Float16Array (Chrome 135+), whose elements are already numbers.
 */
export function float16ToFloat32(data: Uint16Array | ArrayLike<number>): Float32Array {
  if (data instanceof Uint16Array) {
    const half = halfTable();
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = half[data[i]];
    return out;
  }
  return Float32Array.from(data);
}
