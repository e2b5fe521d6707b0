// Request validation (src/api/validate.ts over the validators generated from spec/openapi3.yml):
// good bodies pass, bad ones fail with a 400 naming the right `param` and `code`; the generator is deterministic.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HearthError } from '../../src/api/errors';
import { validateRequest, type RequestOperation } from '../../src/api/validate';

const root = path.resolve(__dirname, '../..');

function failure(op: RequestOperation, body: unknown): HearthError {
  try {
    validateRequest(op, body);
  } catch (e) {
    expect(e).toBeInstanceOf(HearthError);
    return e as HearthError;
  }
  throw new Error(`expected ${op} to refuse ${JSON.stringify(body)?.slice(0, 200)}`);
}

function expectInvalid(op: RequestOperation, body: unknown, param: string | null, code: string, message?: string | RegExp) {
  const e = failure(op, body);
  expect({ status: e.status, type: e.type, param: e.param, code: e.code }).toEqual({
    status: 400, type: 'invalid_request_error', param, code,
  });
  if (typeof message === 'string') expect(e.message).toBe(message);
  else if (message) expect(e.message).toMatch(message);
  return e;
}

const expectValid = (op: RequestOperation, body: unknown) => expect(() => validateRequest(op, body)).not.toThrow();

describe('any operation', () => {
  const ops: RequestOperation[] = ['chat.completions', 'completions', 'embeddings', 'images.generate',
    'images.image_to_image', 'images.control_net'];
  it.each(ops)('%s refuses a body that is not a JSON object', (op) => {
    for (const body of [null, undefined, [], [{}], 'text', 5, true]) {
      expectInvalid(op, body, null, 'invalid_type', 'Request body must be a JSON object');
    }
  });
});

