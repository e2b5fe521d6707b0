// The WGSL decoder's sampling kernel (shaders/llm/sample.wgsl) on WebGPU in Node (Dawn on SwiftShader) against the CPU
// sampler (src/engines/llm/sampling.ts, sampleToken) given the same uniform draw: for each setting and 12 draws spread
// over [0, 1) (48 with HEARTH_WGSL_FULL=1) the GPU picks the CPU's token (greedy with penalties and bias; temperature; top-k with ties at the k-th
// logit; top-p; top-k + top-p; min-p + top-p; repetition / frequency / presence penalties; logit_bias bans, boosts and
// forced tokens; a grammar bitmask shorter than the vocabulary; ignore_eos bans), over a 999-token vocabulary (not a
// multiple of the 1,024-token chunks or of 32-bit mask words); then every mode over 1, 33, 1,023, 1,025 and 3,001
// tokens, and a 128,256-token vocabulary (126 chunks, top-k ties across chunks). Then errors: nothing allowed, a NaN
// logit. Everything runs twice: with the workgroup-memory reductions (reduce_workgroup.wgsl) and with the subgroup ones
// (reduce_subgroup.wgsl, on a device with the `subgroups` feature: SwiftShader's Dawn adapter has 4-lane subgroups).
// Without an adapter the tests FAIL with an explanation, unless HEARTH_NO_GPU_TESTS=1.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDevice, skipGpu } from './dawn';
import { mulberry32 } from './random';
import { gpuSamplingFits, kernelBindGroupLayout, SAMPLER_STAGES, samplerScratchWords, samplerWords, stageGroups, type GpuSamplerInput } from '../../src/engines/llm/wgsl/gpu-sampling';
import { withReductions } from '../../src/engines/llm/wgsl/shaders';
import { argmaxReference } from '../../src/engines/llm/wgsl/reference';
import { DEFAULT_SAMPLING_PARAMS, applyPenalties, applyRepetitionPenalty, sampleToken, type SamplingParams } from '../../src/engines/llm/sampling';

const VOCAB = 999;
const full = process.env.HEARTH_WGSL_FULL === '1';
const shader = (name: string) => readFileSync(new URL(`../../shaders/llm/${name}.wgsl`, import.meta.url), 'utf8');
const rand = mulberry32(1414);

/** Both reduction libraries: the fallback on any device, and subgroups (SwiftShader's Dawn adapter has the feature). */
const VARIANTS = [['workgroup reductions', false], ['subgroup reductions', true]] as const;

