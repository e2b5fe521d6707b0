// The pretest step's decision (scripts/find-chromium.mjs): which Chromium the browser tests use, when and how one is
// installed, and the one line printed when neither works — a pure function over the machine's facts (no apt here).
import { describe, expect, it } from 'vitest';
import { chooseChromium, osIds, SYSTEM_CHROMIUM, type ChromiumFacts } from '../../scripts/find-chromium.mjs';

const PLAYWRIGHT = '/home/u/.cache/ms-playwright/chromium-1/chrome-linux64/chrome';
const DEBIAN = osIds('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
const UBUNTU = osIds('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n');

function facts(present: string[], more: Partial<ChromiumFacts> = {}): ChromiumFacts {
  return {
    exists: (p) => present.includes(p), playwrightPath: PLAYWRIGHT, platform: 'linux', isRoot: false, hasApt: true,
    osIds: DEBIAN, installed: false, ...more,
  };
}

describe('chooseChromium', () => {
  it('CHROMIUM_PATH wins over everything, and a wrong one stops with a line naming it', () => {
    expect(chooseChromium(facts(['/opt/c', SYSTEM_CHROMIUM, PLAYWRIGHT], { env: '/opt/c' }))).toEqual({ action: 'use', path: '/opt/c', source: 'CHROMIUM_PATH' });
    const wrong = chooseChromium(facts([SYSTEM_CHROMIUM], { env: '/opt/missing' }));
    expect(wrong.action).toBe('stop');
    expect(wrong.action === 'stop' && wrong.message).toMatch(/^CHROMIUM_PATH=\/opt\/missing does not exist/);
  });

  it('then /usr/bin/chromium on Linux, then the Playwright-installed browser', () => {
    expect(chooseChromium(facts([SYSTEM_CHROMIUM, PLAYWRIGHT]))).toEqual({ action: 'use', path: SYSTEM_CHROMIUM, source: 'system' });
    expect(chooseChromium(facts([PLAYWRIGHT]))).toEqual({ action: 'use', path: PLAYWRIGHT, source: 'playwright' });
    expect(chooseChromium(facts([SYSTEM_CHROMIUM, PLAYWRIGHT], { platform: 'darwin' }))).toMatchObject({ source: 'playwright' });
  });

  it('installs with apt-get as root on Debian with apt', () => {
    expect(chooseChromium(facts([], { isRoot: true }))).toEqual({
      action: 'install', via: 'apt', commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', 'chromium']],
    });
  });

  it("else with Playwright's download: not root, no apt, Ubuntu (whose chromium package is a snap stub), macOS", () => {
    const playwright = { action: 'install', via: 'playwright', commands: [['npx', 'playwright-core', 'install', 'chromium']] };
    expect(chooseChromium(facts([]))).toEqual(playwright);
    expect(chooseChromium(facts([], { isRoot: true, hasApt: false }))).toEqual(playwright);
    // As root with apt, Playwright installs the libraries its build needs too.
    expect(chooseChromium(facts([], { isRoot: true, osIds: UBUNTU }))).toEqual({
      ...playwright, commands: [['npx', 'playwright-core', 'install', '--with-deps', 'chromium']],
    });
    expect(chooseChromium(facts([], { isRoot: true, platform: 'darwin', osIds: [] }))).toEqual(playwright);
  });

  it('after an install that left no browser: stops with one line saying how', () => {
    const after = chooseChromium(facts([], { installed: true, isRoot: true }));
    expect(after.action).toBe('stop');
    if (after.action === 'stop') {
      expect(after.message).not.toContain('\n');
      expect(after.message).toContain('CHROMIUM_PATH');
      expect(after.message).toContain('npx playwright-core install chromium');
    }
    // …but finds what the install put there.
    expect(chooseChromium(facts([PLAYWRIGHT], { installed: true }))).toMatchObject({ action: 'use', source: 'playwright' });
  });
});

describe('osIds', () => {
  it('reads ID and ID_LIKE, quoted or not', () => {
    expect(DEBIAN).toEqual(['debian']);
    expect(UBUNTU).toEqual(['ubuntu', 'debian']);
    expect(osIds('ID="rhel"\nID_LIKE="fedora centos"\n')).toEqual(['rhel', 'fedora', 'centos']);
    expect(osIds('')).toEqual([]);
  });
});
