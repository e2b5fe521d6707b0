/**
 * The soak's malformed-input cases: for every endpoint a valid base request, then each field (present or not) set
 * to each of a list of hostile values, required fields dropped, bodies that are not JSON, wrong content types,
 * methods and paths. Pure data, generated deterministically; the soak sends them through the service worker.
 */
export interface SoakCase {
  name: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  /** A raw text body, or multipart fields (a file field is a byte array). */
  body?: string;
  form?: Record<string, string | { bytes: number[]; type: string }>;
}

const API = '/inference/v1';
const SDXL = `${API}/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0`;
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Values no field expects (and a few that are valid somewhere: the answer must still be spec-shaped). */
const HOSTILE: unknown[] = [
  null, -1, 0, 1.5, 1e9, -1e308, '', 'x', '\u0000\ud800', 'x'.repeat(5000), true, [], [null], {}, { a: { b: [] } }, [[1, 2], 'x'],
];

const BASES: { path: string; body: Record<string, unknown>; fields: string[] }[] = [
  {
    path: `${API}/chat/completions`,
    body: { model: 'hearth/tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, temperature: 0 },
    fields: ['model', 'messages', 'max_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stop', 'stream', 'seed', 'response_format',
      'tools', 'tool_choice', 'prompt_truncate_len', 'frequency_penalty', 'presence_penalty', 'logprobs', 'user',
      'context_length_exceeded_behavior', 'unknown_field'],
  },
  {
    path: `${API}/completions`,
    body: { model: 'hearth/tiny-llama', prompt: 'Hi', max_tokens: 3, temperature: 0 },
    fields: ['model', 'prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stop', 'stream', 'seed', 'echo', 'logprobs',
      'response_format', 'frequency_penalty', 'presence_penalty', 'images', 'context_length_exceeded_behavior', 'unknown_field'],
  },
  {
    path: `${API}/embeddings`,
    body: { model: 'hearth/tiny-embed', input: 'hello' },
    fields: ['model', 'input', 'dimensions', 'encoding_format', 'user', 'unknown_field'],
  },
  {
    path: SDXL,
    body: { model: 'hearth/tiny-sdxl', text_prompts: [{ text: 'a hearth' }], steps: 10, width: 64, height: 64, seed: 1 },
    fields: ['model', 'text_prompts', 'steps', 'width', 'height', 'seed', 'cfg_scale', 'samples', 'sampler', 'safety_check',
      'clip_guidance_preset', 'style_preset', 'lora_adapter_name', 'lora_weight_filename', 'unknown_field'],
  },
];

/** Fields inside the chat message, set to each hostile value. */
const MESSAGE_FIELDS = ['role', 'content', 'name', 'tool_calls', 'tool_call_id'];

export function soakCases(pngBytes: number[]): SoakCase[] {
  const cases: SoakCase[] = [];
  const json = (name: string, path: string, body: unknown, headers: Record<string, string> = JSON_HEADERS) =>
    cases.push({ name, path, method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

  for (const base of BASES) {
    const short = base.path.slice(API.length);
    for (const field of base.fields) {
      for (const value of HOSTILE) json(`${short} ${field}=${JSON.stringify(value).slice(0, 20)}`, base.path, { ...base.body, [field]: value });
      if (field in base.body) {
        const { [field]: _dropped, ...rest } = base.body;
        json(`${short} without ${field}`, base.path, rest);
      }
    }
    for (const [what, text] of [
      ['empty', ''], ['truncated', JSON.stringify(base.body).slice(0, 20)], ['array', '[]'], ['number', '42'], ['null', 'null'],
      ['string', '"x"'], ['deep', `${'['.repeat(5000)}${']'.repeat(5000)}`], ['bad utf-8', '{"model":"\udc00"}'],
      ['duplicate keys', '{"model":"a","model":"b"}'], ['trailing junk', `${JSON.stringify(base.body)}xyz`],
    ] as const) json(`${short} body ${what}`, base.path, text);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/json; charset=utf-16']) {
      json(`${short} content-type "${type}"`, base.path, base.body, { 'content-type': type });
    }
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) cases.push({ name: `${short} ${method}`, path: base.path, method, headers: {} });
  }
  const chat = BASES[0];
  for (const field of MESSAGE_FIELDS) {
    for (const value of HOSTILE) {
      json(`/chat messages[0].${field}=${JSON.stringify(value).slice(0, 20)}`, chat.path, { ...chat.body, messages: [{ role: 'user', content: 'Hi', [field]: value }] });
    }
  }
  for (const [path, imageField] of [[`${SDXL}/image_to_image`, 'init_image'], [`${SDXL}/control_net`, 'control_image']] as const) {
    const base: Record<string, string | { bytes: number[]; type: string }> = {
      model: 'hearth/tiny-sdxl', text_prompts: JSON.stringify([{ text: 'x' }]), steps: '10', seed: '1', [imageField]: { bytes: pngBytes, type: 'image/png' },
    };
    for (const field of ['model', 'text_prompts', 'steps', 'seed', 'image_strength', 'init_image_mode', 'step_schedule_start',
      'step_schedule_end', 'conditioning_scale', 'cfg_scale', 'samples', imageField]) {
      for (const value of ['', '-1', '1e9', 'x', '[]', '{}', 'null', '\u0000', 'x'.repeat(5000)]) {
        cases.push({ name: `${path.slice(SDXL.length)} ${field}=${value.slice(0, 10)}`, path, method: 'POST', headers: {}, form: { ...base, [field]: value } });
      }
    }
    for (const bytes of [[], [0x89, 0x50, 0x4e, 0x47], Array.from({ length: 100 }, (_, i) => i), pngBytes.slice(0, 40)]) {
      cases.push({ name: `${path.slice(SDXL.length)} ${imageField} of ${bytes.length} bytes`, path, method: 'POST', headers: {}, form: { ...base, [imageField]: { bytes, type: 'image/png' } } });
    }
  }
  for (const path of ['/models/%ZZ', '/models/%', '/models/hearth%2Ftiny-embed', '/models/no/such', '/models/' + 'x'.repeat(5000), '/nope',
    '/', '', '/chat', '/chat/completions/x', '/models/../models', '/_hearth/stream', '/embeddings?x=%ZZ']) {
    cases.push({ name: `GET ${path.slice(0, 30)}`, path: `${API}${path}`, method: 'GET', headers: {} });
  }
  return cases;
}
