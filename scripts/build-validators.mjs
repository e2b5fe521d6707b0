#!/usr/bin/env node
// scripts/build-validators.mjs — builds the API's request validators from the spec, at build time.
// Reads spec/openapi3.yml, turns the OpenAPI 3.0 request schemas into plain JSON Schema (with the corrections of
// spec/NOTES.md), and compiles one validator per request operation with Ajv's standalone code generation, so that
// nothing runs `new Function` at run time (service worker, strict CSP). Writes, deterministically:
//   src/api/generated/validators.js    (ESM, committed; no imports)
//   src/api/generated/validators.d.ts  (its types)
// Usage: node scripts/build-validators.mjs [output-dir]   (default: src/api/generated)

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.resolve(process.argv[2] ?? path.join(root, 'src/api/generated'));
const spec = YAML.parse(readFileSync(path.join(root, 'spec/openapi3.yml'), 'utf8'));
const components = spec.components.schemas;

// The live API surface table (src/api/live-surface.ts; it imports nothing at run time): TypeScript → JS → module.
const liveSource = readFileSync(path.join(root, 'src/api/live-surface.ts'), 'utf8');
const liveJs = ts.transpileModule(liveSource, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
const { LIVE_SURFACE } = await import(`data:text/javascript;base64,${Buffer.from(liveJs).toString('base64')}`);

// ---------------------------------------------------------------------------------------------------------------
// 1. OpenAPI 3.0 schema → JSON Schema (draft-07 subset Ajv understands), $refs inlined.
//    The walk is schema-aware: it only descends into positions that hold schemas, so a *property* named
//    "description", "type" or "required" (FunctionParameters has all three) is never mistaken for a keyword.

/** Keys dropped everywhere: annotations (no effect on validation; they would only bloat the generated code). */
const ANNOTATIONS = new Set(['description', 'example', 'examples', 'title', 'externalDocs', 'xml', 'deprecated', '$comment']);
/** OpenAPI numeric formats: they only document the wire width, JSON Schema has no such formats. */
const NUMERIC_FORMATS = new Set(['float', 'double', 'int32', 'int64']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf']);
const SCHEMA_ONE = new Set(['not', 'if', 'then', 'else', 'additionalItems', 'contains', 'propertyNames']);
/** Values copied verbatim (data, not schemas). */
const VALUES = new Set(['enum', 'const', 'default', 'required', 'type', 'minimum', 'maximum', 'exclusiveMinimum',
  'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'uniqueItems', 'minProperties',
  'maxProperties', 'multipleOf', 'pattern']);

function resolveRef(ref) {
  const m = /^#\/components\/schemas\/([A-Za-z0-9_.-]+)$/.exec(ref);
  if (!m || !(m[1] in components)) throw new Error(`unresolvable $ref ${ref}`);
  return components[m[1]];
}

/** Converts one OpenAPI schema to JSON Schema; `where` is for error messages only. */
function toJsonSchema(s, where, seen = []) {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error(`${where}: not a schema`);
  if ('$ref' in s) {
    const extra = Object.keys(s).filter((k) => k !== '$ref' && !ANNOTATIONS.has(k));
    if (extra.length) throw new Error(`${where}: keys beside $ref (${extra}) are ignored by OpenAPI 3.0; refusing to guess`);
    if (seen.includes(s.$ref)) throw new Error(`${where}: recursive $ref ${s.$ref} cannot be inlined`);
    return toJsonSchema(resolveRef(s.$ref), `${where}→${s.$ref}`, [...seen, s.$ref]);
  }
  // `format: binary`: multipart parsing yields a Blob/File (or a string); the field must be present, any value.
  if (s.format === 'binary') return {};
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (ANNOTATIONS.has(k) || k.startsWith('x-') || k === 'nullable' || k === 'discriminator') continue;
    if (k === 'format') {
      if (NUMERIC_FORMATS.has(v)) continue;
      throw new Error(`${where}: format "${v}" is not handled; extend scripts/build-validators.mjs`);
    }
    if (SCHEMA_MAPS.has(k)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, toJsonSchema(ps, `${where}.${k}.${p}`, seen)]));
    } else if (SCHEMA_LISTS.has(k)) {
      out[k] = v.map((b, i) => toJsonSchema(b, `${where}.${k}[${i}]`, seen));
    } else if (SCHEMA_ONE.has(k)) {
      out[k] = toJsonSchema(v, `${where}.${k}`, seen);
    } else if (k === 'items') {
      out[k] = Array.isArray(v) ? v.map((b, i) => toJsonSchema(b, `${where}.items[${i}]`, seen)) : toJsonSchema(v, `${where}.items`, seen);
    } else if (k === 'additionalProperties') {
      out[k] = typeof v === 'boolean' ? v : toJsonSchema(v, `${where}.additionalProperties`, seen);
    } else if (VALUES.has(k)) {
      out[k] = structuredClone(v);
    } else {
      throw new Error(`${where}: unknown keyword "${k}"; extend scripts/build-validators.mjs`);
    }
  }
  if (s.nullable === true) return allowNull(out, where);
  return out;
}

