/**
 * `encoding_format` of /embeddings: plain float arrays, or base64 of little-endian float32 bytes (OpenAI's form).
 */

import { encodeBase64 } from '../util/base64';

export type EncodingFormat = 'float' | 'base64';

export function encodeVector(v: Float32Array, format: EncodingFormat): number[] | string {
  if (format === 'float') return Array.from(v);
  return encodeBase64(float32ToLittleEndianBytes(v));
}

export function float32ToLittleEndianBytes(v: Float32Array): Uint8Array {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
  return bytes;
}


export function base64ToFloat32(b64: string): Float32Array {
  const binary = atob(b64);
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const out = new Float32Array(binary.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
