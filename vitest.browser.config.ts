/**
 * Browser tests: vitest drives Debian Chromium through playwright-core against the built app served by
 * `vite preview` (see tests/browser/setup.ts). Files run one at a time: the machine has two cores and
 * SwiftShader WebGPU is CPU-bound. tests/soak runs its fast subset here; `npm run soak` runs it whole (SOAK=full).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/browser/**/*.test.ts', 'tests/soak/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['tests/browser/setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