/** OpenAPI `nullable: true` → JSON Schema: null joins the type (and the enum, when there is one). */
function allowNull(s, where) {
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.includes('null')) s.type = [...types, 'null'];
    if (s.enum && !s.enum.includes(null)) s.enum = [...s.enum, null];
    return s;
  }
  if (s.enum) {
    if (!s.enum.includes(null)) s.enum = [...s.enum, null];
    return s;
  }
  if (Object.keys(s).length === 0) return s; // already anything
  throw new Error(`${where}: nullable without type; extend allowNull`);
}

const schema = (name) => toJsonSchema(components[name], name);

// ---------------------------------------------------------------------------------------------------------------
// 2. Request bodies, with the decisions of spec/NOTES.md. Each correction checks the shape it expects, so a changed
//    spec fails here instead of being silently mis-corrected.

function expect(cond, what) {
  if (!cond) throw new Error(`spec/openapi3.yml changed: ${what}; review scripts/build-validators.mjs`);
}

/** Schemas worth a better noun than "an object" in error messages (see `describe`). */
const NOUNS = new WeakMap();

/** allOf(A, B) as one closed object: unknown top-level fields are refused. */
function mergeClosed(...parts) {
  const out = { type: 'object', properties: {}, required: [], additionalProperties: false };
  for (const p of parts) {
    expect(p.type === 'object' && p.properties, 'allOf part is not a plain object schema');
    for (const [k, v] of Object.entries(p.properties)) {
      expect(!(k in out.properties), `field "${k}" defined twice in the allOf`);
      out.properties[k] = v;
    }
    for (const r of p.required ?? []) if (!out.required.includes(r)) out.required.push(r);
    const rest = Object.keys(p).filter((k) => !['type', 'properties', 'required'].includes(k));
    expect(rest.length === 0, `allOf part has keywords ${rest} that merging would drop`);
  }
  return out;
}

/**
 * A oneOf of objects told apart by a `tag` property whose branch values are single enums → an enum on the tag plus
 * if/then per value. Same meaning (with the tag required), but a failure names the wrong tag value, or the one
 * branch the tag selects, instead of every branch.
 */
function discriminated(s, tag, branchRequired) {
  expect(Array.isArray(s.oneOf) && s.oneOf.every((b) => b.type === 'object' && b.properties?.[tag]?.enum?.length === 1),
    `oneOf told apart by "${tag}"`);
  const values = s.oneOf.map((b) => b.properties[tag].enum[0]);
  return {
    type: 'object',
    required: [tag],
    properties: { [tag]: { type: 'string', enum: values } },
    allOf: s.oneOf.map((b, i) => {
      const { [tag]: _tagSchema, ...props } = b.properties;
      const then = { properties: props };
      const req = [...(b.required ?? []).filter((r) => r !== tag), ...(branchRequired[values[i]] ?? [])];
      if (req.length) then.required = [...new Set(req)];
      return { if: { properties: { [tag]: { const: values[i] } }, required: [tag] }, then };
    }),
  };
}

