// Stop sequences over streamed text (src/engines/llm/stop.ts): matches spanning deltas in every split, overlapping
// stop strings, false starts released, held tail flushed, and the stop string never leaking into the output.
import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/engines/llm/stop';

interface Run {
  out: string;
  stopped: boolean;
  /** Text emitted by each push (for checking that nothing is emitted early). */
  emits: string[];
}

function run(stops: string[], deltas: string[]): Run {
  const m = new StopMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const d of deltas) {
    const r = m.push(d);
    emits.push(r.emit);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  const out = emits.join('') + (stopped ? '' : m.flush());
  return { out, stopped, emits };
}

/** Every way to cut `s` into consecutive non-empty pieces (2^(n-1) of them). */
function allSplits(s: string): string[][] {
  const out: string[][] = [];
  const n = s.length;
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const parts: string[] = [];
    let start = 0;
    for (let i = 1; i < n; i++) {
      if (mask & (1 << (i - 1))) {
        parts.push(s.slice(start, i));
        start = i;
      }
    }
    parts.push(s.slice(start));
    out.push(parts);
  }
  return out;
}

/** Reference: text before the earliest-completing stop string (ties → longest), and whether one was found. */
function reference(stops: string[], text: string): { out: string; stopped: boolean } {
  let best: { start: number; end: number } | null = null;
  for (const s of stops.filter((x) => x.length > 0)) {
    const i = text.indexOf(s);
    if (i < 0) continue;
    const end = i + s.length;
    if (!best || end < best.end || (end === best.end && i < best.start)) best = { start: i, end };
  }
  return best ? { out: text.slice(0, best.start), stopped: true } : { out: text, stopped: false };
}

describe('StopMatcher', () => {
  it('"END" split as "E","ND" (and every other way, with text around it)', () => {
    expect(run(['END'], ['Hello E', 'ND world'])).toMatchObject({ out: 'Hello ', stopped: true });
    expect(run(['END'], ['E', 'ND'])).toMatchObject({ out: '', stopped: true });
    const text = 'the ENDgame';
    for (const split of allSplits(text)) {
      const r = run(['END'], split);
      expect(r, JSON.stringify(split)).toMatchObject({ out: 'the ', stopped: true });
    }
  });

  it('"\\n\\nUser:" across 3 deltas, and in every split of a longer text', () => {
    expect(run(['\n\nUser:'], ['Sure.\n', '\nUs', 'er: hi'])).toMatchObject({ out: 'Sure.', stopped: true });
    const text = 'A\n\nB\n\nUser: x';
    for (const split of allSplits(text)) {
      const r = run(['\n\nUser:'], split);
      expect(r, JSON.stringify(split)).toMatchObject({ out: 'A\n\nB', stopped: true });
      expect(r.out).not.toContain('\n\nUser:');
    }
  });

  it('never emits text that might begin a stop string until disambiguated', () => {
    const m = new StopMatcher(['\n\nUser:']);
    expect(m.push('Hi\n')).toEqual({ emit: 'Hi', stopped: false });
    expect(m.pending).toBe('\n');
    expect(m.push('\nUs')).toEqual({ emit: '', stopped: false });
    expect(m.push('ed')).toEqual({ emit: '\n\nUsed', stopped: false }); // false start released
    expect(m.flush()).toBe('');
  });

  it('a false start ("EN" then "X") releases the held text', () => {
    const m = new StopMatcher(['END']);
    expect(m.push('EN')).toEqual({ emit: '', stopped: false });
    expect(m.push('X')).toEqual({ emit: 'ENX', stopped: false });
    expect(m.push('E')).toEqual({ emit: '', stopped: false });
    expect(m.push('EN')).toEqual({ emit: 'E', stopped: false }); // "EEN": only the last "EN" can still start END
    expect(m.push('D!')).toEqual({ emit: '', stopped: true });
    expect(m.matched).toBe('END');
    expect(m.push('more')).toEqual({ emit: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('no stop → flush returns the held tail', () => {
    const m = new StopMatcher(['END', '###']);
    expect(m.push('abc E')).toEqual({ emit: 'abc ', stopped: false });
    expect(m.push('N')).toEqual({ emit: '', stopped: false });
    expect(m.flush()).toBe('EN');
    expect(m.stopped).toBe(false);
    expect(run(['###'], ['a#', '#'])).toMatchObject({ out: 'a##', stopped: false });
  });

  it('stop strings where one is a prefix of another', () => {
    // "END" completes first: stop there (the longer "ENDING" cannot change the text before it).
    expect(run(['ENDING', 'END'], ['x', 'EN', 'DING'])).toMatchObject({ out: 'x', stopped: true });
    expect(run(['ENDING', 'END'], ['xENDING'])).toMatchObject({ out: 'x', stopped: true });
    // A stop inside another: "BC" completes before "ABCD" would.
    expect(run(['ABCD', 'BC'], ['xA', 'B', 'CD'])).toMatchObject({ out: 'xA', stopped: true });
    // Same end, different starts: the longer (earlier) wins.
    expect(run(['xyz', 'yz'], ['axyz'])).toMatchObject({ out: 'a', stopped: true });
    const m = new StopMatcher(['</s>', '</stop>']);
    expect(m.push('ok </s')).toEqual({ emit: 'ok ', stopped: false });
    expect(m.push('t')).toEqual({ emit: '', stopped: false }); // "</st" still a prefix of "</stop>"
    expect(m.push('ay')).toEqual({ emit: '</stay', stopped: false });
  });

  it('matches the reference in every split, for several stop sets', () => {
    const texts = ['one two ENDING END', 'aaab', 'x<|im_end|>y', 'no stop here', 'abab abcab', 'héllo wörld 🤗 END'];
    const stopSets = [['END'], ['ENDING', 'END'], ['aab', 'ab'], ['<|im_end|>', '<|'], ['bc', 'abc', 'cab'], ['🤗'], ['zz']];
    for (const text of texts) {
      const units = Array.from(text); // split on code points, as decoded deltas would be
      const n = Math.min(units.length, 11);
      const head = units.slice(0, n);
      const tail = units.slice(n).join('');
      for (const stops of stopSets) {
        const want = reference(stops, text);
        for (const split of allSplits(head.join('')).filter((s) => s.every((p) => !/^[\uDC00-\uDFFF]/.test(p)))) {
          const deltas = [...split.slice(0, -1), split[split.length - 1] + tail];
          const r = run(stops, deltas);
          expect({ out: r.out, stopped: r.stopped }, `${JSON.stringify(stops)} ${JSON.stringify(deltas)}`).toEqual(want);
          for (const s of stops) expect(r.out.includes(s), 'output contains a stop string').toBe(false);
        }
      }
    }
  });

  it('empty stop strings are ignored; no stops passes text straight through', () => {
    const m = new StopMatcher(['', 'STOP', '']);
    expect(m.push('a')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('S')).toEqual({ emit: '', stopped: false });
    expect(m.push('TOP')).toEqual({ emit: '', stopped: true });
    const none = new StopMatcher(['']);
    expect(none.push('anything E')).toEqual({ emit: 'anything E', stopped: false });
    expect(new StopMatcher(null).push('x')).toEqual({ emit: 'x', stopped: false });
    expect(new StopMatcher('END').push('aEND')).toEqual({ emit: 'a', stopped: true });
  });

  it('includeStop option keeps the stop string', () => {
    const m = new StopMatcher(['END'], { includeStop: true });
    expect(m.push('aE')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('NDb')).toEqual({ emit: 'END', stopped: true });
  });
});
