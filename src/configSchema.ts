// The machinery of the config schema (src/config.ts holds the schema itself). Each field reads one
// key from its sources, checks it, and describes it for docs/CONFIGURATION.md and --help; its TypeScript type
// is what it returns, so the config's type is `ValueOf<typeof SCHEMA>` and never written twice.
// A field that finds a problem records it (naming the key, the bad value, what is allowed and where
// the value came from) and returns its default; the loader throws when any problem was recorded.
import { existsSync, statSync } from 'node:fs';

export type ConfigPurpose = 'serve' | 'policies';
export type Check = (value: string) => string | undefined;

type Origin = { kind: 'file'; file: string } | { kind: 'env'; name: string } | { kind: 'flag'; name: string };

export interface KeyDoc {
  key: string;
  env?: string;
  flag?: string;
  default: string;
  doc: string;
}

/** What one load reads from, and where it collects problems. */
export interface Sources {
  problems: string[];
  fileLabel: string;
  env: Record<string, string | undefined>;
  flags: Record<string, string | number | undefined>;
  /** Config key -> the flag that sets it. */
  flagNames: Record<string, string>;
  checkFiles: boolean;
  purpose: ConfigPurpose;
}

/** Where a field is read: its key, the file's value there, and whether only the file may set it. */
export interface Place {
  key: string;
  fileValue: unknown;
  fileOnly: boolean;
}

export interface Field<T> {
  resolve(place: Place, src: Sources): T;
  describe(key: string, fileOnly: boolean, flagNames: Record<string, string>, out: KeyDoc[]): void;
}

export type ValueOf<F> = F extends Field<infer T> ? T : never;
type Fields = Record<string, Field<unknown>>;
type ValuesOf<F extends Fields> = { [K in keyof F]: ValueOf<F[K]> };