function chatCompletions() {
  const body = mergeClosed(schema('CreateChatCompletionExclusiveFields'), schema('BaseCreateCompletionRequest'));
  const message = body.properties.messages.items;
  const content = message.properties.content;
  expect(content.oneOf?.length === 2 && content.oneOf[1].type === 'array', 'message content is string | array');
  // Content parts: `type` selects the part; a text part needs `text`, an image part needs `image_url.url`.
  const part = discriminated(content.oneOf[1].items, 'type', { text: ['text'], image_url: ['image_url'] });
  const imageUrl = part.allOf[1].then.properties.image_url;
  expect(imageUrl?.type === 'object' && imageUrl.properties?.url, 'image_url part has {url}');
  imageUrl.required = ['url'];
  content.oneOf[1].items = part;
  NOUNS.set(part, 'a content part');
  toolConversation(body, message);
  return withSeed(body);
}

/**
 * Extensions the live service accepts and tool use needs, which the file lacks: `tool` messages answering a call
 * (`tool_call_id`), assistant messages carrying `tool_calls` (their `content` may then be omitted), and
 * `tool_choice` ("auto" | "none" | "required" | "any" | {type: "function", function: {name}}).
 */
function toolConversation(body, message) {
  expect(message.properties.role?.enum?.join() === 'system,user,assistant', 'message roles');
  message.properties.role.enum.push('tool');
  message.properties.tool_call_id = { type: 'string', minLength: 1 };
  message.properties.tool_calls = {
    type: 'array',
    items: {
      type: 'object', required: ['id', 'type', 'function'], additionalProperties: false,
      properties: {
        id: { type: 'string' },
        type: { type: 'string', enum: ['function'] },
        function: {
          type: 'object', required: ['name', 'arguments'], additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1 }, arguments: { type: 'string' } },
        },
      },
    },
  };
  expect(message.required?.join() === 'role,content', 'message requires role and content');
  message.required = ['role'];
  message.allOf = [
    { if: { properties: { role: { const: 'tool' } }, required: ['role'] }, then: { required: ['tool_call_id', 'content'] } },
    { if: { properties: { role: { enum: ['system', 'user'] } }, required: ['role'] }, then: { required: ['content'] } },
    { if: { properties: { role: { const: 'assistant' } }, required: ['role'], not: { required: ['tool_calls'] } }, then: { required: ['content'] } },
  ];
  expect(!('tool_choice' in body.properties), 'tool_choice now in the spec');
  body.properties.tool_choice = {
    oneOf: [
      { type: 'string', enum: ['auto', 'none', 'required', 'any'] },
      {
        type: 'object', required: ['type', 'function'], additionalProperties: false,
        properties: {
          type: { type: 'string', enum: ['function'] },
          function: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 } } },
        },
      },
    ],
  };
}

/** `seed` (an extension the live service accepts): same seed, same settings → same output. */
function withSeed(body) {
  expect(!('seed' in body.properties), 'seed now in the spec');
  body.properties.seed = { type: ['integer', 'null'] };
  return body;
}

function completions() {
  return withSeed(mergeClosed(schema('CreateCompletionExclusiveFields'), schema('BaseCreateCompletionRequest')));
}

