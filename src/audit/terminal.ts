// Text from an audit log (user names, user agents, URIs, bad lines, file names) reaches the
// human and Markdown reports and stderr. Control characters in it could move the cursor, recolour
// or clear the terminal, or forge report lines (src/audit/README.md, "Safe output"), so they are
// shown escaped instead.

// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeOne(ch: string): string {
  const code = ch.charCodeAt(0);
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `s` with every terminal control character written as a visible escape (`\x1b`, `\n`, `\u202e`). */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, escapeOne);
}

/** A deep copy of `v` with escapeControls applied to every string (keys included). */
export function escapeDeep<T>(v: T): T {
  if (typeof v === 'string') return escapeControls(v) as T;
  if (Array.isArray(v)) return v.map((x: unknown) => escapeDeep(x)) as T;
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[escapeControls(k)] = escapeDeep(x);
    return out as T;
  }
  return v;
}
