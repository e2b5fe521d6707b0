/**
 * Unit tests: Node, no browser. Two test files at a time: vitest's default on a 2-core machine is one
 * (availableParallelism − 1), and most files here are one busy thread (JavaScript, onnxruntime-web's wasm with one
 * thread), so one at a time leaves the second core idle; the SwiftShader (Dawn) files use both cores either way.
 * `--maxWorkers=1` on the command line gives the old order.
 */
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