describe('chat.completions', () => {
  const op = 'chat.completions';
  const base = { model: 'accounts/fireworks/models/llama-v3p1-8b-instruct', messages: [{ role: 'user', content: 'Hello' }] };
  const weatherTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', description: 'City name' }, unit: { type: 'string' } },
        required: ['city'],
      },
    },
  };

  it('accepts good bodies', () => {
    expectValid(op, base);
    expectValid(op, {
      model: 'accounts/fireworks/models/llama-v2-7b-chat',
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: 'Weather in Paris?', name: 'alice' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      ],
      tools: [weatherTool, { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } }],
      max_tokens: 200, prompt_truncate_len: 1500, temperature: 0.7, top_p: 1, top_k: 50, frequency_penalty: 0.5,
      presence_penalty: -0.5, n: 2, stop: ['\n\n', 'END'], stream: true, context_length_exceeded_behavior: 'error',
      user: 'u-1',
    });
    expectValid(op, {
      ...base,
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What is in this image?' },
        { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
      ] }],
    });
    // nullable fields take null
    expectValid(op, { ...base, temperature: null, top_p: null, top_k: null, n: null, stop: null, stream: null,
      response_format: null, user: null, prompt_truncate_len: null, frequency_penalty: null, presence_penalty: null });
    expectValid(op, { ...base, stop: 'END' });
    expectValid(op, { ...base, response_format: { type: 'json_object' } });
    expectValid(op, { ...base, response_format: { type: 'json_object', schema: { type: 'object', properties: { foo: { type: 'string' } }, required: ['foo'] } } });
    expectValid(op, { ...base, temperature: 0, top_k: 128, n: 128 });
  });

  it('refuses missing and unknown fields', () => {
    expectInvalid(op, { messages: base.messages }, 'model', 'missing_required_field', '"model" is required');
    expectInvalid(op, { model: 'm' }, 'messages', 'missing_required_field', '"messages" is required');
    expectInvalid(op, { ...base, foo: 1 }, 'foo', 'unknown_field', 'Unknown field "foo": this API does not accept it');
    expectInvalid(op, { ...base, prompt: 'hi' }, 'prompt', 'unknown_field');
    // a typo: the missing field is reported and the unknown one mentioned
    expectInvalid(op, { model: 'm', message: base.messages }, 'messages', 'missing_required_field', /unknown field "message"/);
    expectInvalid(op, { model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content', 'missing_required_field',
      '"messages[0].content" is required');
    expectInvalid(op, { model: 'm', messages: [{ content: 'x' }] }, 'messages[0].role', 'missing_required_field');
    expectInvalid(op, { ...base, response_format: { schema: {} } }, 'response_format.type', 'missing_required_field');
  });

  it('refuses wrong types', () => {
    expectInvalid(op, { ...base, model: 5 }, 'model', 'invalid_type', '"model" must be a string (got 5)');
    expectInvalid(op, { ...base, messages: 'hi' }, 'messages', 'invalid_type');
    expectInvalid(op, { ...base, temperature: 'hot' }, 'temperature', 'invalid_type', '"temperature" must be a number or null (got "hot")');
    expectInvalid(op, { ...base, max_tokens: 1.5 }, 'max_tokens', 'invalid_type', '"max_tokens" must be an integer (got 1.5)');
    expectInvalid(op, { ...base, stream: 'yes' }, 'stream', 'invalid_type');
    expectInvalid(op, { ...base, stop: 5 }, 'stop', 'invalid_type', '"stop" must be a string, null or an array of strings (got 5)');
    expectInvalid(op, { ...base, stop: ['a', 5] }, 'stop[1]', 'invalid_type');
    expectInvalid(op, { model: 'm', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content', 'invalid_type',
      '"messages[0].content" must be a string, null or an array of content parts (got 5)');
    expectInvalid(op, { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] },
      'messages[0].content[0].text', 'invalid_type');
    expectInvalid(op, { ...base, tools: [{ ...weatherTool, function: { name: 'f', parameters: 'x' } }] },
      'tools[0].function.parameters', 'invalid_type');
  });

  it('accepts the tool-use and seed extensions the live service takes', () => {
    const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
    expect(() => validateRequest(op, {
      model: 'm', seed: 7, tool_choice: 'auto', tools: [weatherTool],
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_1', content: '21C' }],
    })).not.toThrow();
    expect(() => validateRequest(op, { ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } })).not.toThrow();
    expectInvalid(op, { model: 'm', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id', 'missing_required_field');
    expectInvalid(op, { model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content', 'missing_required_field');
    expectInvalid(op, { ...base, tool_choice: 'sometimes' }, 'tool_choice', 'invalid_value');
    expectInvalid(op, { ...base, seed: 1.5 }, 'seed', 'invalid_type');
  });

  it('refuses out-of-range and unknown values', () => {
    expectInvalid(op, { ...base, temperature: 3 }, 'temperature', 'invalid_value', '"temperature" must be <= 2 (got 3)');
    expectInvalid(op, { ...base, temperature: -0.1 }, 'temperature', 'invalid_value');
    expectInvalid(op, { ...base, top_p: 1.5 }, 'top_p', 'invalid_value');
    expectInvalid(op, { ...base, top_k: 0 }, 'top_k', 'invalid_value', '"top_k" must be >= 1 (got 0)');
    expectInvalid(op, { ...base, top_k: 129 }, 'top_k', 'invalid_value');
    expectInvalid(op, { ...base, n: 0 }, 'n', 'invalid_value', '"n" must be >= 1 (got 0)');
    expectInvalid(op, { ...base, frequency_penalty: 2.5 }, 'frequency_penalty', 'invalid_value');
    expectInvalid(op, { ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', 'invalid_value', '"stop" must have at most 4 items (got 5)');
    expectInvalid(op, { ...base, stop: [] }, 'stop', 'invalid_value');
    expectInvalid(op, { ...base, messages: [] }, 'messages', 'invalid_value', '"messages" must not be empty');
    expectInvalid(op, { model: 'm', messages: [{ role: 'user', content: 'a' }, { role: 'robot', content: 'hi' }] },
      'messages[1].role', 'invalid_value', '"messages[1].role" must be one of "system", "user", "assistant", "tool", "developer" (got "robot")');
    expectInvalid(op, { ...base, context_length_exceeded_behavior: 'drop' }, 'context_length_exceeded_behavior', 'invalid_value');
    expectInvalid(op, { ...base, response_format: { type: 'xml' } }, 'response_format.type', 'invalid_value');
    expectInvalid(op, { ...base, tools: [{ ...weatherTool, type: 'retrieval' }] }, 'tools[0].type', 'invalid_value');
    expectInvalid(op, { model: 'm', messages: [{ role: 'user', content: [{ type: 'video', url: 'x' }] }] },
      'messages[0].content[0].type', 'invalid_value', /must be one of "text", "image_url" \(got "video"\)/);
    expectInvalid(op, { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] },
      'messages[0].content[0].image_url.url', 'missing_required_field');
    expectInvalid(op, { model: 'm', messages: [{ role: 'user', content: [{ text: 'hi' }] }] },
      'messages[0].content[0].type', 'missing_required_field');
  });

  it('keeps the errors of each message apart', () => {
    const bad = (content: unknown) => ({ role: 'user', content });
    expectInvalid(op, { model: 'm', messages: [bad('ok'), bad([{ type: 'text', text: 5 }]), bad(7)] },
      'messages[1].content[0].text', 'invalid_type');
    expectInvalid(op, { model: 'm', messages: [bad(7), bad([{ type: 'text', text: 5 }])] }, 'messages[0].content', 'invalid_type');
    expectInvalid(op, { model: 'm', messages: [bad([{ type: 'text', text: 'a' }]), bad([{ type: 'text', text: 'b' }, { type: 'text' }])] },
      'messages[1].content[1].text', 'missing_required_field');
  });

  it('stays fast on a huge invalid body', () => {
    const messages = Array.from({ length: 50_000 }, (_, i) => ({ role: 'user', content: i % 2 ? 5 : [{ type: 'text', text: 5 }] }));
    const t0 = performance.now();
    expectInvalid(op, { model: 'm', messages }, 'messages[0].content[0].text', 'invalid_type');
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('reports missing fields before other problems', () => {
    expectInvalid(op, { messages: base.messages, temperature: 3, foo: 1 }, 'model', 'missing_required_field');
    expectInvalid(op, { ...base, temperature: 3, foo: 1 }, 'foo', 'unknown_field');
  });
});

describe('completions', () => {
  const op = 'completions';
  const model = 'accounts/fireworks/models/llama-v2-7b';

  it('accepts every prompt form and the other fields', () => {
    expectValid(op, { model, prompt: 'The sky is' });
    expectValid(op, { model, prompt: ['The sky is', 'The sea is'] });
    expectValid(op, { model, prompt: [123, 10, 456] });
    expectValid(op, { model, prompt: [[123, 10, 456], [100, 543]] });
    expectValid(op, {
      model, prompt: 'Describe <image>', images: ['data:image/jpeg;base64,/9j/4AAQ'], max_tokens: 16, logprobs: 5,
      echo: true, temperature: 1, top_p: 1, top_k: 50, n: 1, stop: null, stream: false,
      context_length_exceeded_behavior: 'truncate', user: 'u',
    });
    expectValid(op, { model, prompt: 'x', max_tokens: null, logprobs: null, echo: null });
  });

  it('refuses bad bodies', () => {
    expectInvalid(op, { prompt: 'x' }, 'model', 'missing_required_field');
    expectInvalid(op, { model }, 'prompt', 'missing_required_field', '"prompt" is required');
    expectInvalid(op, { model, prompt: [] }, 'prompt', 'invalid_value', '"prompt" must not be empty');
    expectInvalid(op, { model, prompt: [[]] }, 'prompt[0]', 'invalid_value');
    expectInvalid(op, { model, prompt: [1, 'a'] }, 'prompt[1]', 'invalid_type', '"prompt[1]" must be an integer (got "a")');
    expectInvalid(op, { model, prompt: ['a', 'b', 3] }, 'prompt[2]', 'invalid_type', '"prompt[2]" must be a string (got 3)');
    expectInvalid(op, { model, prompt: [[1], [2, 'x']] }, 'prompt[1][1]', 'invalid_type');
    expectInvalid(op, { model, prompt: 1.5 }, 'prompt', 'invalid_type',
      '"prompt" must be a string, an array of strings, an array of integers or an array of arrays of integers (got 1.5)');
    expectInvalid(op, { model, prompt: { text: 'x' } }, 'prompt', 'invalid_type');
    expectInvalid(op, { model, prompt: 'x', logprobs: 6 }, 'logprobs', 'invalid_value', '"logprobs" must be <= 5 (got 6)');
    expectInvalid(op, { model, prompt: 'x', max_tokens: -1 }, 'max_tokens', 'invalid_value');
    expectInvalid(op, { model, prompt: 'x', images: 'data:...' }, 'images', 'invalid_type');
    expectInvalid(op, { model, prompt: 'x', temperature: 3 }, 'temperature', 'invalid_value');
    expectInvalid(op, { model, prompt: 'x', top_k: 0 }, 'top_k', 'invalid_value');
    expectInvalid(op, { model, prompt: 'x', n: 0 }, 'n', 'invalid_value');
    expectInvalid(op, { model, prompt: 'x', stop: ['1', '2', '3', '4', '5'] }, 'stop', 'invalid_value');
    // chat-only fields are refused by name here
    expectInvalid(op, { model, prompt: 'x', messages: [] }, 'messages', 'unknown_field', 'Unknown field "messages": this API does not accept it');
    expectInvalid(op, { model, prompt: 'x', tools: [] }, 'tools', 'unknown_field');
  });
});

describe('embeddings', () => {
  const op = 'embeddings';
  const model = 'nomic-ai/nomic-embed-text-v1.5';

  it("accepts the spec's examples and the other forms", () => {
    expectValid(op, { input: 'The food was delicious and the waiter...', model: '', encoding_format: 'float' });
    expectValid(op, { model, input: 'The quick brown fox jumped over the lazy dog', encoding_format: 'float' });
    expectValid(op, { model, input: ['a', 'b'], encoding_format: 'base64', dimensions: 256 });
    expectValid(op, { model, input: 'x', dimensions: 1 });
    expectValid(op, { model, input: [101, 2023, 102] });
    expectValid(op, { model, input: [[101, 2023, 102], [101, 102]] });
    expectValid(op, { model, input: Array.from({ length: 2048 }, (_, i) => `text ${i}`) });
    expectValid(op, { model: 'thenlper/gte-base', input: 'x' });
  });

  it('refuses bad bodies', () => {
    expectInvalid(op, { input: 'x' }, 'model', 'missing_required_field');
    expectInvalid(op, { model }, 'input', 'missing_required_field');
    expectInvalid(op, { model, input: '' }, 'input', 'invalid_value', '"input" must not be empty');
    expectInvalid(op, { model, input: [] }, 'input', 'invalid_value', '"input" must not be empty');
    expectInvalid(op, { model, input: ['a', ''] }, 'input[1]', 'invalid_value', '"input[1]" must not be empty');
    expectInvalid(op, { model, input: ['a', 'b', 'c', 5] }, 'input[3]', 'invalid_type', '"input[3]" must be a string (got 5)');
    expectInvalid(op, { model, input: Array.from({ length: 2049 }, () => 'a') }, 'input', 'invalid_value',
      '"input" must have at most 2048 items (got 2049)');
    expectInvalid(op, { model, input: Array.from({ length: 2049 }, () => 7) }, 'input', 'invalid_value');
    expectInvalid(op, { model, input: [[1, 2], []] }, 'input[1]', 'invalid_value');
    expectInvalid(op, { model, input: 5 }, 'input', 'invalid_type', /must be a string, an array of strings, an array of integers or an array of arrays of integers \(got 5\)/);
    expectInvalid(op, { model, input: null }, 'input', 'invalid_type');
    expectInvalid(op, { model, input: 'x', dimensions: 0 }, 'dimensions', 'invalid_value', '"dimensions" must be >= 1 (got 0)');
    expectInvalid(op, { model, input: 'x', dimensions: 1.5 }, 'dimensions', 'invalid_type');
    expectInvalid(op, { model, input: 'x', encoding_format: 'hex' }, 'encoding_format', 'invalid_value',
      '"encoding_format" must be one of "float", "base64" (got "hex")');
    expectInvalid(op, { model, input: 'x', user: 5 }, 'user', 'invalid_type'); // accepted (live surface) as a string
    expectInvalid(op, { model: 5, input: 'x' }, 'model', 'invalid_type');
  });
});

describe('images.generate', () => {
  const op = 'images.generate';

  it('accepts good bodies (no model: it is in the path)', () => {
    expectValid(op, { text_prompts: [{ text: 'A lighthouse on a cliff' }] });
    expectValid(op, {
      text_prompts: [{ text: 'A lighthouse on a cliff', weight: 1 }, { text: 'blurry', weight: -1 }],
      height: 1024, width: 1024, cfg_scale: 7.5, sampler: 'K_DPMPP_2M', samples: 2, seed: 0, steps: 30,
      safety_check: false, lora_adapter_name: null, lora_weight_filename: null,
    });
    expectValid(op, { text_prompts: [{ text: 'x' }], width: 1536, height: 640, steps: 10, seed: 4294967295 });
    expectValid(op, { model: 'stable-diffusion-xl-1024-v1-0', text_prompts: [{ text: 'x' }] });
  });

  it('refuses bad bodies', () => {
    expectInvalid(op, {}, 'text_prompts', 'missing_required_field');
    expectInvalid(op, { text_prompts: [] }, 'text_prompts', 'invalid_value');
    expectInvalid(op, { text_prompts: 'a cat' }, 'text_prompts', 'invalid_type');
    expectInvalid(op, { text_prompts: [{ weight: 1 }] }, 'text_prompts[0].text', 'missing_required_field');
    expectInvalid(op, { text_prompts: [{ text: 'x'.repeat(2001) }] }, 'text_prompts[0].text', 'invalid_value',
      '"text_prompts[0].text" must be at most 2000 characters long (got 2001)');
    expectInvalid(op, { text_prompts: [{ text: 'x', weight: 'heavy' }] }, 'text_prompts[0].weight', 'invalid_type');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], steps: 5 }, 'steps', 'invalid_value', '"steps" must be >= 10 (got 5)');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], steps: '30' }, 'steps', 'invalid_type', '"steps" must be an integer (got "30")');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], height: 2048 }, 'height', 'invalid_value');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], width: 32 }, 'width', 'invalid_value');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], width: 1001 }, 'width', 'invalid_value');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], style: 'anime' }, 'style', 'unknown_field');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], samples: 11 }, 'samples', 'invalid_value');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], seed: -1 }, 'seed', 'invalid_value');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], sampler: 'K_EULER' }, 'sampler', 'invalid_value');
    expectInvalid(op, { text_prompts: [{ text: 'x' }], safety_check: 'yes' }, 'safety_check', 'invalid_type');
  });
});

