/**
 * Chat templates rendered on a budget. A model's `chat_template` is code from its tokenizer_config.json, and
 * @huggingface/jinja runs it synchronously in the engine worker, so a hostile or broken one
 * (`{% for i in range(1000000000) %}`, a macro that calls itself, a string doubled in a loop, `indent(10**8)`) could
 * hold the worker or allocate without bound. `renderOnBudget` runs the parsed template through an interpreter that
 * counts every evaluation step and checks, at each one, the wall time, the nesting depth and the size of what the step
 * produced (strings by length, lists and mappings by the size they print to); it replaces `range` with one that
 * refuses huge ranges before building them, and bounds the filters and methods that can multiply their input in one
 * step (`indent`, `tojson(indent=…)`, `replace`, `join`) before they run. Going over any limit throws a
 * `TemplateLimitError` naming the limit; the worker goes on serving.
 */
import { Environment, Interpreter, type Template } from '@huggingface/jinja';

export interface TemplateBudget {
  /** Characters any one value (and so the rendered prompt) may hold. */
  maxChars: number;
  /** Wall time of one rendering, in milliseconds. */
  maxMs: number;
  /** Evaluation steps of one rendering (one per expression or statement evaluated). */
  maxSteps: number;
  /** Nested evaluations (template nesting plus macro recursion). */
  maxDepth: number;
  /** Items a list or mapping may hold (`range()` included, refused before it is built). */
  maxItems: number;
}

export class TemplateLimitError extends Error {
  constructor(readonly limit: keyof TemplateBudget, detail: string) {
    super(detail);
    this.name = 'TemplateLimitError';
  }
}

type Program = Template['parsed'];
type Node = Parameters<Interpreter['evaluate']>[0] & object;
type Value = ReturnType<Interpreter['evaluate']>;
type Env = Parameters<Interpreter['evaluate']>[1];
type ApplyFilter = (operand: Value, filter: Node, env: Env) => Value;

/** The AST fields read here (@huggingface/jinja's node classes, by their `type`). */
interface CallNode { type: 'CallExpression'; callee: Node; args: Node[] }
interface MemberNode { type: 'MemberExpression'; object: Node; property: Node & { value?: unknown }; computed: boolean }
interface KeywordNode { type: 'KeywordArgumentExpression'; key: { value: string }; value: Node }

/** The interpreter's own filter application, which the budgeted interpreter wraps (see the end of this file). */
const base = Interpreter.prototype as unknown as { applyFilter?: unknown };
if (typeof base.applyFilter !== 'function') throw new Error('@huggingface/jinja changed: Interpreter.applyFilter is gone');

/** Filters and methods whose output can be many times their input, bounded before they run. */
const AMPLIFIERS = new Set(['indent', 'tojson', 'replace', 'join']);

/** Renders a parsed template with `items` as its variables, within `budget`. */
export function renderOnBudget(template: Template, items: Record<string, unknown>, budget: TemplateBudget): string {
  const env = new Environment();
  for (const [name, value] of Object.entries(globalsWithin(budget))) env.set(name, value);
  for (const [name, value] of Object.entries(items)) env.set(name, value);
  const result = new BudgetedInterpreter(env, budget).run(template.parsed as Program);
  return String(result.value);
}

/** The globals @huggingface/jinja's own `Template.render` declares, with `range` bounded. */
function globalsWithin(budget: TemplateBudget): Record<string, unknown> {
  return {
    false: false, true: true, none: null, False: false, True: true, None: null,
    raise_exception: (message: string) => { throw new Error(message); },
    range: (start: number, stop?: number, step = 1) => boundedRange(budget, start, stop, step),
    strftime_now: strftimeNow,
  };
}

function boundedRange(budget: TemplateBudget, start: number, stop: number | undefined, step: number): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (![start, stop, step].every(Number.isFinite)) throw new Error('range() arguments must be finite numbers');
  if (step === 0) throw new Error('range() step must not be zero');
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (count > budget.maxItems) {
    throw new TemplateLimitError('maxItems', `range() of ${count} items is over the ${budget.maxItems} a chat template may make`);
  }
  return Array.from({ length: count }, (_, i) => start + i * step);
}

