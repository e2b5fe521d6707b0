/**
 * Finds a Llama-family decoder's weights in an onnx-community / Optimum ONNX export by what the graph does with them:
 * the embedding is the table a Gather indexes with `input_ids`; each projection is the weight of the MatMul,
 * MatMulNBits or Gemm whose node (or weight, or output) is named `layers.{i}…{q,k,v,o,gate,up,down}_proj`; the head is
 * the one producing `logits` (a Transpose of the embedding when tied); biases are the initializers added to the q/k/v
 * outputs; norms are the 1-D initializers named (or used by nodes named) `input_layernorm`, `post_attention_layernorm`
 * and the final `norm`. Matrices may be float32 or float16 (fp16 / q4f16 exports: the fp16 bytes are kept as they are,
 * widened on the GPU), MatMulNBits scales float32 or float16; norms and biases (1-D, a few KB) are widened to float32
 * here, once at load. Anything else (8-bit blocks, fused qkv…) is an Error naming what is missing.
 */
import { ONNX_FLOAT, ONNX_FLOAT16, ONNX_UINT8, readOnnxGraph, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-graph';
import { f32FromBytes, f32FromF16Bytes, type LinearWeight, type LlamaArchitecture, type LlamaLayerWeights, type LlamaWeights } from './weights';

const PROJ = /layers[._/](\d+)[./_](?:self_attn|attn|mlp)[./_](q|k|v|o|gate|up|down)_proj\b/;
type Proj = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';

export function llamaWeightsFromOnnx(model: Uint8Array, external: { path: string; data: Uint8Array }[], arch: LlamaArchitecture): LlamaWeights {
  const graph = readOnnxGraph(model, external);
  const producer = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  for (const node of graph.nodes) {
    for (const o of node.outputs) producer.set(o, node);
    for (const i of node.inputs) consumers.set(i, [...(consumers.get(i) ?? []), node]);
  }
  const init = (name: string) => graph.initializers.get(name);

  // Embedding: Gather(table, input_ids).
  const gather = graph.nodes.find((n) => (n.op === 'Gather' || n.op === 'GatherBlockQuantized') && n.inputs[1] === 'input_ids');
  if (!gather) throw new Error('no Gather reads input_ids (the embedding)');
  if (gather.op !== 'Gather') throw new Error(`the embedding is a ${gather.op} (a quantised table), which is not supported yet`);
  const table = init(gather.inputs[0]);
  if (!table || !isFloat(table) || table.dims.length !== 2) throw new Error('the embedding table is not a float32 or float16 [vocab, hidden] initializer');
  const embed: LinearWeight = matrix(table, 'nk', table.dims[0], table.dims[1]);
  checkShape('embedding', embed, arch.vocab, arch.hidden, true);

  const linears = new Map<string, { node: OnnxNode; weight: LinearWeight }>();
  let lmHead: LinearWeight | null = null;
  for (const node of graph.nodes) {
    if (node.op !== 'MatMul' && node.op !== 'MatMulNBits' && node.op !== 'Gemm') continue;
    // fp16 exports keeping float32 outputs end in Cast(logits_fp16) → logits.
    const isHead = node.outputs.includes('logits') || /lm_head/.test(node.name)
      || (consumers.get(node.outputs[0]) ?? []).some((c) => c.op === 'Cast' && c.outputs.includes('logits'));
    const match = PROJ.exec(node.name) ?? PROJ.exec(node.inputs[1] ?? '') ?? PROJ.exec(node.outputs[0] ?? '');
    if (!isHead && !match) continue;
    const weight = linearWeight(node, graph, producer, table, embed);
    if (!weight) {
      if (isHead || node.op !== 'MatMul') throw new Error(`cannot read the weight of ${node.op} ${node.name || node.outputs[0]}`);
      continue; // attention's own MatMuls (q·kᵀ) have no initializer
    }
    if (isHead) lmHead = weight;
    else linears.set(`${match![1]}.${match![2]}`, { node, weight });
  }
  if (!lmHead) throw new Error('no MatMul produces logits (the lm_head)');
  checkShape('lm_head', lmHead, arch.vocab, arch.hidden, true);

  const norm = (layer: number | null, kind: string): Float32Array => {
    const names = layer === null ? ['model.norm.weight', 'norm.weight', 'model.final_layernorm.weight'] : [`model.layers.${layer}.${kind}.weight`, `layers.${layer}.${kind}.weight`];
    let t = names.map(init).find(Boolean);
    if (!t) {
      const where = layer === null ? /(^|\/)(model\/)?norm\// : new RegExp(`layers[._]${layer}/${kind}/`);
      for (const node of graph.nodes) {
        if (!where.test(node.name)) continue;
        t = node.inputs.map(init).find((x) => x && isFloat(x) && x.dims.length === 1 && x.dims[0] === arch.hidden);
        if (t) break;
      }
    }
    if (!t || !isFloat(t) || t.bytes.byteLength !== elementBytes(t) * arch.hidden) throw new Error(`no float32 or float16 weight for ${layer === null ? 'the final norm' : `layer ${layer}'s ${kind}`}`);
    return vector(t);
  };

  const bias = (node: OnnxNode, n: number): Float32Array | null => {
    const nbitsBias = node.op === 'MatMulNBits' ? init(node.inputs[5] ?? '') : undefined;
    const add = (consumers.get(node.outputs[0]) ?? []).find((c) => c.op === 'Add' && c.inputs.some((i) => init(i)));
    const t = nbitsBias ?? (add ? add.inputs.map(init).find(Boolean) : undefined) ?? (node.op === 'Gemm' ? init(node.inputs[2] ?? '') : undefined);
    if (!t) return null;
    if (!isFloat(t) || t.bytes.byteLength !== elementBytes(t) * n) throw new Error(`the bias of ${node.name} is not float32 or float16 [${n}]`);
    return vector(t);
  };

  const layers: LlamaLayerWeights[] = [];
  const qSize = arch.heads * arch.headDim;
  const kvSize = arch.kvHeads * arch.headDim;
  for (let i = 0; i < arch.layers; i++) {
    const get = (p: Proj, n: number, k: number) => {
      const found = linears.get(`${i}.${p}`);
      if (!found) throw new Error(`no ${p}_proj weight for layer ${i}`);
      checkShape(`layer ${i} ${p}_proj`, found.weight, n, k, false);
      return found;
    };
    const q = get('q', qSize, arch.hidden);
    const k = get('k', kvSize, arch.hidden);
    const v = get('v', kvSize, arch.hidden);
    layers.push({
      attnNorm: norm(i, 'input_layernorm'),
      q: q.weight, k: k.weight, v: v.weight,
      o: get('o', arch.hidden, qSize).weight,
      qBias: bias(q.node, qSize), kBias: bias(k.node, kvSize), vBias: bias(v.node, kvSize),
      mlpNorm: norm(i, 'post_attention_layernorm'),
      gate: get('gate', arch.intermediate, arch.hidden).weight,
      up: get('up', arch.intermediate, arch.hidden).weight,
      down: get('down', arch.hidden, arch.intermediate).weight,
    });
  }
  return { arch, embed, layers, finalNorm: norm(null, 'norm'), lmHead };
}

function linearWeight(node: OnnxNode, graph: OnnxGraph, producer: Map<string, OnnxNode>, table: OnnxTensor, embed: LinearWeight): LinearWeight | null {
  const init = (name: string | undefined) => (name ? graph.initializers.get(name) : undefined);
  if (node.op === 'MatMulNBits') {
    const q = init(node.inputs[1]);
    const scales = init(node.inputs[2]);
    const zp = init(node.inputs[3]);
    const { K, N, bits, block_size: bs } = node.ints;
    if (bits !== 4) throw new Error(`${node.name}: MatMulNBits with ${bits} bits (only 4 are supported)`);
    if (!q || q.dataType !== ONNX_UINT8) throw new Error(`${node.name}: its 4-bit weight is not a uint8 initializer`);
    if (!scales || !isFloat(scales)) throw new Error(`${node.name}: its scales are not float32 or float16`);
    if (zp && zp.dataType !== ONNX_UINT8) throw new Error(`${node.name}: its zero points are not uint8`);
    if (init(node.inputs[4])) throw new Error(`${node.name}: g_idx (act-order) is not supported`);
    if (!bs || bs % 8 || bs < 16) throw new Error(`${node.name}: block_size ${bs} is not a multiple of 8 from 16`);
    const blocks = Math.ceil(K / bs);
    if (q.bytes.byteLength !== N * blocks * bs / 2 || scales.bytes.byteLength !== elementBytes(scales) * N * blocks) throw new Error(`${node.name}: its blocks do not match K=${K}, N=${N}`);
    const scaleType = scales.dataType === ONNX_FLOAT16 ? 'f16' : 'f32';
    return { kind: 'q4', n: N, k: K, blockSize: bs, q: q.bytes, scales: scales.bytes, scaleType, zeroPoints: zp?.bytes ?? null };
  }
  const name = node.inputs[1];
  const direct = init(name);
  if (direct) {
    if (!isFloat(direct) || direct.dims.length !== 2) throw new Error(`${node.name}: weight ${name} is not a float32 or float16 matrix`);
    if (direct === table) return embed;
    const transposed = node.op === 'Gemm' && node.ints.transB === 1;
    const [a, b] = direct.dims;
    return transposed ? matrix(direct, 'nk', a, b) : matrix(direct, 'kn', b, a);
  }
  const t = producer.get(name);
  if (t?.op === 'Transpose') {
    const source = init(t.inputs[0]);
    if (!source) return null;
    if (source === table) return embed;
    if (!isFloat(source) || source.dims.length !== 2) throw new Error(`${node.name}: weight ${source.name} is not a float32 or float16 matrix`);
    return matrix(source, 'nk', source.dims[0], source.dims[1]);
  }
  return null;
}

const isFloat = (t: OnnxTensor) => t.dataType === ONNX_FLOAT || t.dataType === ONNX_FLOAT16;
const elementBytes = (t: OnnxTensor) => (t.dataType === ONNX_FLOAT16 ? 2 : 4);

/** A float32 or float16 matrix initializer as a weight, its bytes as the file stores them. */
function matrix(t: OnnxTensor, layout: 'nk' | 'kn', n: number, k: number): LinearWeight {
  if (t.bytes.byteLength !== elementBytes(t) * n * k) throw new Error(`initializer ${t.name} has ${t.bytes.byteLength} bytes, not [${n}, ${k}]`);
  return { kind: t.dataType === ONNX_FLOAT16 ? 'f16' : 'f32', layout, n, k, bytes: t.bytes };
}

/** A 1-D float32 or float16 initializer (a norm or a bias) as float32. */
const vector = (t: OnnxTensor): Float32Array => (t.dataType === ONNX_FLOAT16 ? f32FromF16Bytes(t.bytes) : f32FromBytes(t.bytes));

function checkShape(what: string, w: LinearWeight, n: number, k: number, allowVocabPadding: boolean): void {
  const ok = w.k === k && (w.n === n || (allowVocabPadding && w.n >= n));
  if (!ok) throw new Error(`${what} is [${w.n}, ${w.k}], expected [${n}, ${k}]`);
}
