/**
 * Reads a safetensors file (the format LoRA adapters ship in): an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets}, "__metadata__": {…}}`, then the raw little-endian tensor bytes. Every tensor
 * is checked against the buffer before use, so a truncated or foreign file is a clear 400, never a crash later.
 * (The format is a dozen lines of layout; the npm packages for it read from the network or are unmaintained.)
 */
import { halfTable } from '../../../util/float16';
import { invalidRequest } from '../../../core/errors';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16';

export interface SafeTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The values as float32 (F16/BF16 widened exactly, F64 rounded). */
  values(): Float32Array;
  /** The tensor's bytes as the file stores them (little-endian, `dtype`): a view of the file's buffer, not a copy. */
  bytes(): Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2 };
/** Headers past this are not LoRA files (the reference implementation caps them at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

interface HeaderEntry { dtype: string; shape: number[]; data_offsets: [number, number] }

/** `param` names the request field blamed for a bad file; `subject` what the file is, in messages ('LoRA', 'model'). */
export function readSafetensors(bytes: Uint8Array, param = 'lora_weight_filename', subject = 'LoRA'): SafetensorsFile {
  const bad = (why: string) => invalidRequest(`The ${subject} file is not a valid safetensors file: ${why}`, param, 'invalid_lora');
  if (bytes.byteLength < 8) throw bad('it is shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.byteLength) throw bad(`its header length (${headerLength}) exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch {
    throw bad('its header is not JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('its header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (raw && typeof raw === 'object' ? raw : {}) as Record<string, string>;
      continue;
    }
    const entry = raw as HeaderEntry;
    if (!entry || typeof entry !== 'object' || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets)) throw bad(`tensor "${name}" has no shape or offsets`);
    if (!(entry.dtype in BYTES)) {
      throw invalidRequest(`${subject} tensor "${name}" has dtype ${String(entry.dtype)}; only F32, F16, BF16 and F64 are supported`, param, 'invalid_lora');
    }
    const dtype = entry.dtype as SafetensorsDtype;
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (!entry.shape.every((d) => Number.isInteger(d) && d >= 0) || !Number.isInteger(begin) || !Number.isInteger(end)
      || begin < 0 || end > dataLength || end - begin !== count * BYTES[dtype]) {
      throw bad(`tensor "${name}" (${dtype} [${entry.shape.join(', ')}]) does not fit its offsets ${begin}–${end} of ${dataLength} data bytes`);
    }
    const at = bytes.byteOffset + dataStart + begin;
    tensors.set(name, {
      name, dtype, shape: entry.shape,
      values: () => decode(bytes.buffer, at, count, dtype),
      bytes: () => bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
  return { tensors, metadata };
}

function decode(buffer: ArrayBufferLike, at: number, count: number, dtype: SafetensorsDtype): Float32Array {
  const view = new DataView(buffer, at, count * BYTES[dtype]);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32': for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true); break;
    case 'F64': for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true); break;
    case 'F16': {
      const half = halfTable();
      for (let i = 0; i < count; i++) out[i] = half[view.getUint16(2 * i, true)];
      break;
    }
    // bfloat16 is the top half of a float32.
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
  }
  return out;
}