/** Python's `strftime` for the directives chat templates use (%Y %m %d %b %B %H %M %%), in the C locale's English. */
function strftimeNow(format: string): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'short' | 'long') => new Intl.DateTimeFormat('en-US', { month: style }).format(now);
  return String(format).replace(/%[YmdbBHM%]/g, (d) => ({
    '%Y': String(now.getFullYear()), '%m': pad(now.getMonth() + 1), '%d': pad(now.getDate()), '%b': month('short'),
    '%B': month('long'), '%H': pad(now.getHours()), '%M': pad(now.getMinutes()), '%%': '%',
  })[d]!);
}

class BudgetedInterpreter extends Interpreter {
  private steps = 0;
  private depth = 0;
  private readonly deadline: number;
  /** Operands and arguments of an amplifying filter or method, evaluated once to bound it, then handed back. */
  private readonly evaluated = new Map<Node, Value>();
  /** Printed sizes of values that cannot change (everything but namespaces and what holds one). */
  private readonly sizes = new WeakMap<object, number>();

  constructor(env: Env, private readonly budget: TemplateBudget) {
    super(env);
    this.deadline = performance.now() + budget.maxMs;
  }

  override evaluate(node: Node | undefined, env: Env): Value {
    if (node && this.evaluated.has(node)) {
      const value = this.evaluated.get(node)!;
      this.evaluated.delete(node);
      return value;
    }
    const b = this.budget;
    if (++this.steps > b.maxSteps) throw new TemplateLimitError('maxSteps', `the chat template ran over ${b.maxSteps} evaluation steps`);
    if (performance.now() > this.deadline) throw new TemplateLimitError('maxMs', `the chat template ran over ${b.maxMs} ms`);
    const pending: Node[] = [];
    try {
      if (++this.depth > b.maxDepth) {
        throw new TemplateLimitError('maxDepth', `the chat template nested over ${b.maxDepth} evaluations deep (runaway recursion?)`);
      }
      if (node?.type === 'CallExpression') this.boundMethodCall(node as unknown as CallNode, env, pending);
      const value = super.evaluate(node, env);
      this.checkSize(value);
      return value;
    } finally {
      this.depth--;
      for (const n of pending) this.evaluated.delete(n);
    }
  }

  /** `text.replace(old, new)` is bounded like the `replace` filter. */
  private boundMethodCall(call: CallNode, env: Env, pending: Node[]): void {
    const callee = call.callee as unknown as MemberNode;
    if (callee.type !== 'MemberExpression' || callee.computed || callee.property.value !== 'replace') return;
    const object = this.evaluate(callee.object, env);
    const args = this.evaluateOnce(call.args, env, pending);
    if (!args) return;
    this.evaluated.set(callee.object, object);
    pending.push(callee.object);
    this.checkAmplifier('replace', object, args.positional, args.keywords);
  }

  /** Takes the place of the interpreter's applyFilter: amplifying filters are bounded first, their arguments evaluated once. */
  boundedApplyFilter(operand: Value, filter: Node, env: Env): Value {
    const call = filter as unknown as CallNode;
    const name = call.type === 'CallExpression' ? (call.callee as unknown as { value?: unknown }).value : undefined;
    const pending: Node[] = [];
    try {
      if (typeof name === 'string' && AMPLIFIERS.has(name)) {
        const args = this.evaluateOnce(call.args, env, pending);
        if (args) this.checkAmplifier(name, operand, args.positional, args.keywords);
      }
      return (base.applyFilter as ApplyFilter).call(this, operand, filter, env);
    } finally {
      for (const n of pending) this.evaluated.delete(n);
    }
  }

  /** Evaluates call arguments once, keeping their values for the call itself; undefined when spreads make that unsafe. */
  private evaluateOnce(argNodes: Node[], env: Env, pending: Node[]): { positional: Value[]; keywords: Map<string, Value> } | undefined {
    if (argNodes.some((a) => a.type === 'SpreadExpression' || a.type === 'KeywordSpreadExpression')) return undefined;
    const positional: Value[] = [];
    const keywords = new Map<string, Value>();
    const values: [Node, Value][] = [];
    for (const arg of argNodes) {
      const target = arg.type === 'KeywordArgumentExpression' ? (arg as unknown as KeywordNode).value : arg;
      const value = this.evaluate(target, env);
      values.push([target, value]);
      if (arg.type === 'KeywordArgumentExpression') keywords.set((arg as unknown as KeywordNode).key.value, value);
      else positional.push(value);
    }
    // Handed back only once all are evaluated: an argument that recurses into this same call sees none of them.
    for (const [target, value] of values) {
      this.evaluated.set(target, value);
      pending.push(target);
    }
    return { positional, keywords };
  }

