/** The candidate filters of sampleToken beyond plain top-p: top-k selection, and the opt-in min-p, typical-p and
 * Mirostat v2 (which sort their candidates). */
import type { Rng } from '../../../util/rng';
import { expNonPositive } from './exp';
import type { MirostatParams, MirostatState, SamplingParams } from './params';

/** Draws index j with probability w[j] / total over the first n weights. */
export function drawFromWeights(w: Float64Array, n: number, total: number, rng: Rng, fallback: number): number {
  let u = rng.next() * total;
  let last = fallback;
  for (let j = 0; j < n; j++) {
    const x = w[j];
    if (x === 0) continue;
    last = j;
    u -= x;
    if (u < 0) return j;
  }
  return last; // only reached through rounding
}
/**
 * The k highest logits (ties → lower id), ignoring -Infinity; returned in ascending id order.
 * A size-k min-heap whose root is the "worst" kept token: one compare per vocabulary entry in the common case.
 */
export function selectTopK(logits: Float32Array, k: number): Int32Array {
  const ids = new Int32Array(k);
  const vals = new Float64Array(k);
  let size = 0;
  for (let j = 0; j < logits.length; j++) {
    const x = logits[j];
    if (x === -Infinity) continue;
    if (size < k) {
      // Sift up. j is the highest id so far, so it ranks below any parent with an equal logit: move above those too.
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (x > vals[p]) break;
        ids[i] = ids[p];
        vals[i] = vals[p];
        i = p;
      }
      ids[i] = j;
      vals[i] = x;
    } else if (x > vals[0]) {
      // Strictly greater: an equal logit at a higher id ranks below the root. Sift down from the root.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        let c = l;
        if (r < size && (vals[r] < vals[l] || (vals[r] === vals[l] && ids[r] > ids[l]))) c = r;
        if (!(vals[c] < x || (vals[c] === x && ids[c] > j))) break;
        ids[i] = ids[c];
        vals[i] = vals[c];
        i = c;
      }
      ids[i] = j;
      vals[i] = x;
    }
  }
  return ids.subarray(0, size).sort();
}

/**
 * Nucleus cutoff: the weight `c` such that the tokens with weight > c, plus (in id order) enough tokens with
 * weight == c, form the smallest set reaching `target` mass. `values` is consumed (sorted in place).
 */
export function nucleusCutoff(values: Float64Array, target: number): number {
  values.sort(); // ascending, native numeric sort of a typed array
  let cum = 0;
  for (let i = values.length - 1; i >= 0; i--) {
    cum += values[i];
    if (cum >= target) return values[i];
  }
  return values.length > 0 ? values[0] : 0; // rounding kept us below target: keep everything
}

/** top-k (optionally followed by top-p) sampling over the few candidate ids (ascending). */
export function sampleCandidates(work: Float32Array, max: number, invT: number, ids: Int32Array, topP: number, rng: Rng): number {
  const k = ids.length;
  const w = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < k; i++) {
    w[i] = expNonPositive((work[ids[i]] - max) * invT);
    total += w[i];
  }
  if (topP < 1) {
    const target = topP * total;
    const cutoff = nucleusCutoff(Float64Array.from(w), target);
    let kept = 0;
    for (let i = 0; i < k; i++) if (w[i] > cutoff) kept += w[i];
    for (let i = 0; i < k; i++) {
      if (w[i] < cutoff) w[i] = 0;
      else if (w[i] === cutoff) {
        if (kept < target) kept += w[i]; // ties at the cutoff, in id order, until the target is reached
        else w[i] = 0;
      }
    }
    total = kept;
  }
  const i = drawFromWeights(w, k, total, rng, 0);
  return ids[i];
}
/**
 * The opt-in filters (min-p, typical-p, Mirostat v2) over the candidates: the top_k best (or every allowed token),
 * weighted exp((l - max) / T). Mirostat replaces the other filters; otherwise top-p (the same set as the fast path:
 * heaviest first, ties by lower id, until the mass reaches top_p), then min-p, then typical-p, each over the
 * renormalised survivors of the one before (HF's order); then one draw in ascending id order. Linear passes and
 * native sorts of plain numbers (no comparator sort), so a 128k vocabulary costs a few milliseconds.
 */