describe.skipIf(skipGpu).each(VARIANTS)('GPU sampling (%s) equals the CPU sampler with the same draw', (_, subgroups) => {
  let device: GPUDevice;
  let layout: GPUBindGroupLayout;
  let pipelines: GPUComputePipeline[];
  beforeAll(async () => {
    device = await getDevice('wgsl-llm-sampling tests', subgroups ? ['subgroups' as GPUFeatureName] : []);
    if (subgroups) expect(device.features.has('subgroups')).toBe(true);
    const code = withReductions(shader('sample'), { reduce_workgroup: shader('reduce_workgroup'), reduce_subgroup: shader('reduce_subgroup') }, subgroups);
    layout = kernelBindGroupLayout(device, 'sample');
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const module = device.createShaderModule({ code });
    pipelines = await Promise.all(SAMPLER_STAGES.map(([entryPoint]) => device.createComputePipelineAsync({ layout: pipelineLayout, compute: { module, entryPoint } })));
  }, 120_000);

  /** Samples each (logits, sampler) pair in one submission (the seven stages each); returns [id, error] per pair. */
  async function gpuSample(logits: Float32Array, samplers: GpuSamplerInput[]): Promise<[number, number][]> {
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const uniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(uniform, 0, Uint32Array.of(logits.length, 0, 0, 0));
    const logitsBuf = device.createBuffer({ size: logits.byteLength, usage: storage });
    device.queue.writeBuffer(logitsBuf, 0, logits as Float32Array<ArrayBuffer>);
    const work = device.createBuffer({ size: logits.byteLength, usage: storage });
    const scratch = device.createBuffer({ size: 4 * samplerScratchWords(logits.length), usage: storage });
    const result = device.createBuffer({ size: 8 * samplers.length, usage: storage });
    const read = device.createBuffer({ size: 8 * samplers.length, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    const temp: GPUBuffer[] = [];
    samplers.forEach((s, i) => {
      const words = samplerWords(s, logits.length);
      const cfg = device.createBuffer({ size: Math.max(64, words.byteLength), usage: storage });
      device.queue.writeBuffer(cfg, 0, words);
      temp.push(cfg);
      const bindGroup = device.createBindGroup({
        layout,
        entries: [uniform, logitsBuf, cfg, work, scratch].map((buffer, b) => ({ binding: b, resource: { buffer } }))
          .concat([{ binding: 5, resource: { buffer: result, offset: 0, size: 8 } } as never]),
      });
      const pass = enc.beginComputePass();
      SAMPLER_STAGES.forEach((stage, k) => {
        pass.setPipeline(pipelines[k]);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(stageGroups(stage, 'sample', logits.length));
      });
      pass.end();
      enc.copyBufferToBuffer(result, 0, read, 8 * i, 8);
    });
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const words = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [uniform, logitsBuf, work, scratch, result, read, ...temp]) b.destroy();
    return samplers.map((_, i) => [words[2 * i], words[2 * i + 1]]);
  }

  function cpuSample(logits: Float32Array, s: GpuSamplerInput): number {
    const l = logits.slice();
    if (s.seen) applyRepetitionPenalty(l, s.seen, s.params.repetitionPenalty);
    applyPenalties(l, s.counts, s.params.frequencyPenalty, s.params.presencePenalty);
    return sampleToken(l, s.params, { next: () => s.u }, { allowed: s.allowed, banned: s.banned, logprob: false }).id;
  }

  const randomLogits = (scale: number, vocab = VOCAB) => Float32Array.from({ length: vocab }, () => (rand() * 2 - 1) * scale);
  const params = (p: Partial<SamplingParams>): SamplingParams => ({ ...DEFAULT_SAMPLING_PARAMS, ...p });
  // 12 draws per setting in npm test, 48 with HEARTH_WGSL_FULL=1 (`npm run test:wgsl`).
  const count = full ? 48 : 12;
  const draws = Array.from({ length: count }, (_, i) => (i + 0.37) / count);

  async function expectSame(logits: Float32Array, base: Omit<GpuSamplerInput, 'u'>) {
    expect(gpuSamplingFits(base.params, base.banned?.length ?? 0)).toBe(true);
    const samplers = draws.map((u) => ({ ...base, u }));
    const got = await gpuSample(logits, samplers);
    const want = samplers.map((s) => cpuSample(logits, s));
    expect(got.map(([, e]) => e)).toEqual(samplers.map(() => 0));
    expect(got.map(([id]) => id)).toEqual(want);
    return want;
  }

  const none = { seen: null, counts: new Map<number, number>() };

  it('greedy, temperature, top-k (ties at the k-th logit), top-p, top-k + top-p, min-p + top-p', async () => {
    const logits = randomLogits(4);
    // Ties: six tokens share the 3rd-highest value, and top_k = 6 keeps two of them (the lowest ids).
    const sorted = Array.from(logits).sort((a, b) => b - a);
    for (const id of [17, 230, 231, 600, 998]) logits[id] = sorted[2];
    logits[5] = logits[900] = sorted[0] + 1; // the maximum twice: greedy picks id 5
    const greedy = await expectSame(logits, { params: params({ temperature: 0 }), ...none });
    expect(new Set(greedy)).toEqual(new Set([5]));
    const t07 = await expectSame(logits, { params: params({ temperature: 0.7 }), ...none });
    expect(new Set(t07).size).toBeGreaterThan(3);
    const k6 = await expectSame(logits, { params: params({ topK: 6 }), ...none });
    const byRank = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x] || x - y);
    expect(byRank.slice(4, 6).every((id) => logits[id] === sorted[2])).toBe(true); // the cut falls inside the ties
    expect(new Set(byRank.slice(0, 6))).toEqual(new Set(k6));
    await expectSame(logits, { params: params({ topP: 0.9, temperature: 1.3 }), ...none });
    await expectSame(logits, { params: params({ topK: 50, topP: 0.8 }), ...none });
    await expectSame(logits, { params: params({ minP: 0.05, topP: 0.95, temperature: 0.9 }), ...none });
    await expectSame(logits, { params: params({ minP: 0.2, topK: 30 }), ...none });
    const k1 = await expectSame(logits, { params: params({ topK: 1, temperature: 1.5 }), ...none });
    expect(new Set(k1)).toEqual(new Set([5]));
  }, 120_000);

  it('penalties, logit_bias (ban, boost, forced), a grammar mask and ignore_eos bans', async () => {
    const logits = randomLogits(3);
    const seen = new Set([3, 4, 5, 77, 500, 998]);
    const counts = new Map([[4, 2], [77, 1], [600, 3]]);
    await expectSame(logits, { params: params({ repetitionPenalty: 1.3, frequencyPenalty: 0.5, presencePenalty: 0.3, topP: 0.95 }), seen, counts });
    await expectSame(logits, { params: params({ repetitionPenalty: 0.7, temperature: 0 }), seen, counts });
    const bias = params({ logitBias: [[1, -100], [2, 5], [3, -3], [700, 8]], temperature: 0.8 });
    await expectSame(logits, { params: bias, ...none, banned: [700] });
    logits[20] = logits[10];
    const forced = await expectSame(logits, { params: params({ logitBias: [[10, 100], [20, 100], [30, -100]] }), ...none });
    expect(new Set(forced)).toEqual(new Set([10, 20]));
    // A grammar mask of 31 words (992 tokens; the vocabulary's last 7 count as disallowed) allowing every 7th token.
    const allowed = new Uint32Array(31);
    for (let j = 0; j < 992; j += 7) allowed[j >> 5] |= 1 << (j & 31);
    const masked = await expectSame(logits, { params: params({ topK: 20, temperature: 1.2 }), ...none, allowed });
    expect(masked.every((id) => id % 7 === 0)).toBe(true);
    await expectSame(logits, { params: params({ temperature: 0 }), ...none, allowed, banned: [0, 7] });
  }, 120_000);

  it('odd vocabulary sizes (1, 33, 1023, 1025, 3001: one chunk, a partial chunk, several): every mode', async () => {
    // Every size with the workgroup reductions; 33 and 3001 with the subgroup ones (all five with HEARTH_WGSL_FULL=1).
    for (const vocab of full || !subgroups ? [1, 33, 1023, 1025, 3001] : [33, 3001]) {
      const logits = randomLogits(4, vocab);
      if (vocab > 40) {
        // Ties at the top and across chunks: the maximum at the last id and once more below; the 3rd value four times.
        const sorted = Array.from(logits).sort((a, b) => b - a);
        logits[vocab - 1] = logits[7] = sorted[0] + 1;
        for (const id of [3, Math.floor(vocab / 2), vocab - 2]) logits[id] = sorted[2];
      }
      const greedy = await expectSame(logits, { params: params({ temperature: 0 }), ...none });
      if (vocab > 40) expect(new Set(greedy)).toEqual(new Set([7]));
      await expectSame(logits, { params: params({ temperature: 0.9 }), ...none });
      await expectSame(logits, { params: params({ topK: 4, temperature: 1.2 }), ...none });
      await expectSame(logits, { params: params({ topP: 0.85 }), ...none });
      await expectSame(logits, { params: params({ topK: 30, topP: 0.9, minP: 0.02 }), ...none });
      const allowed = new Uint32Array(Math.ceil(vocab / 32));
      for (let j = 0; j < vocab; j += 3) allowed[j >> 5] |= 1 << (j & 31);
      const masked = await expectSame(logits, { params: params({ topP: 0.95, temperature: 0.7 }), ...none, allowed });
      expect(masked.every((id) => id % 3 === 0)).toBe(true);
    }
  }, 240_000);

  it('a 128,256-token vocabulary (Llama 3): greedy, temperature, top-k with ties across chunks, top-p, min-p, penalties, a mask', async () => {
    const vocab = 128_256;
    // Logits spread like a model's (most mass on a few hundred tokens), with ties: the 5th-highest value at four ids
    // in different chunks, top_k = 6 keeps two of them (the lowest ids).
    const logits = Float32Array.from({ length: vocab }, () => {
      const g = Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
      return g * 2.5;
    });
    const sorted = Array.from(logits).sort((a, b) => b - a);
    for (const id of [1_000, 50_000, 99_999, 128_255]) logits[id] = sorted[4];
    // SwiftShader takes ~1 s per sample here: 2 draws per setting and a few settings in npm test, 6 draws and every
    // setting with HEARTH_WGSL_FULL=1. Over 128k tokens the float32 sums (GPU) and float64 ones (CPU) can land a draw
    // or the top-p cutoff on either side of a boundary: a different id is accepted only where the CPU sampler itself
    // picks it with the draw or top_p moved by 2e-5 or less, and at most once per setting.
    const few = full ? draws.filter((_, i) => i % 8 === 0) : [draws[1], draws[7]];
    let edges = 0;
    const big = async (base: Omit<GpuSamplerInput, 'u'>) => {
      const samplers = few.map((u) => ({ ...base, u }));
      const got = await gpuSample(logits, samplers);
      const want = samplers.map((s) => cpuSample(logits, s));
      expect(got.map(([, e]) => e)).toEqual(samplers.map(() => 0));
      let mismatches = 0;
      got.forEach(([id], i) => {
        if (id === want[i]) return;
        const s = samplers[i];
        const nudged = [-2e-5, -1e-5, 1e-5, 2e-5].flatMap((d) => [
          cpuSample(logits, { ...s, u: Math.min(Math.max(s.u + d, 0), 1 - 1e-9) }),
          cpuSample(logits, { ...s, params: { ...s.params, topP: s.params.topP < 1 ? s.params.topP + d : 1 } }),
        ]);
        expect(nudged, `id ${id} vs the CPU's ${want[i]} at u = ${s.u}`).toContain(id);
        mismatches++;
      });
      expect(mismatches).toBeLessThanOrEqual(1);
      edges += mismatches;
      return want;
    };
    const settings: [string, Omit<GpuSamplerInput, 'u'>][] = [
      ['greedy', { params: params({ temperature: 0 }), ...none }],
      ['top-k ties', { params: params({ topK: 6, temperature: 3 }), ...none }],
      ['top-k + top-p', { params: params({ topK: 40, topP: 0.9, temperature: 0.8 }), ...none }],
      ['top-p', { params: params({ topP: 0.95 }), ...none }],
      ['temperature', { params: params({ temperature: 0.8 }), ...none }],
      ['min-p', { params: params({ minP: 0.05, temperature: 1.5 }), ...none }],
      ['penalties', { params: params({ repetitionPenalty: 1.2, presencePenalty: 0.5, topP: 0.9 }), seen: new Set([5, 70_000, 128_000]), counts: new Map([[70_000, 2]]) }],
    ];
    const allowed = new Uint32Array(vocab / 32);
    for (let j = 0; j < vocab; j += 5) allowed[j >> 5] |= 1 << (j & 31);
    settings.push(['mask', { params: params({ topK: 100, temperature: 1.1 }), ...none, allowed }]);
    const chosen = full ? settings : settings.filter(([name]) => (subgroups ? ['top-k ties', 'top-p'] : ['greedy', 'top-k ties', 'mask']).includes(name));
    for (const [name, base] of chosen) {
      const ids = await big(base);
      if (name === 'greedy') expect(new Set(ids)).toEqual(new Set([argmaxReference(logits)]));
      if (name === 'top-k ties') {
        const byRank = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x] || x - y);
        expect(byRank.slice(4, 6)).toEqual([1_000, 50_000]);
        for (const id of ids) expect(byRank.slice(0, 6)).toContain(id);
      }
      if (name === 'mask') expect(ids.every((id) => id % 5 === 0)).toBe(true);
    }
    if (edges) console.log(`128k vocabulary, ${subgroups ? 'subgroup' : 'workgroup'} reductions: ${edges} draw(s) at a rounding edge`);
  }, 240_000);

  it('errors: nothing allowed (2), a NaN logit (1); Mirostat and typical_p stay on the CPU', async () => {
    const logits = randomLogits(2);
    const [[, none2]] = await gpuSample(logits, [{ params: params({}), u: 0.5, ...none, allowed: new Uint32Array(32) }]);
    expect(none2).toBe(2);
    logits[321] = Number.NaN;
    const [[, nan]] = await gpuSample(logits, [{ params: params({}), u: 0.5, ...none }]);
    expect(nan).toBe(1);
    expect(gpuSamplingFits(params({ mirostat: { target: 5, lr: 0.1 } }))).toBe(false);
    expect(gpuSamplingFits(params({ typicalP: 0.9 }))).toBe(false);
  }, 60_000);
});