describe('images.image_to_image (multipart: string fields, Blob image)', () => {
  const op = 'images.image_to_image';
  const image = () => new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], { type: 'image/png' });

  it('accepts form fields as strings and coerces them in place', () => {
    const body: Record<string, unknown> = {
      prompt: 'A lighthouse on a cliff', negative_prompt: 'blurry', init_image: image(), init_image_mode: 'IMAGE_STRENGTH',
      image_strength: '0.35', cfg_scale: '7.5', clip_guidance_preset: 'NONE', sampler: 'K_DPMPP_2M', samples: '2',
      seed: '0', steps: '30', safety_check: 'false', lora_adapter_name: 'jbilcke-hf/sdxl-botw',
      lora_weight_filename: 'lora.safetensors',
    };
    expectValid(op, body);
    expect(body).toMatchObject({ image_strength: 0.35, cfg_scale: 7.5, samples: 2, seed: 0, steps: 30, safety_check: false });
    expect(body.init_image).toBeInstanceOf(Blob);
    expect(body.prompt).toBe('A lighthouse on a cliff');

    expectValid(op, { text_prompts: '[{"text": "test", "weight": 1}]', init_image: image() });
    expectValid(op, { prompt: 'x', init_image: image(), init_image_mode: 'STEP_SCHEDULE', step_schedule_start: '0.65', step_schedule_end: '1' });
    expectValid(op, { prompt: 'x', init_image: image(), step_schedule_start: '0.5', step_schedule_end: '0.9' });
  });

  it('refuses bad form fields', () => {
    expectInvalid(op, { prompt: 'x', init_image: image(), steps: 'abc' }, 'steps', 'invalid_type', '"steps" must be an integer (got "abc")');
    expectInvalid(op, { prompt: 'x', init_image: image(), steps: '12.5' }, 'steps', 'invalid_type');
    expectInvalid(op, { prompt: 'x', init_image: image(), steps: '' }, 'steps', 'invalid_type');
    expectInvalid(op, { prompt: 'x', init_image: image(), steps: '5' }, 'steps', 'invalid_value', '"steps" must be >= 10 (got 5)');
    expectInvalid(op, { prompt: 'x' }, 'init_image', 'missing_required_field', '"init_image" is required');
    expectInvalid(op, { init_image: image() }, 'prompt', 'missing_required_field', '"prompt" or "text_prompts" is required');
    expectInvalid(op, { prompt: 'x', init_image: image(), image_strength: '1.5' }, 'image_strength', 'invalid_value');
    expectInvalid(op, { prompt: 'x', init_image: image(), init_image_mode: 'NOISE' }, 'init_image_mode', 'invalid_value');
    expectInvalid(op, { prompt: 'x', init_image: image(), init_image_mode: 'STEP_SCHEDULE' }, 'step_schedule_end', 'missing_required_field');
    expectInvalid(op, { prompt: 'x', init_image: image(), sampler: 'DDIM' }, 'sampler', 'invalid_value');
    expectInvalid(op, { prompt: 'x', init_image: image(), samples: '0' }, 'samples', 'invalid_value');
    expectInvalid(op, { prompt: 'x', init_image: image(), safety_check: 'maybe' }, 'safety_check', 'invalid_type');
    expectInvalid(op, { prompt: image(), init_image: image() }, 'prompt', 'invalid_type', '"prompt" must be a string (got a file)');
  });
});

