#!/usr/bin/env node
/**
 * `npm test`: what the README's test section lists, arranged for a 2-core machine. The type check (`tsc --noEmit`
 * over the tree and the library's declarations, dependency-cruiser: `npm run typecheck`) and the browser tests' builds (tests/browser/build-app.ts: the app,
 * the in-page clients, the library) run while the unit tests do, then the browser tests run against those builds
 * (HEARTH_SKIP_BUILD=1). tsc, dependency-cruiser and much of a Vite build are single-threaded: beside the unit tests
 * they fill the second core instead of waiting their turn. The type check's output is held and printed when it ends,
 * so it does not interleave with the unit tests' report. Any step failing fails the run; the browser tests are not
 * started when the type check, the unit tests or a build failed (as `a && b && c` would not).
 */
import { spawn } from 'node:child_process';
import { runnerImport } from 'vite';

const started = performance.now();
const seconds = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;

/** Runs an npm script; `quiet` holds its output and returns it instead of printing it. */
function npmRun(script, { quiet = false, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', script], {
      stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      env: { ...process.env, ...env },
    });
    let output = '';
    if (quiet) {
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
    }
    child.on('error', (error) => resolve({ code: 1, output: `${output}${String(error)}\n` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

async function buildForBrowserTests() {
  try {
    const { module } = await runnerImport('./tests/browser/build-app.ts');
    await module.buildApp();
    await module.buildLibrary();
    return { code: 0, output: '' };
  } catch (error) {
    return { code: 1, output: `${error instanceof Error ? error.stack ?? error.message : String(error)}\n` };
  }
}

const typecheck = npmRun('typecheck', { quiet: true }).then((r) => {
  process.stdout.write(`\n[npm test] typecheck (tsc --noEmit, library declarations, dependency-cruiser) ${r.code === 0 ? 'passed' : 'FAILED'} after ${seconds()}\n${r.output}`);
  return r;
});
const builds = buildForBrowserTests().then((r) => {
  process.stdout.write(`\n[npm test] browser-test builds ${r.code === 0 ? 'done' : 'FAILED'} after ${seconds()}\n${r.output}`);
  return r;
});
const unit = await npmRun('test:unit');
const before = [['typecheck', await typecheck], ['unit tests', unit], ['browser-test builds', await builds]];
const failed = before.filter(([, r]) => r.code !== 0).map(([name]) => name);
if (failed.length > 0) {
  process.stdout.write(`\n[npm test] FAILED: ${failed.join(', ')} (browser tests not run) after ${seconds()}\n`);
  process.exit(1);
}
const browser = await npmRun('test:browser', { env: { HEARTH_SKIP_BUILD: '1' } });
process.stdout.write(`\n[npm test] ${browser.code === 0 ? 'passed' : 'FAILED: browser tests'} after ${seconds()}\n`);
process.exit(browser.code === 0 ? 0 : 1);
