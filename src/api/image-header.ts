/**
 * An uploaded image's pixel size read from its header (PNG, JPEG, WebP, GIF), before anything decodes it: a small
 * file can declare 20000×20000 pixels and cost gigabytes once decoded (a decompression bomb). Uploads larger than
 * the model's largest resolution × LIMITS.imageUploadSideFactor per side, or in no known format, are refused (400).
 */
import { invalidRequest } from './errors';
import { LIMITS } from './limits';

export interface ImageSize { format: 'png' | 'jpeg' | 'webp' | 'gif'; width: number; height: number }

/** The declared size, or null when the bytes are in none of the formats known here (or the header is cut short). */
export function readImageSize(bytes: Uint8Array): ImageSize | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (at: number, length: number) => String.fromCharCode(...bytes.subarray(at, at + length));
  if (bytes.length >= 24 && bytes[0] === 0x89 && ascii(1, 3) === 'PNG' && ascii(12, 4) === 'IHDR') {
    return { format: 'png', width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (bytes.length >= 10 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) {
    return { format: 'gif', width: view.getUint16(6, true), height: view.getUint16(8, true) };
  }
  if (bytes.length >= 30 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') {
    const chunk = ascii(12, 4);
    if (chunk === 'VP8X') return { format: 'webp', width: 1 + (view.getUint32(24, true) & 0xffffff), height: 1 + (view.getUint32(27, true) & 0xffffff) };
    if (chunk === 'VP8L') {
      const bits = view.getUint32(21, true);
      return { format: 'webp', width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
    }
    if (chunk === 'VP8 ') return { format: 'webp', width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    return null;
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Segments up to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC), which holds height then width.
    let at = 2;
    while (at + 9 < bytes.length) {
      if (bytes[at] !== 0xff) return null;
      const marker = bytes[at + 1];
      if (marker === 0xff) { at++; continue; }
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { format: 'jpeg', width: view.getUint16(at + 7), height: view.getUint16(at + 5) };
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
      at += 2 + view.getUint16(at + 2);
    }
    return null;
  }
  return null;
}

/** 400 unless `bytes` is a PNG/JPEG/WebP/GIF of at most `maxSide` pixels per side (from `resolutions`). */
export function checkImageUpload(bytes: ArrayBuffer, param: string, resolutions: [number, number][]): void {
  const size = readImageSize(new Uint8Array(bytes));
  if (!size) throw invalidRequest(`"${param}" must be a PNG, JPEG, WebP or GIF image`, param, 'invalid_image');
  const maxSide = Math.max(...resolutions.flat()) * LIMITS.imageUploadSideFactor;
  if (!size.width || !size.height || size.width > maxSide || size.height > maxSide) {
    throw invalidRequest(`"${param}" is ${size.width}×${size.height} pixels; this model takes images of at most ${maxSide}×${maxSide}`,
      param, 'image_too_large');
  }
}
