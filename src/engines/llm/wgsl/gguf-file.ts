/**
 * A GGUF file (llama.cpp's model format) as Hearth reads it: the header — metadata and tensor infos — parsed by
 * `@huggingface/gguf` over the file's bytes or a Blob (a local File: only the header is read), and each tensor's
 * bytes located in the data section and checked to lie inside the file. Anything wrong is a 400 `invalid_gguf`
 * naming the problem; a tensor in a block type the WGSL decoder cannot read is a 400 `unsupported_gguf_type`
 * listing the ones it can.
 */
import { gguf, type GGUFParseOutput } from '@huggingface/gguf';
import { invalidRequest, type HearthError } from '../../../core/errors';

/** GGML block types the WGSL decoder reads: bytes per block and elements per block. */
export const GGUF_TYPES = {
  F32: { id: 0, blockBytes: 4, blockElements: 1 },
  F16: { id: 1, blockBytes: 2, blockElements: 1 },
  Q4_0: { id: 2, blockBytes: 18, blockElements: 32 },
  Q8_0: { id: 8, blockBytes: 34, blockElements: 32 },
  Q4_K: { id: 12, blockBytes: 144, blockElements: 256 },
  Q6_K: { id: 14, blockBytes: 210, blockElements: 256 },
} as const;
export type GgufType = keyof typeof GGUF_TYPES;
export const GGUF_SUPPORTED_TYPES = Object.keys(GGUF_TYPES) as GgufType[];

