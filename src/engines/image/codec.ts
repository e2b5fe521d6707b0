/**
 * Image bytes ↔ pixels in a browser or worker: PNG/JPEG decoding with createImageBitmap (resized to the requested
 * size on an OffscreenCanvas) and encoding with OffscreenCanvas.convertToBlob. Bad image bytes become a 400.
 */
import { invalidRequest } from '../../core/errors';
import type { EncodedImage, RgbaImage } from './types';

export interface ImageCodec {
  /** Decodes and resizes to width × height; returns RGBA. `param` names the request field in errors. */
  decode(image: EncodedImage, width: number, height: number, param: string): Promise<Uint8Array>;
  encode(image: RgbaImage, type: 'image/png' | 'image/jpeg', quality?: number): Promise<ArrayBuffer>;
}

export const canvasCodec: ImageCodec = {
  async decode(image, width, height, param) {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(new Blob([image.bytes], { type: image.type || 'application/octet-stream' }));
    } catch {
      throw invalidRequest(`"${param}" is not a PNG or JPEG image this browser can decode`, param, 'invalid_image');
    }
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('OffscreenCanvas 2D is not available');
    ctx.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    return new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer);
  },
  async encode(image, type, quality) {
    const canvas = new OffscreenCanvas(image.width, image.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('OffscreenCanvas 2D is not available');
    ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
    return (await canvas.convertToBlob({ type, quality })).arrayBuffer();
  },
};

export function rgbaToRgb(rgba: Uint8Array): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    rgb[q] = rgba[p];
    rgb[q + 1] = rgba[p + 1];
    rgb[q + 2] = rgba[p + 2];
  }
  return rgb;
}
