/**
 * Token-level constraints for JSON mode, JSON schemas, tool calls and grammars (xgrammar in wasm). The factory is in
 * factory.ts, the per-request matcher in matcher.ts (its interface in token-constraint.ts), schema normalisation in
 * schema.ts, the tokenizer → vocabulary conversion in vocab.ts, the whitespace-run limit in whitespace.ts, the wasm
 * module's loading in xgrammar.ts.
 */
export { ConstraintFactory, JSON_OBJECT_EBNF } from './factory';
export type { ConstraintFactoryOptions, ToolCallOptions, ToolSpec } from './factory';
export { isTokenAllowed } from './token-constraint';
export type { TokenConstraint } from './token-constraint';
export { normalizeSchema, safePattern } from './schema';
export { buildTokenizerVocab } from './vocab';
export type { TokenizerVocab, VocabType } from './vocab';
export { loadXGrammar } from './xgrammar';
