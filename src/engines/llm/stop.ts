/**
 * Stop-sequence detection over streamed text: finds a request's `stop` strings even when they span several deltas,
 * and never emits text that might turn out to be the start of a stop string (it is held back until disambiguated).
 * On a match only the text before the stop string is emitted (the stop string itself is not returned).
 */

export interface StopPush {
  /** Text that is now safe to send to the client. */
  emit: string;
  /** True once a stop string has been found; further pushes emit nothing. */
  stopped: boolean;
}

export interface StopMatcherOptions {
  /** Also emit the matched stop string itself. Default false (the stop string is cut from the output). */
  includeStop?: boolean;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  private readonly maxLen: number;
  private readonly includeStop: boolean;
  private held = '';
  private matchedStop: string | null = null;

  /**
   * @param stops the request's stop strings (the API allows up to 4); empty strings are ignored, duplicates collapse.
   */
  constructor(stops: readonly string[] | string | null | undefined, options: StopMatcherOptions = {}) {
    const list = stops == null ? [] : typeof stops === 'string' ? [stops] : stops;
    this.stops = [...new Set(list.filter((s) => s.length > 0))];
    this.maxLen = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
    this.includeStop = options.includeStop ?? false;
  }

  /** True once a stop string has been found. */
  get stopped(): boolean {
    return this.matchedStop !== null;
  }

  /** The stop string that ended generation, or null. */
  get matched(): string | null {
    return this.matchedStop;
  }

  /** Text received but not yet emitted (a possible beginning of a stop string). */
  get pending(): string {
    return this.held;
  }

  /** Feeds newly generated text; returns what can be emitted now and whether a stop string was hit. */
  push(textDelta: string): StopPush {
    if (this.matchedStop !== null) return { emit: '', stopped: true };
    if (this.stops.length === 0) return { emit: textDelta, stopped: false };

    const prevLen = this.held.length;
    const buf = this.held + textDelta;

    // The stop string completed first (smallest end index) wins; at equal ends, the longer one (earlier start).
    // Matches lying wholly inside the previously held text were already ruled out, so search only past them.
    let bestStart = -1;
    let bestEnd = Infinity;
    let best: string | null = null;
    for (const s of this.stops) {
      const idx = buf.indexOf(s, Math.max(0, prevLen - s.length + 1));
      if (idx < 0) continue;
      const end = idx + s.length;
      if (end < bestEnd || (end === bestEnd && idx < bestStart)) {
        bestStart = idx;
        bestEnd = end;
        best = s;
      }
    }
    if (best !== null) {
      this.matchedStop = best;
      this.held = '';
      return { emit: buf.slice(0, this.includeStop ? bestEnd : bestStart), stopped: true };
    }

    // Hold back the longest suffix that is a (proper) prefix of some stop string.
    let keep = 0;
    for (let k = Math.min(buf.length, this.maxLen - 1); k > 0; k--) {
      const suffix = buf.slice(buf.length - k);
      if (this.stops.some((s) => s.startsWith(suffix))) {
        keep = k;
        break;
      }
    }
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** At the end of generation (no stop string hit): returns the held-back text. Empty after a stop. */
  flush(): string {
    if (this.matchedStop !== null) return '';
    const out = this.held;
    this.held = '';
    return out;
  }
}
