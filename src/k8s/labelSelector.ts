// Kubernetes label selectors (the string form used in `?labelSelector=`): parsing into requirements,
// matching labels, and a canonical form so two spellings of one selector share one cache.

export class LabelSelectorError extends Error {
  override readonly name = 'LabelSelectorError';
}

export type Requirement = { key: string; op: 'exists' | 'notexists' } | { key: string; op: 'in' | 'notin'; values: string[] };

/** Splits on commas that are not inside a `( ... )` value set. */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const EXISTS = new RegExp(String.raw`^(!?)\s*(${KEY})$`);

/** Parses a selector; throws on syntax it does not understand. "" selects everything. */
export function parseLabelSelector(selector: string): Requirement[] {
  return splitTopLevel(selector).map((part): Requirement => {
    let m = EQUALITY.exec(part);
    if (m?.[1] !== undefined && m[3] !== undefined) {
      return { key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] };
    }
    m = SET.exec(part);
    if (m?.[1] !== undefined && m[3] !== undefined) {
      const values = m[3]
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0);
      return { key: m[1], op: m[2] === 'notin' ? 'notin' : 'in', values: [...new Set(values)].sort() };
    }
    m = EXISTS.exec(part);
    if (m?.[2] !== undefined) return { key: m[2], op: m[1] === '!' ? 'notexists' : 'exists' };
    throw new LabelSelectorError(`label selector "${selector}": cannot parse "${part}"`);
  });
}

/**
 * `compute` kept per selector string, for the few selectors the registry and the config name,
 * asked for on every review that reads a controller's Deployments. Bounded all the same: a
 * selector from elsewhere cannot grow it. A selector that throws is not kept.
 */
function perSelector<T>(compute: (selector: string) => T): (selector: string) => T {
  const kept = new Map<string, T>();
  return (selector) => {
    if (kept.has(selector)) return kept.get(selector) as T;
    const value = compute(selector);
    if (kept.size >= 256) kept.clear();
    kept.set(selector, value);
    return value;
  };
}

/** parseLabelSelector, once per selector string. Callers must not change what it returns. */
export const parsedLabelSelector: (selector: string) => readonly Requirement[] = perSelector(parseLabelSelector);

/** Whether `labels` satisfy every requirement (`notin` also matches a missing key, as in Kubernetes). */
export function matchesLabelSelector(requirements: readonly Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && r.values.includes(l[r.key] ?? '');
      case 'notin':
        return !has || !r.values.includes(l[r.key] ?? '');
    }
  });
}

/** One spelling per selector: requirements sorted, `==` as `=`, set values sorted; once per selector string. */
export const canonicalLabelSelector = perSelector((selector: string): string =>
  parsedLabelSelector(selector)
    .map((r) => {
      switch (r.op) {
        case 'exists':
          return r.key;
        case 'notexists':
          return `!${r.key}`;
        case 'in':
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
      }
    })
    .sort()
    .join(','),
);

/** A metav1.LabelSelector (matchLabels, matchExpressions), as webhooks' namespaceSelector carries it. */
export interface StructuredLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** The requirements of a structured selector; undefined for an operator Kubernetes does not define. */
export function requirementsOf(selector: StructuredLabelSelector | undefined): Requirement[] | undefined {
  const out: Requirement[] = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => ({ key, op: 'in', values: [value] }));
  for (const e of selector?.matchExpressions ?? []) {
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: 'notexists' } as const)[e.operator as 'In'];
    if (op === undefined) return undefined;
    out.push(op === 'in' || op === 'notin' ? { key: e.key, op, values: e.values ?? [] } : { key: e.key, op });
  }
  return out;
}
