/**
 * Model name patterns (`accounts/fireworks/models/*`): `*` matches any run of characters, everything else itself.
 */
export function matchesModel(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => patternRegExp(p).test(name));
}

const cache = new Map<string, RegExp>();
function patternRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    cache.set(pattern, re);
  }
  return re;
}

/** The names a pattern list spells out in full (no `*`): what can be listed without asking the remote. */
export const literalNames = (patterns: readonly string[]) => patterns.filter((p) => !p.includes('*'));
