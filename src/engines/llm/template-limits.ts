/**
 * What one chat-template rendering may produce and spend: the LLM engine's own caps (template-budget.ts enforces them),
 * in a file of their own so src/api/limits.ts can list them without pulling the template engine into its importers.
 */
export const TEMPLATE_LIMITS = Object.freeze({ maxChars: 4 * 1024 * 1024, maxMs: 2_000 });