function embeddings() {
  const body = schema('CreateEmbeddingRequest');
  expect(body.additionalProperties === false && body.properties.input?.oneOf?.length === 2, 'embeddings input');
  expect(!('encoding_format' in body.properties), 'embeddings encoding_format now in the spec');
  const list = (items) => ({ type: 'array', minItems: 1, maxItems: 2048, items });
  body.properties.input = {
    oneOf: [
      { type: 'string', minLength: 1 },
      list({ type: 'string', minLength: 1 }),
      list({ type: 'integer' }),
      list({ type: 'array', minItems: 1, items: { type: 'integer' } }),
    ],
  };
  // anyOf(string, string enum of two known ids) is just "a string".
  expect(body.properties.model.anyOf?.every((b) => b.type === 'string'), 'embeddings model is anyOf strings');
  body.properties.model = { type: 'string' };
  body.properties.encoding_format = { type: 'string', enum: ['float', 'base64'], default: 'float' };
  return body;
}

/** Shared image fixes. */
function fixImageBody(body, name) {
  // NOTES.md: the model is in the path; the spec requires `model` without defining it.
  body.required = body.required.filter((r) => r !== 'model');
  // Height/Width: the spec's own description lists 1152, 1216, 1344 and 1536 as supported sizes, beyond its
  // `maximum: 1024`, and every model has its own list (the built-in tiny SDXL runs at 64–128 px). The schema keeps
  // multiples of 8 in [64, 1536]; the handler checks the (width, height) pair against the model's list, which for
  // stable-diffusion-xl-1024-v1-0 is exactly the spec's.
  for (const k of ['height', 'width']) {
    if (!body.properties[k]) continue;
    expect(body.properties[k].maximum === 1024 && body.properties[k].minimum === 512, `${name}.${k} bounds`);
    Object.assign(body.properties[k], { minimum: 64, maximum: 1536, multipleOf: 8 });
  }
  // `model` selects which catalog entry serves the path (the spec requires it without defining it); other unknown
  // fields are refused, as everywhere else.
  body.properties.model = { type: 'string', minLength: 1 };
  body.additionalProperties = false;
  // Fractions of the schedule and a 0..1 scale (their descriptions say so).
  for (const k of ['step_schedule_start', 'step_schedule_end', 'conditioning_scale']) {
    if (body.properties[k]) Object.assign(body.properties[k], { minimum: 0, maximum: 1 });
  }
  return body;
}

function imagesGenerate() {
  const body = fixImageBody(schema('CreateImageRequest'), 'CreateImageRequest');
  // TextPrompt.weight is "required" and has `default: 1`: it is optional, 1 when omitted.
  const tp = body.properties.text_prompts.items;
  expect(tp.required?.includes('weight') && tp.properties.weight.default === 1, 'TextPrompt.weight default 1');
  tp.required = tp.required.filter((r) => r !== 'weight');
  return body;
}

/** Multipart bodies: besides `prompt`, `text_prompts` (the JSON-encoded array, NOTES.md) may give the prompt. */
function promptOrTextPrompts(body) {
  body.properties.text_prompts = schema('TextPromptForImageToImage');
  body.required = body.required.filter((r) => r !== 'prompt');
  body.anyOf = [{ required: ['prompt'] }, { required: ['text_prompts'] }];
  return body;
}

