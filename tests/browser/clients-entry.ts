// Bundled by tests/browser/setup.ts into dist/test-sdk/clients.js: the client conformance cases and the clients
// themselves (AI SDK + Fireworks provider, OpenAI SDK, LangChain's OpenAI classes), unchanged, for use in the page.
export { clientCases, CASE_NAMES } from '../clients/cases';
export { createFireworks } from '@ai-sdk/fireworks';
export { embedMany, experimental_generateImage, generateImage, generateObject, generateText, jsonSchema, Output, streamText, tool } from 'ai';
export { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
export { default as OpenAI } from 'openai';
