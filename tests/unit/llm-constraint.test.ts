import { test } from 'vitest';
test('load', async () => {
  const m = await import('@mlc-ai/web-xgrammar');
  console.log(Object.keys(m), Object.keys((m as any).default ?? {}), typeof (globalThis as any).xgrammar);
});
