// Types for scripts/find-chromium.mjs (imported by tests/browser/browser.ts and tests/unit/find-chromium.test.ts).
export const SYSTEM_CHROMIUM: string;
export interface ChromiumFacts {
  /** CHROMIUM_PATH, when set. */
  env?: string;
  /** Whether an executable file is at the path. */
  exists(path: string): boolean;
  /** Where playwright-core's own Chromium would be (installed or not). */
  playwrightPath?: string;
  platform: string;
  isRoot: boolean;
  hasApt: boolean;
  /** ID and ID_LIKE of /etc/os-release. */
  osIds: string[];
  /** An install was already tried. */
  installed: boolean;
}
export type ChromiumChoice =
  | { action: 'use'; path: string; source: 'CHROMIUM_PATH' | 'system' | 'playwright' }
  | { action: 'install'; via: 'apt' | 'playwright'; commands: string[][] }
  | { action: 'stop'; message: string };
export function osIds(osRelease: string): string[];
export function chooseChromium(facts: ChromiumFacts): ChromiumChoice;
export function machineFacts(installed?: boolean): Promise<ChromiumFacts>;
export function locateChromium(): Promise<string | undefined>;
