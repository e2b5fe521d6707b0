#!/usr/bin/env node
// The `pretest` step: finds the Chromium the browser tests drive (CHROMIUM_PATH, then /usr/bin/chromium, then a
// Playwright-installed browser), installs one when none is there (apt-get on Debian as root, else Playwright's
// download), or stops with one line saying how. tests/browser/browser.ts locates it with the same rules.
// The decision is a pure function over the facts (chooseChromium), unit-tested in tests/unit/find-chromium.test.ts.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const HOW = 'set CHROMIUM_PATH to a Chromium binary, or install one: `apt-get install chromium` (Debian, as root) or `npx playwright-core install chromium`';

/** The ID and ID_LIKE words of /etc/os-release (e.g. ['ubuntu', 'debian']). */
export function osIds(osRelease) {
  const ids = [];
  for (const line of osRelease.split('\n')) {
    const m = /^(ID|ID_LIKE)=(.*)$/.exec(line.trim());
    if (m) ids.push(...m[2].replace(/^["']|["']$/g, '').split(/\s+/).filter(Boolean));
  }
  return ids;
}

/**
 * What to do, from the facts: `use` a found binary, `install` one (the command to run), or `stop` (the line to print).
 * facts: { env: CHROMIUM_PATH or undefined, exists(path), playwrightPath (Playwright's Chromium for this
 * playwright-core, installed or not), platform, isRoot, hasApt, osIds, installed (an install was already tried) }.
 */
export function chooseChromium(facts) {
  if (facts.env) {
    return facts.exists(facts.env)
      ? { action: 'use', path: facts.env, source: 'CHROMIUM_PATH' }
      : { action: 'stop', message: `CHROMIUM_PATH=${facts.env} does not exist: point it at a Chromium binary, or unset it to find or install one` };
  }
  if (facts.platform === 'linux' && facts.exists(SYSTEM_CHROMIUM)) return { action: 'use', path: SYSTEM_CHROMIUM, source: 'system' };
  if (facts.playwrightPath && facts.exists(facts.playwrightPath)) return { action: 'use', path: facts.playwrightPath, source: 'playwright' };
  if (facts.installed) return { action: 'stop', message: `No Chromium found after installing one: ${HOW}` };
  // Debian's `chromium` package is the browser itself; Ubuntu's is a snap stub, so Ubuntu gets Playwright's build.
  const debian = facts.osIds.includes('debian') && !facts.osIds.includes('ubuntu');
  if (facts.platform === 'linux' && facts.isRoot && facts.hasApt && debian) {
    return { action: 'install', via: 'apt', commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', 'chromium']] };
  }
  // As root with apt (Ubuntu), Playwright can also install the system libraries its build needs.
  const withDeps = facts.platform === 'linux' && facts.isRoot && facts.hasApt ? ['--with-deps'] : [];
  return { action: 'install', via: 'playwright', commands: [['npx', 'playwright-core', 'install', ...withDeps, 'chromium']] };
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function playwrightChromium() {
  try {
    const { chromium } = await import('playwright-core');
    return chromium.executablePath();
  } catch {
    return undefined;
  }
}

/** The facts of this machine. */
export async function machineFacts(installed = false) {
  let release = '';
  try { release = readFileSync('/etc/os-release', 'utf8'); } catch { /* not Linux, or no os-release */ }
  return {
    env: process.env.CHROMIUM_PATH || undefined,
    exists: (p) => existsSync(p) && executable(p),
    playwrightPath: await playwrightChromium(),
    platform: process.platform,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    hasApt: existsSync('/usr/bin/apt-get'),
    osIds: osIds(release),
    installed,
  };
}

/** The Chromium to launch, or undefined when there is none (no installing here). */
export async function locateChromium() {
  const choice = chooseChromium(await machineFacts());
  return choice.action === 'use' ? choice.path : undefined;
}

async function main() {
  let choice = chooseChromium(await machineFacts());
  if (choice.action === 'install') {
    for (const command of choice.commands) {
      console.log(`No Chromium found; running: ${command.join(' ')}`);
      const r = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (r.status !== 0) break;
    }
    choice = chooseChromium(await machineFacts(true));
  }
  if (choice.action === 'use') {
    console.log(`Chromium for the browser tests: ${choice.path} (${choice.source})`);
    return;
  }
  console.error(choice.action === 'stop' ? choice.message : `No Chromium: ${HOW}`);
  process.exit(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