function imagesImageToImage() {
  // The spec: anyOf(ImageStrengthRequest, StepScheduleRequest), both allOf(BaseImageToImageRequest, {extra}),
  // with a discriminator on init_image_mode (IMAGE_STRENGTH | STEP_SCHEDULE). Decision: one object with every
  // field; init_image_mode is that enum (default IMAGE_STRENGTH); image_strength and step_schedule_start have
  // defaults, so they are optional; STEP_SCHEDULE requires step_schedule_end (it has no default).
  const raw = components.CreateImageToImageRequest;
  expect(raw.discriminator?.propertyName === 'init_image_mode' && raw.anyOf?.length === 2, 'image_to_image anyOf');
  const strength = schema('ImageStrengthRequest');
  const schedule = schema('StepScheduleRequest');
  const base = schema('BaseImageToImageRequest');
  expect(strength.allOf?.length === 2 && schedule.allOf?.length === 2, 'ImageStrength/StepSchedule are allOf(base, x)');
  const body = { type: 'object', properties: { ...base.properties }, required: ['init_image'] };
  const modes = Object.keys(raw.discriminator.mapping);
  expect(modes.join() === 'IMAGE_STRENGTH,STEP_SCHEDULE', 'init_image_mode values');
  body.properties.init_image_mode = { type: 'string', enum: modes, default: 'IMAGE_STRENGTH' };
  Object.assign(body.properties, strength.allOf[1].properties, schedule.allOf[1].properties);
  // cfg_scale: `integer` here but the shared CFGScale (a number, 7.5 is common) everywhere else.
  expect(base.properties.cfg_scale.type === 'integer', 'BaseImageToImageRequest.cfg_scale');
  body.properties.cfg_scale = schema('CFGScale');
  body.allOf = [{
    if: { properties: { init_image_mode: { const: 'STEP_SCHEDULE' } }, required: ['init_image_mode'] },
    then: { required: ['step_schedule_end'] },
  }];
  return promptOrTextPrompts(fixImageBody(body, 'CreateImageToImageRequest'));
}

function imagesControlNet() {
  return promptOrTextPrompts(fixImageBody(schema('CreateControlNetRequest'), 'CreateControlNetRequest'));
}

// ---------------------------------------------------------------------------------------------------------------
// 2b. The live API surface (src/api/live-surface.ts): new top-level fields join each operation's body; entries that
//     change a field the file already has are patched here by name, or at run time (src/api/live-fields.ts).

/** `response_format`: also json_schema (OpenAI's structured output) and grammar (GBNF), told apart by `type`. */
function responseFormatPatch(body) {
  const rf = body.properties.response_format;
  expect(rf?.properties?.type?.enum?.join() === 'text,json_object' && rf.properties.schema, 'response_format is {type, schema}');
  const schemaObject = { type: ['object', 'null'] };
  const branch = (type, props = {}, required = []) => ({
    type: 'object', additionalProperties: false, required: ['type', ...required],
    properties: { type: { type: 'string', enum: [type] }, ...props },
  });
  const formats = {
    oneOf: [
      branch('text'),
      branch('json_object', { schema: schemaObject }),
      branch('json_schema', {
        json_schema: {
          type: 'object', additionalProperties: false, required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' },
            description: { type: 'string' },
            schema: { type: 'object' },
            strict: { type: ['boolean', 'null'] },
          },
        },
      }, ['json_schema']),
      branch('grammar', { grammar: { type: 'string', minLength: 1 } }, ['grammar']),
    ],
  };
  const union = discriminated(formats, 'type', {});
  body.properties.response_format = { anyOf: [{ type: 'null' }, union] };
  NOUNS.set(union, 'a response format object');
}

/** The `developer` role (OpenAI's newer name for system instructions): a system message. */
function developerRolePatch(body) {
  const message = body.properties.messages.items;
  message.properties.role.enum.push('developer');
  const textRoles = message.allOf.find((c) => c.if?.properties?.role?.enum?.includes('system'));
  expect(textRoles, 'message allOf has the system/user content rule');
  textRoles.if.properties.role.enum.push('developer');
}

/** `prompt` (the live shorthand) or `text_prompts`, on the JSON text-to-image body too. */
function imagePromptPatch(body) {
  expect(body.required?.includes('text_prompts'), 'images.generate requires text_prompts');
  body.required = body.required.filter((r) => r !== 'text_prompts');
  body.anyOf = [{ required: ['text_prompts'] }, { required: ['prompt'] }];
}

const LIVE_PATCHES = {
  response_format: (body, op) => op === 'chat.completions' || op === 'completions' ? responseFormatPatch(body) : undefined,
  'role "developer"': developerRolePatch,
};
/** Patch entries applied at run time by src/api/live-fields.ts (coercions the schema cannot express). */
const RUNTIME_PATCHES = new Set(['numeric strings']);

