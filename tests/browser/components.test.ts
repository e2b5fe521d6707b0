// The demo page's web components, driven like a user would on wasm engines: chat streams and stops, the embeddings
// heatmap, the completion logprobs table, tiny-SDXL images with live progress and the API's error message, the model
// manager's byte progress on a local download, and the code panel; one screenshot per view goes to
// test-results/screenshots/.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { CatalogEntry } from '../../src/models/types';
import { ROOT } from '../unit/node-api';
import { launch, openHost, type HostPage, chatStreamLengths } from './browser';

const baseUrl = inject('baseUrl');
const SHOTS = `${ROOT}test-results/screenshots`;
let browser: Browser;
let host: HostPage;
let page: Page;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await launch();
  host = await openHost(browser, baseUrl, 'devices=wasm');
  page = host.page;
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.locator('#status[data-state="ready"]').waitFor({ timeout: 30_000 });
});
afterAll(async () => { await browser?.close(); });

const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

async function view(name: string) {
  await page.click(`#tab-${name}`);
  await page.locator(`#view-${name}`).waitFor({ state: 'visible' });
}

/** Text of a selector inside a component's shadow root ('' when absent). */
const shadowText = (tag: string, selector: string) => page.evaluate(([tag, selector]) =>
  document.querySelector(tag)?.shadowRoot?.querySelector(selector)?.textContent ?? '', [tag, selector] as const);

const codePanel = () => page.locator('hearth-code-panel pre').allTextContents();

