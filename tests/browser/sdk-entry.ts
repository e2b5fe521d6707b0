// Bundled by tests/browser/setup.ts into dist/test-sdk/openai.js so browser tests can run the OpenAI SDK in the page.
export { default } from 'openai';