function withLiveSurface(op, body) {
  for (const field of LIVE_SURFACE) {
    if (!field.operations.includes(op)) continue;
    if (field.patch) {
      const patch = LIVE_PATCHES[field.name];
      expect(patch || RUNTIME_PATCHES.has(field.name), `live-surface patch "${field.name}" has no implementation`);
      patch?.(body, op);
      continue;
    }
    expect(field.schema, `live-surface field "${field.name}" needs a schema or patch: true`);
    if (field.name in body.properties) {
      // Already in the file (e.g. `user` on chat): the file's schema stays; the table only says what it does here.
      expect(field.kind === 'ignored', `live-surface field "${field.name}" is already in ${op}`);
      continue;
    }
    body.properties[field.name] = structuredClone(field.schema);
  }
  if (op === 'images.generate') imagePromptPatch(body);
  return body;
}

/** Operation name → [export identifier, body schema]. JSON bodies and multipart bodies compile separately. */
const JSON_OPS = {
  'chat.completions': ['chat_completions', withLiveSurface('chat.completions', chatCompletions())],
  completions: ['completions', withLiveSurface('completions', completions())],
  embeddings: ['embeddings', withLiveSurface('embeddings', embeddings())],
  'images.generate': ['images_generate', withLiveSurface('images.generate', imagesGenerate())],
};
const MULTIPART_OPS = {
  'images.image_to_image': ['images_image_to_image', withLiveSurface('images.image_to_image', imagesImageToImage())],
  'images.control_net': ['images_control_net', withLiveSurface('images.control_net', imagesControlNet())],
};

// ---------------------------------------------------------------------------------------------------------------
// 3. Compile. Multipart form fields are strings, so those validators coerce numbers/integers/booleans in place.

const AJV_OPTIONS = {
  allErrors: true,
  strict: true,
  strictRequired: false, // anyOf/if branches name fields the parent schema defines
  allowUnionTypes: true, // nullable → ["string", "null"]
  useDefaults: false,
  messages: false, // src/api/validate.ts writes the messages
  code: { source: true, esm: true, lines: true, optimize: true },
};