describe('demo page', () => {
  it('loads every component with the built-in models preselected and real ones labelled by size', async () => {
    const defined = await page.evaluate(() => ['hearth-chat', 'hearth-completion', 'hearth-embeddings', 'hearth-image', 'hearth-models', 'hearth-code-panel']
      .map((t) => Boolean(customElements.get(t)) && document.querySelector(t) !== null));
    expect(defined).toEqual([true, true, true, true, true, true]);
    const picker = page.locator('hearth-chat hearth-model-select select');
    await page.waitForFunction(() => (document.querySelector('hearth-chat')?.shadowRoot?.querySelector('hearth-model-select')
      ?.shadowRoot?.querySelectorAll('option').length ?? 0) > 3);
    expect(await picker.inputValue()).toBe('hearth/tiny-llama');
    const labels = await picker.locator('option').allTextContents();
    expect(labels).toContain('hearth/tiny-llama (built in, random test weights)');
    expect(labels).toContain('hearth/stories260k (built in, real weights)');
    expect(labels.some((l) => /^meta-llama\/Llama-3\.2-1B-Instruct \((size unknown|downloads .+)\)$/.test(l))).toBe(true);
    expect(await page.locator('hearth-embeddings hearth-model-select select').inputValue()).toBe('hearth/tiny-embed');
    expect(await page.locator('hearth-completion hearth-model-select select').inputValue()).toBe('hearth/stories260k');
    expect(await page.locator('hearth-completion #prompt').inputValue()).toBe('Once upon a time');
  });

  it('chat streams text from hearth/tiny-llama, reports tokens/s, and shows the same request as code', async () => {
    await view('chat');
    const chat = page.locator('hearth-chat');
    await chat.locator('#message').fill('Hi!');
    await chat.locator('button.send').click();
    // Sample the answer while it streams: it must grow through several lengths before it is done.
    const lengths = await chatStreamLengths(page);
    expect(lengths.length, `lengths seen: ${lengths.join(',')}`).toBeGreaterThan(3);
    expect(await shadowText('hearth-chat', '.readout')).toMatch(/^\d+ tokens · [\d.]+ tokens\/s · first token .* · finish: (length|stop)$/);
    expect(await chat.locator('.msg.user').count()).toBe(1);
    const [fetchCode, sdkCode] = await codePanel();
    expect(fetchCode).toContain("fetch('/inference/v1/chat/completions'");
    expect(fetchCode).toContain('"model": "hearth/tiny-llama"');
    expect(sdkCode).toContain('openai.chat.completions.create({');
    await shot('chat');
  });

  it('chat Stop ends the stream: the answer stops growing and the buttons reset', async () => {
    const chat = page.locator('hearth-chat');
    await chat.locator('button', { hasText: 'Clear' }).click();
    await chat.locator('#message').fill('Tell me a long story.');
    await chat.locator('button.send').click();
    await page.waitForFunction(() => (document.querySelector('hearth-chat')?.shadowRoot?.querySelector('.msg.assistant .content')?.textContent ?? '').length > 0,
      undefined, { polling: 10, timeout: 30_000 });
    expect(await chat.locator('button.stop').isEnabled()).toBe(true);
    await chat.locator('button.stop').click();
    await chat.locator('.msg.assistant .note', { hasText: 'Stopped.' }).waitFor({ timeout: 5_000 });
    const stoppedAt = (await shadowText('hearth-chat', '.msg.assistant .content')).length;
    await page.waitForTimeout(800);
    expect((await shadowText('hearth-chat', '.msg.assistant .content')).length).toBe(stoppedAt);
    expect(await chat.locator('button.send').isEnabled()).toBe(true);
    expect(await chat.locator('button.stop').isDisabled()).toBe(true);
    expect(await shadowText('hearth-chat', '.readout')).toContain('stopped');
    // The engine counted the cancellation, and the next request is served normally.
    const stats = await page.evaluate(async () => (await (await fetch('/inference/v1/models/hearth/tiny-llama')).json()).stats);
    expect(stats.cancelled).toBeGreaterThanOrEqual(1);
  });

  it('embeddings: the heatmap has N×N cells with values and 1.00 on the diagonal', async () => {
    await view('embeddings');
    const emb = page.locator('hearth-embeddings');
    const inputs = ['The quick brown fox', 'A fast auburn fox', 'Stock markets fell', 'The food was delicious'];
    await emb.locator('#inputs').fill(inputs.join('\n'));
    await emb.locator('button.run').click();
    await emb.locator('td.cell').first().waitFor({ timeout: 30_000 });
    const cells = await emb.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td.cell')].map((c) => c.textContent!.trim())));
    expect(cells.length).toBe(inputs.length);
    for (const [i, row] of cells.entries()) {
      expect(row.length).toBe(inputs.length);
      expect(row[i]).toBe('1.00');
      for (const v of row) expect(Number(v)).toBeGreaterThanOrEqual(-1);
      row.forEach((v, j) => expect(v).toBe(cells[j][i])); // symmetric
    }
    expect(await emb.locator('table.heatmap caption').count()).toBe(1);
    expect(await shadowText('hearth-embeddings', '.readout')).toMatch(/^4 inputs · 64 dimensions/);
    expect((await codePanel())[1]).toContain('openai.embeddings.create({');
    await shot('embeddings');
  });

  it('completion with logprobs shows a per-token table with top alternatives', async () => {
    await view('completion');
    const comp = page.locator('hearth-completion');
    await comp.locator('#max-tokens').fill('8');
    await comp.locator('#max-tokens').dispatchEvent('change');
    await comp.locator('#logprobs').selectOption('3');
    await comp.locator('button.run').click();
    await comp.locator('table.lp tbody tr').first().waitFor({ timeout: 30_000 });
    const rows = await comp.locator('table.lp tbody tr').evaluateAll((trs) => trs.map((tr) => ({
      logprob: tr.querySelectorAll('td')[2].textContent!.trim(),
      alts: tr.querySelectorAll('.alt').length,
    })));
    expect(rows.length).toBe(8);
    for (const r of rows) {
      expect(Number(r.logprob)).toBeLessThanOrEqual(0);
      expect(r.alts).toBeGreaterThanOrEqual(1);
      expect(r.alts).toBeLessThanOrEqual(3);
    }
    expect(await shadowText('hearth-completion', '.output')).not.toBe('');
    expect((await codePanel())[0]).toContain('"logprobs": 3');
    await shot('completion');
  });

  it('image panel: tiny SDXL text-to-image with live progress, image-to-image over multipart, and the API error message', async () => {
    await view('images');
    const img = page.locator('hearth-image');
    expect(await img.locator('hearth-model-select select').inputValue()).toBe('hearth/tiny-sdxl');
    expect(await img.locator('#size option').allTextContents()).toContain('64 × 64');
    await img.locator('#size').selectOption('64x64');
    // Record the progress line while it generates.
    await page.evaluate(() => {
      const w = window as unknown as { imageProgress: string[] };
      w.imageProgress = [];
      const root = document.querySelector('hearth-image')!.shadowRoot!;
      new MutationObserver(() => {
        const t = root.querySelector('.status .readout')?.textContent;
        if (t && w.imageProgress.at(-1) !== t) w.imageProgress.push(t);
      }).observe(root, { subtree: true, childList: true, characterData: true });
    });
    await img.locator('button.generate').click();
    await img.locator('figure img').first().waitFor({ timeout: 60_000 });
    const first = await img.locator('figure').first().evaluate((f) => ({
      width: (f.querySelector('img') as HTMLImageElement).naturalWidth,
      href: f.querySelector('a[download]')?.getAttribute('href') ?? '',
      caption: f.querySelector('figcaption')!.textContent!,
    }));
    expect(first.width).toBe(64);
    expect(first.href.startsWith('data:image/png;base64,')).toBe(true);
    expect(first.caption).toMatch(/seed \d+/);
    const progress = await page.evaluate(() => (window as unknown as { imageProgress: string[] }).imageProgress);
    expect(progress.some((t) => /^Step \d+ of 10/.test(t)), progress.join(' | ')).toBe(true);
    const [fetchCode, sdkCode] = await codePanel();
    expect(fetchCode).toContain("fetch('/inference/v1/image_generation/accounts/fireworks/models/stable-diffusion-xl-1024-v1-0'");
    expect(fetchCode).toContain('"text_prompts"');
    expect(fetchCode).toContain("Accept: 'text/event-stream'");
    expect(sdkCode).toContain('openai.post(');
    await shot('images');

    // Image to image sends multipart with the chosen file; the code panel shows the FormData version.
    await img.locator('#tab-image').click();
    const png = await page.screenshot({ clip: { x: 0, y: 0, width: 96, height: 96 } });
    await img.locator('#file').setInputFiles({ name: 'init.png', mimeType: 'image/png', buffer: png });
    await img.locator('#init-mode').selectOption('STEP_SCHEDULE');
    await img.locator('button.generate').click();
    await img.locator('figure:nth-child(2) img').waitFor({ timeout: 30_000 });
    expect(await img.locator('.error').count()).toBe(0);
    const [formCode, sdkNote] = await codePanel();
    expect(formCode).toContain("form.append('init_image', fileInput.files[0]); // init.png");
    expect(formCode).toContain("form.append('init_image_mode', 'STEP_SCHEDULE');");
    expect(formCode).toContain("form.append('step_schedule_end', '0');");
    expect(formCode).toContain('/stable-diffusion-xl-1024-v1-0/image_to_image');
    expect(sdkNote).toContain('no method');
    await shot('images-image-to-image');

    // ControlNet: choosing a control image shows the canny edges the engine will use.
    await img.locator('#tab-controlnet').click();
    await img.locator('#file').setInputFiles({ name: 'control.png', mimeType: 'image/png', buffer: png });
    await img.locator('img[alt^="Canny edges"]').waitFor({ timeout: 30_000 });
    await shot('images-controlnet');

    // A LoRA adapter and a token: the request carries both, the code panel shows the fields but never the token.
    await img.locator('#tab-text').click();
    await img.locator('details.extras summary').click();
    await img.locator('#lora').fill('hearth/tiny-sdxl-lora');
    await img.locator('#lora-file').fill('kohya_lora.safetensors');
    await img.locator('#hf-key').fill('hf_secret_token');
    await img.locator('#safety').check();
    const before = await img.locator('figure').count();
    await img.locator('button.generate').click();
    await img.locator(`figure:nth-child(${before + 1}) img, figure:nth-child(${before + 1}) .filtered`).first().waitFor({ timeout: 60_000 });
    expect(await img.locator('.error').count()).toBe(0);
    const [loraCode] = await codePanel();
    expect(loraCode).toContain('"lora_adapter_name": "hearth/tiny-sdxl-lora"');
    expect(loraCode).toContain('"safety_check": true');
    expect(loraCode).toContain("'Huggingface-Access-Key': '<your token>'");
    expect(loraCode).not.toContain('hf_secret_token');
    await img.locator('button.generate:enabled').waitFor({ timeout: 30_000 }); // the job has ended, not just its image

    // A model the API does not know: the panel shows the API's error.message.
    await img.evaluate((el: HTMLElement & { model: string; mode: string }) => { el.model = 'no/such-model'; el.mode = 'text'; });
    await img.locator('button.generate').click();
    const error = img.locator('.error[role="alert"]');
    await error.waitFor({ timeout: 15_000 });
    expect(await error.textContent()).toContain('Model "no/such-model" not found');
    expect(await error.textContent()).toContain('HTTP 404');
  });

  it('model manager lists the models and shows byte progress up to 100% for a download from the local server', async () => {
    // A copy of the tiny embedder under distinct URLs (?v=), with sizes and checksums so progress has a total.
    const file = (name: string) => readFileSync(`${ROOT}public/models/hearth-tiny-embed/${name}`);
    const files = [['model', 'model.onnx'], ['tokenizer', 'tokenizer.json'], ['tokenizer_config', 'tokenizer_config.json']].map(([role, name]) => ({
      role, url: `models/hearth-tiny-embed/${name}?v=components-ui`, size: file(name).length, sha256: createHash('sha256').update(file(name)).digest('hex'),
    }));
    const total = files.reduce((s, f) => s + f.size, 0);
    await page.evaluate((files) => {
      const base = window.hearth!.registry.find('hearth/tiny-embed')!;
      window.hearth!.registry.register({ ...base, id: 'test/ui-download', aliases: [], builtIn: false, description: 'UI download test', files } as CatalogEntry);
    }, files);
    await view('models');
    const models = page.locator('hearth-models');
    await models.locator('button.refresh').click();
    const row = models.locator('tr[data-model="test/ui-download"]');
    await row.waitFor({ timeout: 10_000 });
    const ids = await models.locator('tr[data-model]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-model')));
    expect(ids).toEqual(expect.arrayContaining(['hearth/tiny-embed', 'hearth/tiny-embed-cls', 'hearth/tiny-llama', 'hearth/tiny-llama-q4', 'hearth/tiny-llama-tools']));
    expect(await row.locator('td.size').textContent()).toContain('kB');
    expect(await row.locator('.badges').textContent()).toContain('not downloaded');

    // Record every state the progress row goes through.
    await page.evaluate(() => {
      const w = window as unknown as { progressTexts: string[] };
      w.progressTexts = [];
      const root = document.querySelector('hearth-models')!.shadowRoot!;
      new MutationObserver(() => {
        const t = root.querySelector('tr[data-progress="test/ui-download"] .text')?.textContent;
        if (t && w.progressTexts.at(-1) !== t) w.progressTexts.push(t);
      }).observe(root, { subtree: true, childList: true, characterData: true });
    });
    await row.locator('button.download').click();
    const progress = models.locator('tr[data-progress="test/ui-download"]');
    await progress.locator('.text', { hasText: '100%' }).waitFor({ timeout: 20_000 });
    const bar = await progress.locator('progress').evaluate((p: HTMLProgressElement) => ({ value: p.value, max: p.max }));
    expect(bar.max).toBe(total);
    expect(bar.value).toBe(total);
    const texts = await page.evaluate(() => (window as unknown as { progressTexts: string[] }).progressTexts);
    expect(texts.at(-1)).toMatch(/^Downloaded [\d.]+ kB \(100%\) in /);
    // While downloading it showed bytes of the total (each file's progress, then done).
    expect(texts.some((t) => / \/ [\d.]+ kB \(\d+%\)/.test(t)), texts.join(' | ')).toBe(true);
    await row.locator('.badges', { hasText: 'downloaded' }).filter({ hasNotText: 'not downloaded' }).waitFor({ timeout: 10_000 });
    expect(await row.locator('button.delete').isEnabled()).toBe(true);
    expect(await models.locator('.models-bytes').textContent()).not.toBe('0 B');
    expect(await models.locator('.adapter').textContent()).toMatch(/maxStorageBufferBindingSize|no WebGPU|no adapter/);
    await shot('models');

    await models.locator('button.persist').click();
    await models.locator('.card p[role="status"]').waitFor({ timeout: 5_000 });

    await row.locator('button.delete').click();
    await row.locator('.badges', { hasText: 'not downloaded' }).waitFor({ timeout: 10_000 });

    // The LoRA adapter the image panel used (a built-in one, so cached even though a token was given) is listed.
    await models.locator('button.refresh').click();
    await models.locator('.loras', { hasText: 'hearth/tiny-sdxl-lora/kohya_lora.safetensors' }).waitFor({ timeout: 10_000 });
    expect(await models.locator('.loras').textContent()).toMatch(/1 cached, [\d.]+ kB/);
    await models.locator('button.clear-loras').click();
    await models.locator('.loras', { hasText: 'none cached' }).waitFor({ timeout: 10_000 });
  });

  it('no console errors on the page', () => {
    expect(host.errors).toEqual([]);
  });
});
