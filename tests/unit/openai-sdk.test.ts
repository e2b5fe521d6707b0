// The OpenAI SDK, unchanged, against Hearth's API function (its fetch routed to `handle`): embeddings in the SDK's
// default base64 form and as floats, and errors surfacing as the SDK's typed errors with our status and message.
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { nodeApi, readJson } from './node-api';

const ref = readJson<Record<string, { cases: { text: string; embedding: number[] }[] }>>('tests/fixtures/embeddings/reference.json');
const tiny = ref['hearth-tiny-embed'].cases;
const { handle } = nodeApi();
const openai = new OpenAI({
  baseURL: 'http://localhost/inference/v1',
  apiKey: 'local',
  maxRetries: 0,
  fetch: (url: string | URL | Request, init?: RequestInit) => handle(new Request(url, init)),
});

const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

describe('OpenAI SDK', () => {
  it('embeddings.create with the SDK defaults (base64 on the wire)', async () => {
    const out = await openai.embeddings.create({ model: 'hearth/tiny-embed', input: [tiny[0].text, tiny[1].text] });
    expect(out.data).toHaveLength(2);
    expect(maxDiff(out.data[0].embedding, tiny[0].embedding)).toBeLessThan(1e-4);
    expect(maxDiff(out.data[1].embedding, tiny[1].embedding)).toBeLessThan(1e-4);
    expect(out.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('embeddings.create with encoding_format float and dimensions', async () => {
    const out = await openai.embeddings.create({ model: 'hearth/tiny-embed', input: tiny[2].text, encoding_format: 'float', dimensions: 64 });
    expect(maxDiff(out.data[0].embedding, tiny[2].embedding)).toBeLessThan(1e-4);
  });

  it('errors arrive as the SDK typed errors', async () => {
    await expect(openai.embeddings.create({ model: 'no/such', input: 'x' })).rejects.toMatchObject({ status: 404 });
    await expect(openai.embeddings.create({ model: 'hearth/tiny-embed', input: '' })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('models.list', async () => {
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toContain('hearth/tiny-embed');
  });
});