function compileGroup(ops, extra, label) {
  const ajv = new Ajv({ ...AJV_OPTIONS, ...extra });
  for (const [id, s] of Object.values(ops)) ajv.addSchema(s, id);
  const refs = Object.fromEntries(Object.values(ops).map(([id]) => [id, id]));
  // Ajv's standalone output `require`s its runtime helpers even in ESM mode; inline the one we use (string length
  // in code points, as ajv/dist/runtime/ucs2length does) so the file has no imports at all.
  let code = standaloneCode(ajv, refs).replace(/require\("ajv\/dist\/runtime\/ucs2length"\)\.default/g,
    '((s) => { let n = 0; for (const _c of s) n++; return n; })');
  if (/\brequire\(|^\s*import\b/m.test(code)) throw new Error(`${label}: generated code imports a runtime helper`);
  // Ajv names its functions validate10, schema11… per instance; wrap each group in its own scope.
  const exported = [];
  code = code.replace(/^"use strict";/, '').replace(/export const (\w+) = (\w+);/g, (_m, name, fn) => {
    exported.push(`${name}: ${fn}`);
    return '';
  });
  if (exported.length !== Object.keys(ops).length) throw new Error(`${label}: unexpected standalone output`);
  return `const ${label} = (() => {\n${code.trim()}\nreturn { ${exported.join(', ')} };\n})();\n`;
}

/** Human wording of each oneOf/anyOf's alternatives, keyed by the Ajv schemaPath of the combinator. */
function alternatives(s, at = '#', out = {}) {
  if (typeof s !== 'object' || s === null) return out;
  for (const k of ['oneOf', 'anyOf']) {
    if (!s[k]) continue;
    const words = [...new Set(s[k].flatMap(describe))];
    if (words.length) out[`${at}/${k}`] = joinOr(words);
  }
  for (const [k, v] of Object.entries(s)) {
    if (SCHEMA_MAPS.has(k)) for (const [p, ps] of Object.entries(v)) alternatives(ps, `${at}/${k}/${escapePointer(p)}`, out);
    else if (SCHEMA_LISTS.has(k)) v.forEach((b, i) => alternatives(b, `${at}/${k}/${i}`, out));
    else if (SCHEMA_ONE.has(k) || k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) alternatives(v, `${at}/${k}`, out);
  }
  return out;
}

const escapePointer = (p) => p.replace(/~/g, '~0').replace(/\//g, '~1');
const ARTICLE = { string: 'a string', integer: 'an integer', number: 'a number', boolean: 'a boolean', object: 'an object', array: 'an array', null: 'null' };

function describe(s) {
  if (NOUNS.has(s)) return [NOUNS.get(s)];
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  return types.map((t) => (t === 'array' && s.items && !Array.isArray(s.items) && describe(s.items).length === 1
    ? `an array of ${plural(describe(s.items)[0])}` : ARTICLE[t]));
}

function plural(w) {
  if (w === 'null') return 'nulls';
  const m = /^an? (array|string|integer|number|boolean|object|content part)(.*)$/.exec(w);
  return m ? `${m[1]}s${m[2]}` : w;
}

const joinOr = (w) => (w.length === 1 ? w[0] : `${w.slice(0, -1).join(', ')} or ${w[w.length - 1]}`);

const allOps = { ...JSON_OPS, ...MULTIPART_OPS };
const alternativesByOp = Object.fromEntries(Object.entries(allOps).map(([op, [, s]]) => [op, alternatives(s)]));

const js = [
  '// generated by scripts/build-validators.mjs — do not edit',
  '// Source: spec/openapi3.yml with the decisions of spec/NOTES.md. Regenerate: node scripts/build-validators.mjs',
  '/* eslint-disable */',
  compileGroup(JSON_OPS, {}, 'json'),
  compileGroup(MULTIPART_OPS, { coerceTypes: true }, 'multipart'),
  '/** Request operation → validator (Ajv standalone; `errors` is set after a failed call). */',
  `export const validators = Object.freeze({\n${Object.entries(allOps).map(([op, [id]]) =>
    `  ${JSON.stringify(op)}: ${op in JSON_OPS ? 'json' : 'multipart'}.${id},`).join('\n')}\n});`,
  '',
  '/** Operations whose validator coerces string form fields to numbers/booleans, in place. */',
  `export const coercing = Object.freeze(${JSON.stringify(Object.keys(MULTIPART_OPS))});`,
  '',
  '/** Per operation: schemaPath of each oneOf/anyOf → its alternatives in words. */',
  `export const alternatives = ${JSON.stringify(alternativesByOp, null, 2)};`,
  '',
].join('\n');

const dts = `// generated by scripts/build-validators.mjs — do not edit
// Types of validators.js (Ajv standalone validators compiled from spec/openapi3.yml).

export type OperationName =
${Object.keys(allOps).map((op) => `  | ${JSON.stringify(op)}`).join('\n')};

/** Ajv's ErrorObject, as the generated code fills it (\`messages: false\`: no \`message\`). */
export interface ValidationError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, any>;
  message?: string;
}

export interface ValidateFunction {
  (data: unknown, context?: unknown): boolean;
  errors?: ValidationError[] | null;
}

export declare const validators: Readonly<Record<OperationName, ValidateFunction>>;
export declare const coercing: readonly OperationName[];
export declare const alternatives: Readonly<Record<OperationName, Readonly<Record<string, string>>>>;
`;

mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'validators.js'), js);
writeFileSync(path.join(outDir, 'validators.d.ts'), dts);
console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, 'validators.js'))} (${Buffer.byteLength(js)} bytes) and validators.d.ts`);