export function sampleFiltered(work: Float32Array, max: number, invT: number, topK: number | null, params: SamplingParams,
  rng: Rng, mirostat: MirostatState | null | undefined): number {
  let ids: Int32Array;
  if (topK !== null && !params.mirostat) {
    ids = selectTopK(work, topK);
  } else {
    let count = 0;
    for (let j = 0; j < work.length; j++) if (work[j] !== -Infinity) count++;
    ids = new Int32Array(count);
    count = 0;
    for (let j = 0; j < work.length; j++) if (work[j] !== -Infinity) ids[count++] = j;
  }
  const m = ids.length;
  const w = new Float64Array(m);
  let total = 0;
  let best = 0;
  for (let i = 0; i < m; i++) {
    w[i] = expNonPositive((work[ids[i]] - max) * invT);
    total += w[i];
    if (w[i] > w[best]) best = i;
  }
  if (params.mirostat) {
    if (!mirostat) throw new Error('sampleToken: Mirostat needs the choice\'s state (options.mirostat)');
    return sampleMirostat(work, max, invT, ids, w, total, best, params.mirostat, mirostat, rng);
  }

  // min-p keeps w ≥ minP · w_max whatever top-p keeps (top-p always keeps the heaviest token): apply it first, so
  // top-p only sorts survivors. top-p's target is still a share of the mass before min-p.
  const keep = new Uint8Array(m);
  const floor = params.minP > 0 ? params.minP * w[best] : 0;
  let count = 0;
  for (let i = 0; i < m; i++) {
    if (w[i] > 0 && w[i] >= floor) {
      keep[i] = 1;
      count++;
    }
  }
  if (count === 0) keep[best] = 1; // min_p > 1 (outside its range): the most likely token
  if (params.topP < 1) {
    const target = params.topP * total;
    // Heaviest first = the lowest max − l first (the weight is monotone in the logit).
    const gap = new Float64Array(m);
    for (let i = 0; i < m; i++) gap[i] = max - work[ids[i]];
    const at = indexAtMass(gap, w, keep, target);
    const cutoff = at < 0 ? 0 : w[at];
    let mass = 0;
    for (let i = 0; i < m; i++) if (keep[i] && w[i] > cutoff) mass += w[i];
    for (let i = 0; i < m; i++) {
      if (!keep[i] || w[i] > cutoff) continue;
      if (w[i] === cutoff && mass < target) mass += w[i]; // ties at the cutoff, in id order, until the target
      else keep[i] = 0;
    }
  }
  if (params.typicalP < 1) keepTypical(work, max, invT, ids, w, keep, params.typicalP);

  let keptTotal = 0;
  for (let i = 0; i < m; i++) if (keep[i]) keptTotal += w[i];
  let u = rng.next() * keptTotal;
  let last = best;
  for (let i = 0; i < m; i++) {
    if (!keep[i]) continue;
    last = i;
    u -= w[i];
    if (u < 0) return ids[i];
  }
  return ids[last]; // only reached through rounding
}

const MASS_BINS = 4096;

/**
 * Over the candidates i with keep[i], ordered by key ascending: the index of the first one at which the cumulative
 * weight reaches `target` (-1 when rounding keeps it below). Equivalent to sorting them all, but a full sort of a 128k
 * vocabulary costs ~30 ms in V8: a histogram of the weight over key bins finds the bin where the target is reached,
 * and only that bin's candidates are sorted. Keys should spread roughly evenly (logits do; weights do not).
 */
