// Just enough PromQL reading to check the shipped queries against a real Prometheus: the series
// selectors of an expression (`metric{matchers}`), the labels it groups or matches by, and the
// `$labels.x` an alert's annotations print. An alert expression that ends in `> 0` returns nothing
// while all is well, so the scrape test queries each of its selectors instead: each must return
// series, which is what breaks when a metric or a label is renamed.

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** The expression with string literals blanked (same length), so braces and words inside them are not read. */
function blankStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, (m) => m[0] + ' '.repeat(m.length - 2) + m[0]);
}

export interface Selector {
  /** As written: `name{matchers}` or `name`. */
  text: string;
  metric: string;
}

/** Every vector selector of the expression, in order, without repeats. */
export function selectors(expr: string): Selector[] {
  const blank = blankStrings(expr);
  const out: Selector[] = [];
  const seen = new Set<string>();
  const word = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  let m: RegExpExecArray | null;
  let skipUntil = -1;
  while ((m = word.exec(blank))) {
    const start = m.index;
    if (start < skipUntil) continue;
    const name = m[0];
    const prev = blank.slice(0, start).trimEnd();
    // A duration (`10m`, `5m` after offset) or part of a number: the previous character is a digit.
    if (/[0-9.]$/.test(blank.slice(0, start))) continue;
    // Inside a range or subquery `[...]`.
    if (blank.lastIndexOf('[', start) > blank.lastIndexOf(']', start)) continue;
    // Inside a selector's braces: a label name.
    if (blank.lastIndexOf('{', start) > blank.lastIndexOf('}', start)) continue;
    let after = start + name.length;
    while (blank[after] === ' ' || blank[after] === '\n') after++;
    const lower = name.toLowerCase();
    if (LABEL_LIST_KEYWORDS.has(lower)) {
      // Skip the label list `( ... )` that follows.
      if (blank[after] === '(') skipUntil = blank.indexOf(')', after) + 1;
      continue;
    }
    if (KEYWORDS.has(lower)) continue;
    if (blank[after] === '(') continue; // a function or an aggregation
    if (/^(by|without)\b/i.test(blank.slice(after))) continue; // an aggregation: `sum by (x) (...)`
    if (prev.endsWith('$') || prev.endsWith('.')) continue;
    let end = start + name.length;
    if (blank[after] === '{') end = blank.indexOf('}', after) + 1;
    const text = expr.slice(start, end).replace(/\s+/g, ' ');
    word.lastIndex = end;
    if (!seen.has(text)) {
      seen.add(text);
      out.push({ text, metric: name });
    }
  }
  return out;
}

/** Label names in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left (...)`, `group_right (...)`, minus `le`. */
export function groupingLabels(expr: string): string[] {
  const blank = blankStrings(expr);
  const out = new Set<string>();
  for (const m of blank.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g))
    for (const l of m[2]!.split(',').map((s) => s.trim())) if (l && l !== 'le' && m[1] !== 'without') out.add(l);
  return [...out];
}

/** `{{ $labels.x }}` and `{{x}}` (Grafana legends) label names in a template text. */
export function templateLabels(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) out.add(m[1]!);
  for (const m of text.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) out.add(m[1]!);
  return [...out];
}
