/** The repetition penalties applied to the logits before sampling: OpenAI's frequency/presence and CTRL's. */

/**
 * OpenAI's repetition penalties, in place:
 * `logit[j] -= counts[j] * frequency + (counts[j] > 0 ? 1 : 0) * presence`.
 * `counts` must count the tokens generated so far (not the prompt). Ids outside the logits are ignored.
 */
export function applyPenalties(
  logits: Float32Array,
  counts: ReadonlyMap<number, number>,
  frequency: number,
  presence: number,
): void {
  if (frequency === 0 && presence === 0) return;
  for (const [id, count] of counts) {
    if (!(id >= 0 && id < logits.length) || !Number.isInteger(id)) continue;
    logits[id] -= count * frequency + (count > 0 ? presence : 0);
  }
}

/**
 * CTRL's repetition penalty (Keskar et al. 2019, as HF's RepetitionPenaltyLogitsProcessor), in place: for each
 * distinct id in `seen` (the prompt's and the output's tokens), `logit / penalty` if the logit is positive, else
 * `logit · penalty`. Ids outside the logits are ignored; penalty 1 changes nothing.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: ReadonlySet<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of seen) {
    if (!(id >= 0 && id < logits.length) || !Number.isInteger(id)) continue;
    const x = logits[id];
    logits[id] = x > 0 ? x / penalty : x * penalty;
  }
}
