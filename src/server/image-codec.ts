/**
 * Image bytes ↔ pixels in Node, where there is no OffscreenCanvas: PNG through fast-png, JPEG through jpeg-js, and a
 * bilinear resize to the requested size (what a canvas drawImage does in the browser codec). Bad bytes become a 400.
 */
import { convertIndexedToRgb, decode as decodePng, encode as encodePng, hasPngSignature, type DecodedPng } from 'fast-png';
import jpeg from 'jpeg-js';
import { invalidRequest } from '../core/errors';
import type { ImageCodec } from '../engines/image/codec';
import type { RgbaImage } from '../engines/image/types';

export const nodeCodec: ImageCodec = {
  async decode(image, width, height, param) {
    const bytes = new Uint8Array(image.bytes);
    let rgba: RgbaImage;
    try {
      rgba = hasPngSignature(bytes) ? pngToRgba(decodePng(bytes)) : jpegToRgba(bytes);
    } catch {
      throw invalidRequest(`"${param}" is not a PNG or JPEG image this server can decode`, param, 'invalid_image');
    }
    return rgba.width === width && rgba.height === height ? rgba.data : resizeBilinear(rgba, width, height);
  },
  async encode(image, type, quality) {
    const bytes = type === 'image/jpeg'
      ? jpeg.encode({ width: image.width, height: image.height, data: image.data }, Math.round((quality ?? 0.92) * 100)).data
      : encodePng({ width: image.width, height: image.height, data: image.data, channels: 4, depth: 8 });
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  },
};

function jpegToRgba(bytes: Uint8Array): RgbaImage {
  const { width, height, data } = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 64 });
  return { width, height, data };
}

/** Any PNG (grey, grey+alpha, RGB, RGBA, palette; 8 or 16 bits) as 8-bit RGBA. */
function pngToRgba(png: DecodedPng): RgbaImage {
  const pixels = png.width * png.height;
  let data: ArrayLike<number> = png.data;
  let channels = png.channels;
  let depth: number = png.depth;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = data.length / pixels;
    depth = 8;
  }
  const shift = depth === 16 ? 8 : 0;
  const out = new Uint8Array(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    const at = (c: number) => data[p * channels + c] >> shift;
    const grey = channels <= 2;
    out[p * 4] = at(0);
    out[p * 4 + 1] = grey ? at(0) : at(1);
    out[p * 4 + 2] = grey ? at(0) : at(2);
    out[p * 4 + 3] = channels === 2 ? at(1) : channels === 4 ? at(3) : 255;
  }
  return { width: png.width, height: png.height, data: out };
}

function resizeBilinear(src: RgbaImage, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  const sx = src.width / width;
  const sy = src.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), src.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, src.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), src.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, src.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const v = (1 - wy) * ((1 - wx) * src.data[(y0 * src.width + x0) * 4 + c] + wx * src.data[(y0 * src.width + x1) * 4 + c]) +
          wy * ((1 - wx) * src.data[(y1 * src.width + x0) * 4 + c] + wx * src.data[(y1 * src.width + x1) * 4 + c]);
        out[(y * width + x) * 4 + c] = Math.round(v);
      }
    }
  }
  return out;
}