/** The environment variable for a key: `tls.clientCAFile` -> TG_TLS_CLIENT_CA_FILE. */
export function envNameFor(path: string): string {
  const words = path
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[.-]/g, '_');
  return `TG_${words.toUpperCase()}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] ?? 0;
      prev[j] = Math.min((prev[j] ?? 0) + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] ?? 0;
}

/** ` (did you mean "x"?)` when a candidate is close enough, else ''. */
export function didYouMean(input: string, candidates: readonly string[]): string {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_.]/g, '');
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = norm(c) === norm(input) ? 0 : levenshtein(input.toLowerCase(), c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== undefined && bestScore <= limit ? ` (did you mean "${best}"?)` : '';
}

function originText(o: Origin): string {
  switch (o.kind) {
    case 'file':
      return ` (in ${o.file})`;
    case 'env':
      return ` (from env ${o.name})`;
    case 'flag':
      return ` (from flag ${o.name})`;
  }
}

export function inFile(src: Sources): string {
  return originText({ kind: 'file', file: src.fileLabel });
}

interface Raw {
  raw: unknown;
  origin: Origin;
}

/** The value in force for a key: flag, then env, then file. */
function pick(place: Place, src: Sources): Raw | undefined {
  if (!place.fileOnly) {
    const flag = src.flagNames[place.key];
    const flagValue = src.flags[place.key] ?? (flag !== undefined ? src.flags[flag] : undefined);
    if (flagValue !== undefined)
      return { raw: typeof flagValue === 'number' ? String(flagValue) : flagValue, origin: { kind: 'flag', name: flag ?? place.key } };
    const envName = envNameFor(place.key);
    const envValue = src.env[envName];
    if (envValue !== undefined && envValue !== '') return { raw: envValue, origin: { kind: 'env', name: envName } };
  }
  if (place.fileValue !== undefined && place.fileValue !== null) return { raw: place.fileValue, origin: { kind: 'file', file: src.fileLabel } };
  return undefined;
}

function reject(place: Place, src: Sources, found: Raw, allowed: string): undefined {
  src.problems.push(`config: ${place.key}: ${show(found.raw)} is not ${allowed}${originText(found.origin)}`);
  return undefined;
}

function leaf<T>(doc: string, defaultText: string, resolve: (place: Place, src: Sources, found: Raw | undefined) => T): Field<T> {
  return {
    resolve: (place, src) => resolve(place, src, pick(place, src)),
    describe(key, fileOnly, flagNames, out) {
      const d: KeyDoc = { key, default: defaultText, doc };
      if (!fileOnly) d.env = envNameFor(key);
      const flag = flagNames[key];
      if (flag !== undefined) d.flag = flag;
      out.push(d);
    },
  };
}

interface StrOptions {
  doc?: string;
  check?: Check;
  file?: boolean;
  allowEmpty?: boolean;
}

function readStr(o: StrOptions, place: Place, src: Sources, found: Raw | undefined): string | undefined {
  if (found === undefined) return undefined;
  const { raw } = found;
  if (typeof raw !== 'string' || (raw === '' && !o.allowEmpty)) return reject(place, src, found, 'a non-empty string');
  const problem = o.check?.(raw);
  if (problem) return reject(place, src, found, problem);
  if (o.file && src.checkFiles) {
    if (!existsSync(raw)) return reject(place, src, found, 'an existing file (no such file)');
    if (!statSync(raw).isFile()) return reject(place, src, found, 'a regular file');
  }
  return raw;
}

function requiredProblem(place: Place, src: Sources, what: string): string {
  if (place.fileOnly) return `config: ${place.key}: is required${what ? `: ${what}` : ''}${inFile(src)}`;
  const flag = src.flagNames[place.key];
  return `config: ${place.key}: is required: ${what}; set it in the config file, env ${envNameFor(place.key)}${flag !== undefined ? ` or flag ${flag}` : ''}`;
}

/** A string with a default. */
export function str(o: StrOptions & { def: string }): Field<string> {
  return leaf(o.doc ?? '', o.def, (place, src, found) => readStr(o, place, src, found) ?? o.def);
}

/** A string every load needs (`required` says what it is). */
export function requiredStr(o: StrOptions & { required?: string }): Field<string> {
  return leaf(o.doc ?? '', '(required)', (place, src, found) => {
    if (found === undefined) src.problems.push(requiredProblem(place, src, o.required ?? ''));
    return readStr(o, place, src, found) ?? '';
  });
}

/** A string that may be unset; `requiredToServe` makes `serve` (only) insist on it. */
export function optionalStr(o: StrOptions & { requiredToServe?: string }): Field<string | undefined> {
  return leaf(o.doc ?? '', o.requiredToServe !== undefined ? '(required)' : '(unset)', (place, src, found) => {
    if (found === undefined && o.requiredToServe !== undefined && src.purpose === 'serve') src.problems.push(requiredProblem(place, src, o.requiredToServe));
    return readStr(o, place, src, found);
  });
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(values: readonly T[], o: { def: NoInfer<T>; doc: string }): Field<T> {
  return leaf(o.doc, o.def, (place, src, found) => {
    if (found === undefined) return o.def;
    const match = values.find((v) => v === found.raw);
    if (match !== undefined) return match;
    const hint = typeof found.raw === 'string' ? didYouMean(found.raw, values) : '';
    reject(place, src, found, `one of ${values.join(', ')}${hint}`);
    return o.def;
  });
}

/** An integer in [min, max]; a quoted number in the file is a string, not an integer. */
export function int(o: { def: number; min: number; max: number; unit?: string; doc: string }): Field<number> {
  return leaf(o.doc, String(o.def), (place, src, found) => {
    if (found === undefined) return o.def;
    const allowed = `an integer between ${o.min} and ${o.max}${o.unit ? ` (${o.unit})` : ''}`;
    const { raw } = found;
    const fromText = found.origin.kind !== 'file';
    const n = typeof raw === 'number' ? raw : fromText && typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < o.min || n > o.max) {
      reject(place, src, found, allowed);
      return o.def;
    }
    return n;
  });
}

/** true or false; without a default the key is required. */
export function bool(o: { def?: boolean; doc?: string }): Field<boolean> {
  return leaf(o.doc ?? '', o.def === undefined ? '(required)' : String(o.def), (place, src, found) => {
    if (found === undefined) {
      if (o.def === undefined) src.problems.push(requiredProblem(place, src, 'true or false'));
      return o.def ?? false;
    }
    if (typeof found.raw === 'boolean') return found.raw;
    reject(place, src, found, 'true or false');
    return o.def ?? false;
  });
}

/** A list of strings (comma-separated in env and flags). */
export function list(o: { def: string[]; check?: Check; doc: string }): Field<string[]> {
  return leaf(o.doc, o.def.length ? o.def.join(',') : '[]', (place, src, found) => {
    if (found === undefined) return [...o.def];
    const { raw } = found;
    const items: unknown[] | undefined =
      typeof raw === 'string'
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : Array.isArray(raw)
          ? raw
          : undefined;
    if (items === undefined) {
      reject(place, src, found, 'a list of strings (comma-separated in env and flags)');
      return [...o.def];
    }
    const out: string[] = [];
    items.forEach((item, i) => {
      const at = { ...place, key: `${place.key}[${i}]` };
      const value = readStr({ ...(o.check ? { check: o.check } : {}) }, at, src, { raw: item, origin: found.origin });
      if (value !== undefined) out.push(value);
    });
    return out;
  });
}

function checkMapping(names: string[], place: Place, src: Sources): Record<string, unknown> | undefined {
  const value = place.fileValue;
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    src.problems.push(`config: ${place.key || '(top level)'}: ${show(value)} is not a mapping; expected keys ${names.join(', ')}${inFile(src)}`);
    return undefined;
  }
  for (const k of Object.keys(value)) {
    if (names.includes(k)) continue;
    src.problems.push(`config: ${place.key ? `${place.key}.` : ''}${k}: unknown key${didYouMean(k, names)}; allowed here: ${names.join(', ')}${inFile(src)}`);
  }
  return value;
}

/** A mapping of named fields; unknown keys are problems. `required`: the mapping must be present (file only). */
export function obj<F extends Fields>(fields: F, o: { required?: boolean } = {}): Field<ValuesOf<F>> & { fields: F } {
  const names = Object.keys(fields);
  return {
    fields,
    resolve(place, src) {
      const mapping = checkMapping(names, place, src);
      const absent = place.fileValue === undefined || place.fileValue === null;
      if (absent && o.required === true) src.problems.push(requiredProblem(place, src, `{${names.join(', ')}}`));
      // A missing or malformed mapping is one problem, not one more per field inside it.
      const quiet = (absent && o.required === true) || (!absent && mapping === undefined && place.fileOnly);
      const into = quiet ? { ...src, problems: [] } : src;
      const out: Record<string, unknown> = {};
      for (const name of names) {
        const key = place.key ? `${place.key}.${name}` : name;
        out[name] = fields[name]?.resolve({ key, fileValue: mapping?.[name], fileOnly: place.fileOnly }, into);
      }
      // Each property was produced by the field of the same name, so it has that field's type;
      // this is the one place the compiler cannot follow that by itself.
      return out as ValuesOf<F>;
    },
    describe(key, fileOnly, flagNames, out) {
      for (const name of names) fields[name]?.describe(key ? `${key}.${name}` : name, fileOnly, flagNames, out);
    },
  };
}

export interface ItemProblem {
  key: string;
  problem: string;
}

/**
 * A list of mappings, set in the file only. Items with a problem are left out (the load fails anyway);
 * `check` sees every item, for rules across items such as duplicates.
 */
export function listOf<T>(item: Field<T>, o: { what: string; doc: string; check?: (items: { key: string; value: T }[]) => ItemProblem[] }): Field<T[]> {
  return {
    resolve(place, src) {
      const raw = place.fileValue;
      if (raw === undefined || raw === null) return [];
      if (!Array.isArray(raw)) {
        src.problems.push(`config: ${place.key}: ${show(raw)} is not a list of ${o.what}${inFile(src)}`);
        return [];
      }
      const all = raw.map((fileValue: unknown, i) => {
        const key = `${place.key}[${i}]`;
        const before = src.problems.length;
        const value = item.resolve({ key, fileValue, fileOnly: true }, src);
        return { key, value, ok: src.problems.length === before };
      });
      for (const p of o.check?.(all) ?? []) src.problems.push(`config: ${p.key}: ${p.problem}${inFile(src)}`);
      return all.filter((i) => i.ok).map((i) => i.value);
    },
    describe(key, _fileOnly, _flagNames, out) {
      out.push({ key, default: '[]', doc: o.doc });
    },
  };
}
