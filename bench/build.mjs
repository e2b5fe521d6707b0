// Bench builds: the web app (as tests/browser/setup.ts builds it) and a Node ESM bundle of the API modules, both with Vite.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const BUILD_DIR = `${ROOT}bench/.build`;

/** Production build of the app into `outDir` (not dist/, so a bench never rewrites files a concurrent test serves). */
export async function buildWeb(outDir = `${BUILD_DIR}/web`) {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production'; // otherwise Vite may build a development bundle
  try {
    await build({ root: ROOT, logLevel: 'warn', mode: 'production', build: { outDir, emptyOutDir: true } });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}

/**
 * The TypeScript modules tests/unit/node-api.ts assembles (createApi, ModelRegistry, EmbeddingsService and its
 * tokenizer; LlmService with generationParams, the LLM tokenizer, filesFor and loadedModels) and the SDXL engine
 * (createImageService, which loads the pipeline as workers/image.worker.ts does, SdxlPipeline, the parts list and the
 * directory ModelFiles), the LoRA merge (the CPU
 * reference, the WGSL merger, mergeLora and the steps it takes) and tests/unit/dawn.ts (WebGPU in Node through
 * Dawn), bundled for Node as .mjs with their npm dependencies left as imports. The output lives under the project so
 * those imports resolve from its node_modules.
 */
export async function buildNodeApi(outDir = `${BUILD_DIR}/node-api`) {
  const input = {
    handle: 'src/api/handle.ts',
    registry: 'src/models/registry.ts',
    service: 'src/engines/embeddings/service.ts',
    tokenize: 'src/engines/embeddings/tokenize.ts',
    'llm-service': 'src/engines/llm/service.ts',
    'llm-request': 'src/api/handlers/llm/request.ts',
    'llm-tokenizer': 'src/engines/llm/tokenizer.ts',
    store: 'src/models/store.ts',
    loaded: 'src/engines/loaded.ts',
    'sdxl-service': 'src/engines/image/service.ts',
    'sdxl-pipeline': 'src/engines/image/pipeline.ts',
    'sdxl-files': 'src/engines/image/files.ts',
    'model-files': 'src/server/model-files.ts',
    'lora-merge': 'src/engines/image/lora/merge.ts',
    'lora-gpu-merge': 'src/engines/image/lora/gpu-merge.ts',
    'lora-apply': 'src/engines/image/lora/apply.ts',
    'lora-safetensors': 'src/engines/image/lora/safetensors.ts',
    'lora-adapter-keys': 'src/engines/image/lora/adapter-keys.ts',
    'lora-onnx-weights': 'src/engines/image/lora/onnx-weights.ts',
    'lora-targets': 'src/engines/image/lora/targets.ts',
    dawn: 'tests/unit/dawn.ts',
    'wgsl-decoder': 'src/engines/llm/wgsl/decoder.ts',
    'wgsl-onnx-weights': 'src/engines/llm/wgsl/onnx-weights.ts',
    'wgsl-config': 'src/engines/llm/wgsl/config.ts',
    'wgsl-weights': 'src/engines/llm/wgsl/weights.ts',
    'wgsl-gguf-file': 'src/engines/llm/wgsl/gguf-file.ts',
    'wgsl-gguf-weights': 'src/engines/llm/wgsl/gguf-weights.ts',
    'onnx-decoder': 'src/engines/llm/onnx-decoder.ts',
    llama2c: 'tests/unit/llama2c.ts',
  };
  for (const [k, v] of Object.entries(input)) input[k] = ROOT + v;
  await build({
    root: ROOT,
    configFile: false,
    publicDir: false,
    logLevel: 'warn',
    mode: 'production',
    build: {
      ssr: true,
      target: 'node20',
      outDir,
      emptyOutDir: true,
      minify: false,
      rollupOptions: {
        input,
        output: { format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
      },
    },
  });
  return outDir;
}

export const hasBuild = (dir) => existsSync(`${dir}/index.html`);

/**
 * Production build of the app as it was at git `ref` (the committed files only), for benches that compare a change
 * with what came before in one run: `git archive` of the ref into bench/.build/at-<commit>/src (this checkout's
 * node_modules linked in), built into bench/.build/at-<commit>/web. Reused when that build exists. Returns the output
 * directory and the commit.
 */
export async function buildWebAt(ref) {
  const run = (cmd, args, opts = {}) => {
    const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'buffer', maxBuffer: 1 << 30, ...opts });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr?.toString() || `exit ${r.status}`}`);
    return r.stdout;
  };
  const commit = run('git', ['rev-parse', '--verify', `${ref}^{commit}`]).toString().trim();
  const dir = `${BUILD_DIR}/at-${commit.slice(0, 12)}`;
  const outDir = `${dir}/web`;
  if (!hasBuild(outDir)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(`${dir}/src`, { recursive: true });
    run('tar', ['-x', '-C', `${dir}/src`], { input: run('git', ['archive', commit]) });
    symlinkSync(`${ROOT}node_modules`, `${dir}/src/node_modules`, 'dir');
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({ root: `${dir}/src`, configFile: `${dir}/src/vite.config.ts`, logLevel: 'warn', mode: 'production', build: { outDir, emptyOutDir: true } });
    } finally {
      if (nodeEnv === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = nodeEnv;
    }
  }
  return { outDir, commit };
}
