/**
 * Fast float16 reads for bulk data (LoRA merges, safetensors): a 65,536-entry table of every half-precision value,
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