/** Names of GGML type ids we do not read, for error messages. */
const OTHER_TYPE_NAMES: Record<number, string> = {
  3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 13: 'Q5_K', 15: 'Q8_K', 16: 'IQ2_XXS',
  17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16',
  26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

export interface GgufTensor {
  name: string;
  type: GgufType;
  /** GGML order: dims[0] is the innermost (row length), e.g. [k, n] for a [n, k] matrix. */
  dims: number[];
  /** The tensor's bytes in the file, as stored. */
  bytes: Uint8Array;
}

export type GgufMetadata = Record<string, unknown>;

export interface GgufHeader {
  metadata: GgufMetadata;
  tensors: { name: string; typeId: number; dims: number[]; offset: number; byteLength: number }[];
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}

export interface GgufFile {
  header: GgufHeader;
  metadata: GgufMetadata;
  tensors: Map<string, GgufTensor>;
}

const badFile = (message: string): HearthError => invalidRequest(`Not a readable GGUF file: ${message}`, 'file', 'invalid_gguf');

export function ggufTypeName(id: number): string {
  return GGUF_SUPPORTED_TYPES.find((t) => GGUF_TYPES[t].id === id) ?? OTHER_TYPE_NAMES[id] ?? `type ${id}`;
}

/** Bytes a tensor of `dims` takes in GGML type `typeId`, or null for a type we do not know the block size of. */
function tensorBytes(typeId: number, dims: number[], name: string): number | null {
  const type = GGUF_SUPPORTED_TYPES.find((t) => GGUF_TYPES[t].id === typeId);
  if (!type) return null;
  const { blockBytes, blockElements } = GGUF_TYPES[type];
  if (dims[0] % blockElements) throw badFile(`tensor ${name} has rows of ${dims[0]}, not whole ${type} blocks of ${blockElements}`);
  return (dims.reduce((a, b) => a * b, 1) / blockElements) * blockBytes;
}

/** A GGUF file's bytes, in memory or on disk (a File from a picker): only the ranges read are loaded. */
export type GgufSource = Blob | Uint8Array;

const sourceSize = (s: GgufSource) => (s instanceof Uint8Array ? s.byteLength : s.size);
async function sourceRange(s: GgufSource, start: number, end: number): Promise<ArrayBuffer> {
  if (s instanceof Uint8Array) return s.slice(start, end).buffer;
  return s.slice(start, end).arrayBuffer();
}

/** Serves HTTP-style range requests from the source, so @huggingface/gguf reads the header without a network. */
function rangeFetch(source: GgufSource): typeof fetch {
  const size = sourceSize(source);
  return (async (_input: RequestInfo | URL, init?: RequestInit) => {
    const range = new Headers(init?.headers).get('range') ?? '';
    const m = /bytes=(\d+)-(\d+)/.exec(range);
    const start = Math.min(m ? Number(m[1]) : 0, size);
    const end = Math.min(m ? Number(m[2]) + 1 : size, size);
    const body = start < end ? await sourceRange(source, start, end) : new ArrayBuffer(0);
    return new Response(body, { status: 206, headers: { 'content-range': `bytes ${start}-${Math.max(start, end - 1)}/${size}` } });
  }) as typeof fetch;
}

/** The header of a GGUF file, checked against the file's size (every tensor must lie inside it). */
export async function readGgufHeader(source: GgufSource): Promise<GgufHeader> {
  const file = { size: sourceSize(source) };
  if (file.size < 24) throw badFile(`the file is only ${file.size} bytes`);
  const magic = new Uint8Array(await sourceRange(source, 0, 4));
  if (String.fromCharCode(...magic) !== 'GGUF') throw badFile('it does not start with the GGUF magic "GGUF"');
  let parsed: GGUFParseOutput;
  try {
    parsed = await gguf('https://hearth.local/model.gguf', { fetch: rangeFetch(source) });
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    throw badFile(e instanceof RangeError ? `the header is cut short (${message})` : message);
  }
  if (!parsed.littleEndian) throw badFile('it is a big-endian GGUF file; only little-endian files are read');
  const dataOffset = Number(parsed.tensorDataOffset);
  const tensors = parsed.tensorInfos.map((t) => {
    const dims = t.shape.map(Number);
    const offset = dataOffset + Number(t.offset);
    const byteLength = tensorBytes(t.dtype, dims, t.name) ?? 0;
    if (byteLength && offset + byteLength > file.size) {
      throw badFile(`tensor ${t.name} (${byteLength} bytes at offset ${offset}) runs past the end of the ${file.size}-byte file: it is truncated`);
    }
    return { name: t.name, typeId: t.dtype as number, dims, offset, byteLength };
  });
  return { metadata: parsed.metadata as unknown as GgufMetadata, tensors, dataOffset, fileSize: file.size };
}

/** Throws the 400 for tensors in block types we do not read (named with the types we do). */
export function checkGgufTypes(header: GgufHeader, needed: (name: string) => boolean = () => true): void {
  const bad = header.tensors.filter((t) => needed(t.name) && !GGUF_SUPPORTED_TYPES.some((s) => GGUF_TYPES[s].id === t.typeId));
  if (!bad.length) return;
  const types = [...new Set(bad.map((t) => ggufTypeName(t.typeId)))];
  throw invalidRequest(
    `GGUF tensor type${types.length > 1 ? 's' : ''} ${types.join(', ')} (e.g. ${bad[0].name}) ${types.length > 1 ? 'are' : 'is'} not supported; ` +
    `supported: ${GGUF_SUPPORTED_TYPES.join(', ')}`, 'file', 'unsupported_gguf_type');
}

/** The whole file parsed: header plus each tensor's bytes (views into `bytes`, nothing copied). */
export async function readGguf(bytes: Uint8Array): Promise<GgufFile> {
  const header = await readGgufHeader(bytes);
  const tensors = new Map<string, GgufTensor>();
  for (const t of header.tensors) {
    const type = GGUF_SUPPORTED_TYPES.find((s) => GGUF_TYPES[s].id === t.typeId);
    if (!type) continue; // checked by the caller for the tensors it needs
    tensors.set(t.name, { name: t.name, type, dims: t.dims, bytes: bytes.subarray(t.offset, t.offset + t.byteLength) });
  }
  return { header, metadata: header.metadata, tensors };
}