  /** The size `value` would print to must stay within the budget (what it takes to build it was counted in steps). */
  private checkSize(value: Value): void {
    const size = this.sizeOf(value, this.budget.maxChars + 1);
    if (size > this.budget.maxChars) {
      throw new TemplateLimitError('maxChars', `the chat template built a value of over ${this.budget.maxChars} characters`);
    }
  }

  /** Characters `value` prints to, counting at most `limit` (lists and mappings walked, cycles included). */
  private sizeOf(value: Value, limit: number): number {
    let fixed = true; // whether the subtree being walked can never change (holds no namespace)
    const visit = (v: Value, budget: number): number => {
      const inner: unknown = v.value;
      if (typeof inner === 'string') return inner.length;
      if (v.type === 'FunctionValue' || !(inner instanceof Map || Array.isArray(inner))) return 8;
      const known = this.sizes.get(v);
      if (known !== undefined) return known;
      const count = Array.isArray(inner) ? inner.length : inner.size;
      if (count > this.budget.maxItems) {
        throw new TemplateLimitError('maxItems', `the chat template built a list or mapping of ${count} items, over ${this.budget.maxItems}`);
      }
      const outer = fixed;
      fixed = v.type !== 'NamespaceValue';
      let size = 2;
      if (Array.isArray(inner)) {
        for (let i = 0; i < inner.length && size <= budget; i++) size += visit(inner[i] as Value, budget - size) + 2;
      } else {
        for (const [key, child] of inner as Map<string, Value>) {
          if (size > budget) break;
          size += key.length + visit(child, budget - size) + 4;
        }
      }
      if (fixed && size <= budget) this.sizes.set(v, size);
      fixed &&= outer;
      return size;
    };
    return visit(value, limit);
  }

  /** Bounds what an amplifying filter or method will produce from its (evaluated) operand and arguments. */
  private checkAmplifier(name: string, operand: Value, args: Value[], keywords: Map<string, Value>): void {
    const max = this.budget.maxChars;
    const text = typeof operand.value === 'string' ? operand.value : null;
    const number = (v: Value | undefined) => (typeof v?.value === 'number' ? v.value : 0);
    const string = (v: Value | undefined) => (typeof v?.value === 'string' ? v.value : '');
    let bound = 0;
    if (name === 'indent' && text !== null) {
      const width = args[0] ?? keywords.get('width');
      const unit = typeof width?.value === 'string' ? width.value.length : width ? number(width) : 4;
      bound = text.length + (countOf(text, '\n', max) + 1) * unit;
    } else if (name === 'tojson') {
      bound = this.sizeOf(operand, max + 1) * (1 + Math.max(0, number(keywords.get('indent'))));
    } else if (name === 'replace' && text !== null) {
      const [old, replacement] = [string(args[0]), string(args[1])];
      const count = args[2] ?? keywords.get('count');
      const matches = Math.min(old === '' ? text.length + 1 : countOf(text, old, max), count && number(count) >= 0 ? number(count) : Infinity);
      bound = text.length + matches * replacement.length;
    } else if (name === 'join') {
      const separator = string(args[0] ?? keywords.get('separator'));
      const items = Array.isArray(operand.value) ? operand.value.length : text?.length ?? 0;
      bound = this.sizeOf(operand, max + 1) + items * separator.length;
    }
    if (bound > max) throw new TemplateLimitError('maxChars', `the chat template's "${name}" would make about ${bound} characters, over ${max}`);
  }
}

/** Occurrences of `needle` in `text`, counting no further than `limit`. */
function countOf(text: string, needle: string, limit: number): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0 && n <= limit; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

// Filters (`{{ x | indent(n) }}` and `{% filter indent(n) %}…{% endfilter %}`) go through the interpreter's private
// applyFilter, whose operand is already evaluated: the budgeted interpreter's own takes its place.
Object.defineProperty(BudgetedInterpreter.prototype, 'applyFilter', { value: BudgetedInterpreter.prototype.boundedApplyFilter });
