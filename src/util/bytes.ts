/**
 * Byte helpers shared by the body reader and the model downloader.
 */

/** Joins chunks read from a stream into one array. */
export function concatBytes(chunks: Uint8Array[], total = chunks.reduce((n, c) => n + c.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