describe('images.control_net (multipart)', () => {
  const op = 'images.control_net';
  const image = () => new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' });

  it('accepts form fields as strings', () => {
    const body: Record<string, unknown> = {
      prompt: 'A lighthouse on a cliff', control_image: image(), control_net_name: 'canny', conditioning_scale: '0.8',
      step_schedule_start: '0', step_schedule_end: '1', cfg_scale: '7', sampler: 'K_DPMPP_2M', samples: '1',
      steps: '20', seed: '42', safety_check: 'true',
    };
    expectValid(op, body);
    expect(body).toMatchObject({ conditioning_scale: 0.8, steps: 20, seed: 42, safety_check: true, cfg_scale: 7 });
    expectValid(op, { text_prompts: '[{"text": "a lighthouse", "weight": 1}]', control_image: image() });
  });

  it('refuses bad form fields', () => {
    expectInvalid(op, { prompt: 'x' }, 'control_image', 'missing_required_field');
    expectInvalid(op, { control_image: image() }, 'prompt', 'missing_required_field');
    expectInvalid(op, { prompt: 'x', control_image: image(), steps: 'abc' }, 'steps', 'invalid_type');
    expectInvalid(op, { prompt: 'x', control_image: image(), control_net_name: 'depth' }, 'control_net_name', 'invalid_value');
    expectInvalid(op, { prompt: 'x', control_image: image(), conditioning_scale: '2' }, 'conditioning_scale', 'invalid_value');
    expectInvalid(op, { prompt: 'x', control_image: image(), seed: '-3' }, 'seed', 'invalid_value');
  });
});

describe('generated validators', () => {
  const generated = path.join(root, 'src/api/generated');

  it('are standalone: no imports, no eval', () => {
    const js = readFileSync(path.join(generated, 'validators.js'), 'utf8');
    expect(js.startsWith('// generated by scripts/build-validators.mjs — do not edit')).toBe(true);
    expect(js).not.toMatch(/\bimport\b|\brequire\(|new Function|\beval\(/);
  });

  it('are what the build script produces, byte for byte (deterministic)', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'hearth-validators-'));
    try {
      for (let run = 0; run < 2; run++) {
        execFileSync(process.execPath, [path.join(root, 'scripts/build-validators.mjs'), out], { cwd: root, stdio: 'pipe' });
        for (const f of ['validators.js', 'validators.d.ts']) {
          expect(readFileSync(path.join(out, f)).equals(readFileSync(path.join(generated, f))), `${f} differs`).toBe(true);
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
