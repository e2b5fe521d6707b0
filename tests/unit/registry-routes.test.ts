// The catalog registry (ids, aliases, kinds, user entries) and the route table (exact paths, path parameters, 405s).
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { matchRoute, ROUTES } from '../../src/api/routes';
import { CATALOG } from '../../src/models/catalog';
import { ModelRegistry } from '../../src/models/registry';

describe('ModelRegistry', () => {
  const registry = new ModelRegistry();

  it('resolves canonical ids and Fireworks aliases to the same entry', () => {
    expect(registry.resolve('accounts/fireworks/models/nomic-embed-text-v1.5', 'embeddings').id).toBe('nomic-ai/nomic-embed-text-v1.5');
    expect(registry.resolve('thenlper/gte-base', 'embeddings').embeddings?.maxTokens).toBe(512);
  });

  it('404s unknown models naming the field', () => {
    try {
      registry.resolve('nope', 'embeddings');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(HearthError);
      expect((e as HearthError).status).toBe(404);
      expect((e as HearthError).param).toBe('model');
    }
  });

  it('refuses a model of the wrong kind with 400', () => {
    try {
      registry.resolve('hearth/tiny-embed', 'llm');
      expect.unreachable();
    } catch (e) {
      expect((e as HearthError).status).toBe(400);
    }
  });

  it('refuses an alias already taken by another model', () => {
    const r = new ModelRegistry();
    expect(() => r.register({ ...CATALOG[0], id: 'mine', aliases: ['hearth/tiny-embed-cls'] })).toThrow(/already used/);
  });

  it('catalog entries are complete: each kind has its files and spec', () => {
    for (const e of CATALOG) {
      const roles = [...new Set(e.files.map((f) => f.role))].sort();
      if (e.kind === 'embeddings') {
        expect(roles).toEqual(['model', 'tokenizer', 'tokenizer_config']);
        expect(e.embeddings).toBeDefined();
      } else if (e.kind === 'image') {
        const sdxl = (e.image!.family ?? 'sdxl') === 'sdxl';
        for (const role of ['text_encoder', 'unet', 'vae_decoder', 'scheduler_config', 'tokenizer_config', ...(sdxl ? ['text_encoder_2', 'tokenizer_2_config'] : [])]) {
          expect(roles, `${e.id} ${role}`).toContain(role);
        }
        // Each tokenizer: tokenizer.json, or vocab.json + merges.txt.
        for (const tok of sdxl ? ['tokenizer', 'tokenizer_2'] : ['tokenizer']) {
          expect(roles.includes(tok) || (roles.includes(`${tok}_vocab`) && roles.includes(`${tok}_merges`)), `${e.id} ${tok}`).toBe(true);
        }
        expect(e.image!.resolutions.length).toBeGreaterThan(0);
      } else if (e.kind === 'llm') {
        expect(roles).toEqual(['config', 'generation_config', 'model', 'tokenizer', 'tokenizer_config']);
        // Every ONNX variant has its model file.
        for (const v of e.llm!.variants) {
          if (v.backend === 'onnx') expect(e.files.some((f) => f.role === 'model' && f.variant === v.name), `${e.id} ${v.name}`).toBe(true);
        }
      }
      if (!e.builtIn) expect(e.files.every((f) => f.url.startsWith('https://huggingface.co/'))).toBe(true);
      // External data belongs to a graph file of the entry.
      for (const f of e.files) if (f.externalDataOf) expect(roles, `${e.id} ${f.role}`).toContain(f.externalDataOf);
    }
  });
});

describe('matchRoute', () => {
  it('matches every spec path', () => {
    for (const r of ROUTES) {
      const path = r.path.endsWith('/') ? `${r.path}some/id` : r.path;
      expect(matchRoute(path, r.method).route).toBe(r);
    }
  });

  it('captures model ids with slashes and decodes them', () => {
    expect(matchRoute('/models/accounts%2Ffireworks/models/x', 'GET').pathParam).toBe('accounts/fireworks/models/x');
  });

  it('lists allowed methods when only the method is wrong', () => {
    expect(matchRoute('/embeddings', 'GET')).toEqual({ allowed: ['POST'] });
    expect(matchRoute('/nothing', 'GET')).toEqual({ allowed: [] });
  });
});