function indexAtMass(key: Float64Array, weight: Float64Array, keep: Uint8Array, target: number): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < key.length; i++) {
    if (!keep[i]) continue;
    if (key[i] < lo) lo = key[i];
    if (key[i] > hi) hi = key[i];
  }
  if (lo === Infinity) return -1;
  const scale = hi > lo ? MASS_BINS / (hi - lo) : 0;
  const bins = new Uint16Array(key.length);
  const binMass = new Float64Array(MASS_BINS);
  for (let i = 0; i < key.length; i++) {
    if (!keep[i]) continue;
    const b = Math.min(MASS_BINS - 1, Math.floor((key[i] - lo) * scale));
    bins[i] = b;
    binMass[b] += weight[i];
  }
  let b = 0;
  let before = 0;
  while (b < MASS_BINS && before + binMass[b] < target) before += binMass[b++];
  if (b === MASS_BINS) return -1;
  const inBin: number[] = [];
  for (let i = 0; i < key.length; i++) if (keep[i] && bins[i] === b) inBin.push(i);
  inBin.sort((x, y) => key[x] - key[y] || x - y);
  let cum = before;
  for (const i of inBin) {
    cum += weight[i];
    if (cum >= target) return i;
  }
  return inBin[inBin.length - 1]; // rounding between the bin's total and its sum in order
}

/**
 * Locally typical sampling (Meister et al. 2022, as HF's TypicalLogitsWarper) over the kept candidates, in place: with
 * p renormalised over them and H their entropy (nats), order by |−ln p − H| and keep every candidate whose score is
 * at most that of the first one at which the cumulative probability reaches `mass` (at least one).
 */
function keepTypical(work: Float32Array, max: number, invT: number, ids: Int32Array, w: Float64Array, keep: Uint8Array,
  mass: number): void {
  const m = ids.length;
  let z = 0;
  for (let i = 0; i < m; i++) if (keep[i]) z += w[i];
  const logZ = Math.log(z);
  // −ln p = (max − l)/T + ln Z exactly, without the rounding of log(w / Z).
  const surprise = (l: number) => (max - l) * invT + logZ;
  let entropy = 0;
  for (let i = 0; i < m; i++) if (keep[i]) entropy += (w[i] / z) * surprise(work[ids[i]]);
  const score = (l: number) => Math.abs(surprise(l) - entropy);

  const scores = new Float64Array(m);
  for (let i = 0; i < m; i++) if (keep[i]) scores[i] = score(work[ids[i]]);
  const at = indexAtMass(scores, w, keep, mass * z);
  const bound = at < 0 ? Infinity : scores[at];
  for (let i = 0; i < m; i++) if (keep[i] && scores[i] > bound) keep[i] = 0;
}

/**
 * Mirostat v2 (Basu et al. 2021, as llama.cpp's llama_sampler_mirostat_v2): drop the candidates whose surprise
 * −log2 p exceeds mu (keeping the most likely one if none is left), draw from the rest renormalised, then
 * mu −= lr · (−log2 p_drawn − target), with p_drawn the drawn token's renormalised probability.
 */
function sampleMirostat(work: Float32Array, max: number, invT: number, ids: Int32Array, w: Float64Array, total: number,
  best: number, p: MirostatParams, state: MirostatState, rng: Rng): number {
  const logTotal = Math.log(total);
  const keep = new Uint8Array(ids.length);
  let keptTotal = 0;
  for (let i = 0; i < ids.length; i++) {
    const bits = ((max - work[ids[i]]) * invT + logTotal) / Math.LN2;
    if (w[i] > 0 && bits <= state.mu) {
      keep[i] = 1;
      keptTotal += w[i];
    }
  }
  if (keptTotal === 0) {
    keep[best] = 1;
    keptTotal = w[best];
  }
  let pick = -1;
  let u = rng.next() * keptTotal;
  for (let i = 0; i < ids.length; i++) {
    if (!keep[i]) continue;
    pick = i;
    u -= w[i];
    if (u < 0) break;
  }
  const observed = -Math.log2(w[pick] / keptTotal);
  state.mu -= p.lr * (observed - p.target);
  return ids[pick];
}
