// Matches string label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) against labels, so that
// configured controller selectors mean the same here as they do to the API server.

type Requirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

export class LabelSelectorError extends Error {
  override readonly name = 'LabelSelectorError';
}

export function parseLabelSelector(selector: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { parts.push(current); current = ''; continue; }
    current += ch;
  }
  if (current.trim() !== '' || parts.length > 0) parts.push(current);
  return parts.map((raw) => parseRequirement(raw.trim(), selector));
}

function parseRequirement(raw: string, selector: string): Requirement {
  const setMatch = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(raw);
  if (setMatch) {
    const [, key = '', op, list = ''] = setMatch;
    return { op: op === 'in' ? 'in' : 'notin', key, values: list.split(',').map((v) => v.trim()).filter((v) => v !== '') };
  }
  const eqMatch = /^([\w./-]+)\s*(!=|==|=)\s*([\w.-]*)$/.exec(raw);
  if (eqMatch) {
    const [, key = '', op, value = ''] = eqMatch;
    return { op: op === '!=' ? 'neq' : 'eq', key, value };
  }
  if (/^![\w./-]+$/.test(raw)) return { op: 'notexists', key: raw.slice(1) };
  if (/^[\w./-]+$/.test(raw)) return { op: 'exists', key: raw };
  throw new LabelSelectorError(`label selector "${selector}": cannot parse "${raw}"`);
}

export function matchesLabelSelector(requirements: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'eq': return has && l[r.key] === r.value;
      case 'neq': return !has || l[r.key] !== r.value;
      case 'in': return has && r.values.includes(l[r.key] as string);
      case 'notin': return !has || !r.values.includes(l[r.key] as string);
      case 'exists': return has;
      case 'notexists': return !has;
    }
  });
}
