// Typed, validated configuration for `teardown-guard serve`.
//
// Sources, highest precedence first: command-line flags > environment (TG_*) > YAML file
// (--config) > defaults. Every key is described once in SCHEMA below; the environment variable
// name is derived from the key (`liveLookup.timeoutMs` -> TG_LIVE_LOOKUP_TIMEOUT_MS).
// Every error names the key, the bad value and what is allowed; unknown keys are errors too.
import { DEFAULT_STALE_UNINSTALLING_AFTER_MS } from './policies/releaseActivity.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { Mode, UndecidedAction } from './admission/modes.ts';
import { LabelSelectorError, parseLabelSelector } from './k8s/labelSelector.ts';
import type { ResourceType } from './k8s/types.ts';
import { BUILTIN_FINALIZER_GUARDS, FinalizerRegistry } from './registry/finalizerRegistry.ts';
import type { FinalizerGuard, PolicySettings } from './policies/settings.ts';
import { POLICY_NAMES, type PolicyName } from './policies/types.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const MODE_VALUES: readonly Mode[] = ['enforce', 'warn', 'audit', 'off'];
const UNDECIDED_VALUES: readonly UndecidedAction[] = ['allow', 'deny'];

/** The API server's webhook timeout the manifests register (timeoutSeconds: 5). */
export const WEBHOOK_TIMEOUT_MS = 5000;
const MiB = 1024 * 1024;
/** Two 1.5 MiB objects (oldObject + object on an UPDATE) plus the AdmissionReview envelope. */
export const MIN_BODY_BYTES = 3 * MiB;
export const DEFAULT_BODY_BYTES = 4 * MiB;

/** Always exempt, whatever the config says (ARCHITECTURE.md §4, invariant 6). */
export const ALWAYS_EXEMPT_USERS: readonly string[] = [
  'system:serviceaccount:kube-system:namespace-controller',
  'system:serviceaccount:kube-system:generic-garbage-collector',
];

export interface JwtAuthConfig {
  jwksUrl?: string;
  jwksFile?: string;
  issuer: string;
  audience: string[];
}

export interface Config {
  listen: { host: string; port: number };
  tls: { certFile: string; keyFile: string; clientCAFile?: string; pollIntervalMs: number };
  /** Path to a kubeconfig; undefined means client-node's loadFromDefault ($KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  guardNamespace: string;
  policies: Record<PolicyName, { mode: Mode }>;
  undecided: UndecidedAction;
  liveLookup: { timeoutMs: number; concurrency: number };
  /** Effective list: kube-system, guardNamespace, then the configured extras. */
  exemptNamespaces: string[];
  /** Effective list: the namespace controller and the garbage collector, then the configured extras. */
  exemptUsers: string[];
  breakGlassAnnotation: string;
  /** Age after which a release record still saying `uninstalling` is a failed uninstall, not a running one. */
  staleUninstallingAfterMs: number;
  /** Configured guards only; the built-in OLM guard is added by policySettings(). */
  finalizerGuards: FinalizerGuard[];
  audit: { jwt?: JwtAuthConfig; maxQueueEvents: number; windowMs: number; maxBodyBytes: number };
  log: { level: LogLevel };
  maxBodyBytes: number;
  shutdown: { delayMs: number; drainTimeoutMs: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema

type Check = (value: string) => string | undefined;

/** `serveOnly`: required by `serve` only; the commands that read policy settings (check, diagnose, review) do not need it. */
interface StrLeaf { t: 'str'; def?: string; required?: string; serveOnly?: boolean; allowed?: readonly string[]; check?: Check; file?: boolean; doc: string }
interface IntLeaf { t: 'int'; def: number; min: number; max: number; unit?: string; doc: string }
interface ListLeaf { t: 'list'; def: string[]; check?: Check; doc: string }
interface GuardsLeaf { t: 'guards'; doc: string }
type Leaf = StrLeaf | IntLeaf | ListLeaf | GuardsLeaf;
interface Node { t: 'obj'; fields: Record<string, Spec> }
type Spec = Leaf | Node;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;

const checkDnsLabel: Check = (v) => (DNS_LABEL.test(v) ? undefined : 'a namespace name (RFC 1123 label: lower-case alphanumerics and "-", at most 63 characters)');

/** Annotation/label/finalizer key: optional DNS-subdomain prefix, "/", qualified name. */
const checkQualifiedKey: Check = (v) => {
  const slash = v.lastIndexOf('/');
  const prefix = slash >= 0 ? v.slice(0, slash) : undefined;
  const name = slash >= 0 ? v.slice(slash + 1) : v;
  if (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix)) return 'a qualified key: optional DNS-subdomain prefix, "/", name (e.g. teardown-guard.io/break-glass)';
  return QUALIFIED_NAME.test(name) ? undefined : 'a qualified key: optional DNS-subdomain prefix, "/", name of at most 63 alphanumerics, "-", "_" or "." (e.g. teardown-guard.io/break-glass)';
};

const checkHost: Check = (v) => (isIP(v) !== 0 || DNS_SUBDOMAIN.test(v) ? undefined : 'an IP address or host name (0.0.0.0 listens on every IPv4 address, :: on every address)');

const checkUrl: Check = (v) => {
  let url: URL;
  try { url = new URL(v); } catch { return 'an absolute https:// URL'; }
  if (url.protocol === 'https:') return undefined;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  return url.protocol === 'http:' && loopback ? undefined : 'an https:// URL (plain http is accepted for loopback hosts only)';
};

const checkUser: Check = (v) => (v.trim() === v && v !== '' ? undefined : 'a user name without surrounding spaces (e.g. system:serviceaccount:NS:NAME)');

const SCHEMA: Node = {
  t: 'obj',
  fields: {
    listen: {
      t: 'obj',
      fields: {
        host: { t: 'str', def: '0.0.0.0', check: checkHost, doc: 'Address the HTTPS server binds.' },
        port: { t: 'int', def: 8443, min: 0, max: 65535, doc: 'HTTPS port (the Service maps 443 to it; 0 picks a free port).' },
      },
    },
    tls: {
      t: 'obj',
      fields: {
        certFile: { t: 'str', required: 'the PEM serving certificate (chain) the webhook presents', serveOnly: true, file: true, doc: 'PEM serving certificate; reloaded when the file changes.' },
        keyFile: { t: 'str', required: 'the PEM private key of tls.certFile', serveOnly: true, file: true, doc: 'PEM private key; reloaded with certFile.' },
        clientCAFile: { t: 'str', file: true, doc: 'PEM CA bundle that client certificates on POST /audit must chain to (mTLS). Unset: no client certificates are requested.' },
        pollIntervalMs: { t: 'int', def: 10_000, min: 500, max: 600_000, unit: 'ms', doc: 'Poll interval that backs up fs.watch for certificate changes.' },
      },
    },
    kubeconfig: { t: 'str', file: true, doc: 'kubeconfig path. Unset: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.' },
    guardNamespace: { t: 'str', def: 'teardown-guard', check: checkDnsLabel, doc: "The guard's own namespace (always exempt)." },
    policies: {
      t: 'obj',
      fields: Object.fromEntries(POLICY_NAMES.map((name): [string, Spec] => [name, {
        t: 'obj',
        fields: { mode: { t: 'str', def: name === 'olm-orphaned-finalizers' ? 'enforce' : 'warn', allowed: MODE_VALUES, doc: `Mode of ${name}.` } },
      }])),
    },
    undecided: { t: 'str', def: 'allow', allowed: UNDECIDED_VALUES, doc: 'What an undecided policy means: allow (with a warning) or deny.' },
    liveLookup: {
      t: 'obj',
      fields: {
        timeoutMs: { t: 'int', def: 1500, min: 50, max: WEBHOOK_TIMEOUT_MS - 1000, unit: 'ms', doc: 'Budget for live look-ups in one review; must leave headroom under the 5 s webhook timeout.' },
        concurrency: { t: 'int', def: 8, min: 1, max: 64, doc: 'Concurrent live GETs per review.' },
      },
    },
    exemptNamespaces: { t: 'list', def: [], check: checkDnsLabel, doc: 'Extra namespaces whose deletion is never denied (kube-system and guardNamespace always are).' },
    exemptUsers: { t: 'list', def: [], check: checkUser, doc: 'Extra users the policies never flag (namespace controller and garbage collector always).' },
    breakGlassAnnotation: { t: 'str', def: 'teardown-guard.io/break-glass', check: checkQualifiedKey, doc: 'Annotation on the object being deleted that overrides a denial; its value is the reason.' },
    staleUninstallingAfterMs: { t: 'int', def: DEFAULT_STALE_UNINSTALLING_AFTER_MS, min: 60_000, max: 30 * 86_400_000, unit: 'ms', doc: 'A release record saying "uninstalling" for longer than this (Helm\'s modifiedAt label) is a failed uninstall, not one running now.' },
    finalizerGuards: { t: 'guards', doc: 'Extra guarded finalizers (the OLM csv-cleanup guard is built in); file only.' },
    audit: {
      t: 'obj',
      fields: {
        jwt: {
          t: 'obj',
          fields: {
            jwksUrl: { t: 'str', check: checkUrl, doc: 'JWKS URL for bearer tokens on POST /audit.' },
            jwksFile: { t: 'str', file: true, doc: 'Local JWKS file (alternative to jwksUrl).' },
            issuer: { t: 'str', doc: 'Required "iss" of audit bearer tokens.' },
            audience: { t: 'list', def: [], doc: 'Accepted "aud" values of audit bearer tokens (comma-separated in env/flags).' },
          },
        },
        maxQueueEvents: { t: 'int', def: 100_000, min: 1, max: 10_000_000, doc: 'Audit events buffered before new ones are dropped (and counted).' },
        windowMs: { t: 'int', def: 120_000, min: 1000, max: 86_400_000, unit: 'ms', doc: 'Correlation window of the audit reviewer (uninstall sessions).' },
        maxBodyBytes: { t: 'int', def: 16 * MiB, min: 64 * 1024, max: 256 * MiB, unit: 'bytes', doc: 'Largest accepted POST /audit body (an EventList batch).' },
      },
    },
    log: {
      t: 'obj',
      fields: { level: { t: 'str', def: 'info', allowed: LOG_LEVELS, doc: 'pino log level.' } },
    },
    maxBodyBytes: { t: 'int', def: DEFAULT_BODY_BYTES, min: MIN_BODY_BYTES, max: 64 * MiB, unit: 'bytes', doc: 'Largest accepted POST /validate body; must fit oldObject + object of 1.5 MiB each.' },
    shutdown: {
      t: 'obj',
      fields: {
        delayMs: { t: 'int', def: 3000, min: 0, max: 60_000, unit: 'ms', doc: 'After SIGTERM, keep serving (with /readyz failing) this long so endpoints drop the pod first.' },
        drainTimeoutMs: { t: 'int', def: 10_000, min: 0, max: 120_000, unit: 'ms', doc: 'Then wait at most this long for in-flight requests before closing connections.' },
      },
    },
  },
};

/** The environment variable for a key: `tls.clientCAFile` -> TG_TLS_CLIENT_CA_FILE. */
export function envNameFor(path: string): string {
  const words = path
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[.-]/g, '_');
  return `TG_${words.toUpperCase()}`;
}

/** Command-line flags of `serve` that set config keys. */
export const FLAG_KEYS: Readonly<Record<string, string>> = {
  '--host': 'listen.host',
  '--port': 'listen.port',
  '--tls-cert-file': 'tls.certFile',
  '--tls-key-file': 'tls.keyFile',
  '--kubeconfig': 'kubeconfig',
  '--log-level': 'log.level',
};

/** Environment variables that are not config keys but legitimately carry the TG_ prefix. */
const FOREIGN_TG_ENV = new Set(['TG_NODE_VERSION', 'TG_CACHE_DIR']);

export interface KeyDoc { key: string; env?: string; flag?: string; default: string; doc: string }

function describeDefault(leaf: Leaf): string {
  switch (leaf.t) {
    case 'str': return leaf.def ?? (leaf.required ? '(required)' : '(unset)');
    case 'int': return String(leaf.def);
    case 'list': return leaf.def.length ? leaf.def.join(',') : '[]';
    case 'guards': return '[]';
  }
}

/** Every key with its env var, flag, default and description (used for docs and --help). */
export function describeConfigKeys(): KeyDoc[] {
  const out: KeyDoc[] = [];
  const flags = Object.fromEntries(Object.entries(FLAG_KEYS).map(([f, k]) => [k, f]));
  const walk = (node: Node, prefix: string): void => {
    for (const [name, spec] of Object.entries(node.fields)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (spec.t === 'obj') { walk(spec, key); continue; }
      const doc: KeyDoc = { key, default: describeDefault(spec), doc: spec.doc };
      if (spec.t !== 'guards') doc.env = envNameFor(key);
      if (flags[key]) doc.flag = flags[key];
      out.push(doc);
    }
  };
  walk(SCHEMA, '');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadOptions {
  /** Path of a YAML config file. */
  file?: string;
  /** Environment; only TG_* variables are read. */
  env?: Record<string, string | undefined>;
  /** Flag values keyed by config key (e.g. { 'listen.port': '9443' }) or by flag (`--port`). */
  flags?: Record<string, string | number | undefined>;
  /** Check that configured files exist (default true). */
  checkFiles?: boolean;
  /** `policies`: only what check, diagnose and review read; serve-only keys (TLS files) may be unset. */
  purpose?: ConfigPurpose;
}

export type ConfigPurpose = 'serve' | 'policies';

export interface LoadedConfig {
  config: Config;
  /** Non-fatal observations, e.g. unknown TG_* environment variables. */
  warnings: string[];
}

type Origin = { kind: 'file'; file: string } | { kind: 'env'; name: string } | { kind: 'flag'; name: string } | { kind: 'default' };

function originText(o: Origin): string {
  switch (o.kind) {
    case 'file': return ` (in ${o.file})`;
    case 'env': return ` (from env ${o.name})`;
    case 'flag': return ` (from flag ${o.name})`;
    case 'default': return '';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch { return String(v); }
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
    if (score < bestScore) { best = c; bestScore = score; }
  }
  const limit = Math.max(2, Math.floor(input.length / 3));
  return best !== undefined && bestScore <= limit ? ` (did you mean "${best}"?)` : '';
}

interface Ctx {
  problems: string[];
  fileLabel: string;
  env: Record<string, string | undefined>;
  flags: Record<string, string | number | undefined>;
  checkFiles: boolean;
  flagNames: Record<string, string>;
  purpose: ConfigPurpose;
}

function getPath(root: unknown, path: string[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Unknown keys in the file, with did-you-mean among the siblings. */
function checkUnknownKeys(node: Node, value: unknown, prefix: string, ctx: Ctx): void {
  if (value === undefined || value === null) return;
  if (!isPlainObject(value)) {
    ctx.problems.push(`config: ${prefix || '(top level)'}: ${show(value)} is not a mapping; expected keys ${Object.keys(node.fields).join(', ')}${originText({ kind: 'file', file: ctx.fileLabel })}`);
    return;
  }
  const allowed = Object.keys(node.fields);
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const spec = node.fields[k];
    if (!spec) {
      ctx.problems.push(`config: ${key}: unknown key${didYouMean(k, allowed)}; allowed here: ${allowed.join(', ')}${originText({ kind: 'file', file: ctx.fileLabel })}`);
      continue;
    }
    if (spec.t === 'obj') checkUnknownKeys(spec, v, key, ctx);
  }
}

function pickSource(key: string, fileValue: unknown, ctx: Ctx): { raw: unknown; origin: Origin } | undefined {
  const flagName = ctx.flagNames[key] ?? key;
  const flagValue = ctx.flags[key] ?? (ctx.flagNames[key] ? ctx.flags[ctx.flagNames[key]] : undefined);
  if (flagValue !== undefined) return { raw: typeof flagValue === 'number' ? String(flagValue) : flagValue, origin: { kind: 'flag', name: flagName } };
  const envName = envNameFor(key);
  const envValue = ctx.env[envName];
  if (envValue !== undefined && envValue !== '') return { raw: envValue, origin: { kind: 'env', name: envName } };
  if (fileValue !== undefined && fileValue !== null) return { raw: fileValue, origin: { kind: 'file', file: ctx.fileLabel } };
  return undefined;
}

function resolveLeaf(key: string, leaf: Exclude<Leaf, GuardsLeaf>, fileValue: unknown, ctx: Ctx): unknown {
  const src = pickSource(key, fileValue, ctx);
  const fromText = src !== undefined && src.origin.kind !== 'file';
  const bad = (raw: unknown, allowed: string): undefined => {
    ctx.problems.push(`config: ${key}: ${show(raw)} is not ${allowed}${src ? originText(src.origin) : ''}`);
    return undefined;
  };
  switch (leaf.t) {
    case 'str': {
      if (src === undefined) {
        if (leaf.required && !(leaf.serveOnly && ctx.purpose === 'policies')) {
          const flag = Object.entries(FLAG_KEYS).find(([, k]) => k === key)?.[0];
          ctx.problems.push(`config: ${key}: is required: ${leaf.required}; set it in the config file, env ${envNameFor(key)}${flag ? ` or flag ${flag}` : ''}`);
        }
        return leaf.def;
      }
      const { raw } = src;
      if (typeof raw !== 'string' || raw === '') {
        return bad(raw, leaf.allowed ? `one of ${leaf.allowed.join(', ')}` : 'a non-empty string');
      }
      if (leaf.allowed && !leaf.allowed.includes(raw)) {
        return bad(raw, `one of ${leaf.allowed.join(', ')}${didYouMean(raw, leaf.allowed)}`);
      }
      const problem = leaf.check?.(raw);
      if (problem) return bad(raw, problem);
      if (leaf.file && ctx.checkFiles) {
        if (!existsSync(raw)) return bad(raw, 'an existing file (no such file)');
        if (!statSync(raw).isFile()) return bad(raw, 'a regular file');
      }
      return raw;
    }
    case 'int': {
      if (src === undefined) return leaf.def;
      const { raw } = src;
      const allowed = `an integer between ${leaf.min} and ${leaf.max}${leaf.unit ? ` (${leaf.unit})` : ''}`;
      let n: number;
      if (typeof raw === 'number') n = raw;
      else if (fromText && typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw)) n = Number(raw);
      else return bad(raw, allowed);
      if (!Number.isSafeInteger(n) || n < leaf.min || n > leaf.max) return bad(raw, allowed);
      return n;
    }
    case 'list': {
      if (src === undefined) return [...leaf.def];
      const { raw } = src;
      let items: unknown[];
      if (typeof raw === 'string') items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      else if (Array.isArray(raw)) items = raw;
      else return bad(raw, 'a list of strings (comma-separated in env and flags)');
      const out: string[] = [];
      items.forEach((item, i) => {
        if (typeof item !== 'string' || item === '') {
          ctx.problems.push(`config: ${key}[${i}]: ${show(item)} is not a non-empty string${originText(src.origin)}`);
          return;
        }
        const problem = leaf.check?.(item);
        if (problem) { ctx.problems.push(`config: ${key}[${i}]: ${show(item)} is not ${problem}${originText(src.origin)}`); return; }
        out.push(item);
      });
      return out;
    }
  }
}

function resolveNode(node: Node, fileRoot: unknown, path: string[], ctx: Ctx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(node.fields)) {
    const p = [...path, name];
    const key = p.join('.');
    if (spec.t === 'obj') out[name] = resolveNode(spec, fileRoot, p, ctx);
    else if (spec.t === 'guards') out[name] = parseGuards(getPath(fileRoot, p), key, ctx);
    else out[name] = resolveLeaf(key, spec, getPath(fileRoot, p), ctx);
  }
  return out;
}

// ---- finalizerGuards (file only) ----

const GUARD_FIELDS = ['finalizer', 'resource', 'ignoreLabel', 'controller'];
const RESOURCE_FIELDS = ['group', 'version', 'resource', 'kind', 'namespaced'];
const CONTROLLER_FIELDS = ['displayName', 'deploymentSelector', 'requireClusterRoleBinding'];

function parseGuards(raw: unknown, key: string, ctx: Ctx): FinalizerGuard[] {
  if (raw === undefined || raw === null) return [];
  const where = originText({ kind: 'file', file: ctx.fileLabel });
  const problem = (k: string, v: unknown, allowed: string): void => { ctx.problems.push(`config: ${k}: ${show(v)} is not ${allowed}${where}`); };
  if (!Array.isArray(raw)) { problem(key, raw, 'a list of finalizer guards'); return []; }
  const guards: FinalizerGuard[] = [];
  const builtIn = new Set(BUILTIN_FINALIZER_GUARDS.map((g) => g.finalizer));
  const seen = new Set<string>(builtIn);
  raw.forEach((item: unknown, i) => {
    const base = `${key}[${i}]`;
    if (!isPlainObject(item)) { problem(base, item, 'a mapping with finalizer, resource and controller'); return; }
    const before = ctx.problems.length;
    const unknown = (obj: Record<string, unknown>, prefix: string, allowed: string[]): void => {
      for (const k of Object.keys(obj)) {
        if (!allowed.includes(k)) ctx.problems.push(`config: ${prefix}.${k}: unknown key${didYouMean(k, allowed)}; allowed here: ${allowed.join(', ')}${where}`);
      }
    };
    unknown(item, base, GUARD_FIELDS);
    const str = (obj: Record<string, unknown>, k: string, prefix: string, opts: { optional?: boolean; allowEmpty?: boolean; check?: Check } = {}): string | undefined => {
      const v = obj[k];
      if (v === undefined && opts.optional) return undefined;
      if (v === undefined) { ctx.problems.push(`config: ${prefix}.${k}: is required${where}`); return undefined; }
      if (typeof v !== 'string' || (v === '' && !opts.allowEmpty)) { problem(`${prefix}.${k}`, v, 'a non-empty string'); return undefined; }
      const p = opts.check?.(v);
      if (p) { problem(`${prefix}.${k}`, v, p); return undefined; }
      return v;
    };
    const bool = (obj: Record<string, unknown>, k: string, prefix: string, def: boolean | undefined): boolean | undefined => {
      const v = obj[k];
      if (v === undefined) {
        if (def === undefined) ctx.problems.push(`config: ${prefix}.${k}: is required (true or false)${where}`);
        return def;
      }
      if (typeof v !== 'boolean') { problem(`${prefix}.${k}`, v, 'true or false'); return def; }
      return v;
    };
    const finalizer = str(item, 'finalizer', base, { check: checkQualifiedKey });
    if (finalizer !== undefined && seen.has(finalizer)) {
      ctx.problems.push(`config: ${base}.finalizer: ${show(finalizer)} is already guarded${builtIn.has(finalizer) ? ' (built in)' : ' (listed twice)'}${where}`);
    }
    if (finalizer !== undefined) seen.add(finalizer);
    const ignoreLabel = str(item, 'ignoreLabel', base, { optional: true, check: checkQualifiedKey });

    let resource: ResourceType | undefined;
    const r = item['resource'];
    if (!isPlainObject(r)) {
      if (r === undefined) ctx.problems.push(`config: ${base}.resource: is required: {group, version, resource, kind, namespaced}${where}`);
      else problem(`${base}.resource`, r, 'a mapping {group, version, resource, kind, namespaced}');
    } else {
      const rp = `${base}.resource`;
      unknown(r, rp, RESOURCE_FIELDS);
      const group = str(r, 'group', rp, { allowEmpty: true, check: (v) => (v === '' || DNS_SUBDOMAIN.test(v) ? undefined : 'an API group ("" for the core group)') });
      const version = str(r, 'version', rp, { check: (v) => (/^v\d+((alpha|beta)\d+)?$/.test(v) ? undefined : 'an API version such as v1 or v1alpha1') });
      const plural = str(r, 'resource', rp, { check: (v) => (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) ? undefined : 'a lower-case plural resource name as in the REST path') });
      const kind = str(r, 'kind', rp, { check: (v) => (/^[A-Z][A-Za-z0-9]*$/.test(v) ? undefined : 'a Kind in CamelCase') });
      const namespaced = bool(r, 'namespaced', rp, undefined);
      if (group !== undefined && version && plural && kind && namespaced !== undefined) resource = { group, version, resource: plural, kind, namespaced };
    }

    let controller: FinalizerGuard['controller'] | undefined;
    const c = item['controller'];
    if (!isPlainObject(c)) {
      if (c === undefined) ctx.problems.push(`config: ${base}.controller: is required: {displayName, deploymentSelector, requireClusterRoleBinding}${where}`);
      else problem(`${base}.controller`, c, 'a mapping {displayName, deploymentSelector, requireClusterRoleBinding}');
    } else {
      const cp = `${base}.controller`;
      unknown(c, cp, CONTROLLER_FIELDS);
      const displayName = str(c, 'displayName', cp);
      const deploymentSelector = str(c, 'deploymentSelector', cp, {
        check: (v) => {
          try {
            return parseLabelSelector(v).length > 0 ? undefined : 'a non-empty label selector (e.g. app=cert-manager)';
          } catch (err) {
            return `a label selector (${err instanceof LabelSelectorError ? err.message : String(err)})`;
          }
        },
      });
      const requireClusterRoleBinding = bool(c, 'requireClusterRoleBinding', cp, true);
      if (displayName && deploymentSelector && requireClusterRoleBinding !== undefined) controller = { displayName, deploymentSelector, requireClusterRoleBinding };
    }
    if (ctx.problems.length === before && finalizer && resource && controller) {
      const guard: FinalizerGuard = { finalizer, resource, controller };
      if (ignoreLabel) guard.ignoreLabel = ignoreLabel;
      guards.push(guard);
    }
  });
  return guards;
}

function readFileLayer(file: string, problems: string[]): unknown {
  const label = basename(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(`config: --config: ${show(file)} cannot be read (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`);
    return undefined;
  }
  try {
    const doc: unknown = parseYaml(text);
    if (doc !== null && doc !== undefined && !isPlainObject(doc)) {
      problems.push(`config: ${label}: the top level must be a mapping of keys, got ${Array.isArray(doc) ? 'a list' : show(doc)}`);
      return undefined;
    }
    return doc ?? {};
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      problems.push(`config: ${label}: not valid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${err.message.split('\n')[0]}`);
    } else {
      problems.push(`config: ${label}: not valid YAML: ${String(err)}`);
    }
    return undefined;
  }
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/** Loads and validates the configuration. Throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const env = opts.env ?? {};
  const flags = opts.flags ?? {};
  const fileRoot = opts.file !== undefined ? readFileLayer(opts.file, problems) : undefined;
  const ctx: Ctx = {
    problems, env, flags,
    fileLabel: opts.file !== undefined ? basename(opts.file) : '',
    checkFiles: opts.checkFiles ?? true,
    purpose: opts.purpose ?? 'serve',
    flagNames: Object.fromEntries(Object.entries(FLAG_KEYS).map(([f, k]) => [k, f])),
  };
  checkUnknownKeys(SCHEMA, fileRoot, '', ctx);

  const known = describeConfigKeys();
  const envNames = known.flatMap((k) => (k.env ? [k.env] : []));
  for (const name of Object.keys(env)) {
    if (name.startsWith('TG_') && !FOREIGN_TG_ENV.has(name) && !envNames.includes(name)) {
      warnings.push(`config: env ${name} is not a teardown-guard setting and is ignored${didYouMean(name, envNames)}`);
    }
  }
  const flagKeys = new Set([...Object.keys(FLAG_KEYS), ...Object.values(FLAG_KEYS)]);
  for (const [name, v] of Object.entries(flags)) {
    if (v !== undefined && !flagKeys.has(name)) problems.push(`config: flag ${name}: unknown${didYouMean(name, Object.keys(FLAG_KEYS))}`);
  }

  const resolved = resolveNode(SCHEMA, fileRoot, [], ctx);
  const at = <T>(key: string): T => getPath(resolved, key.split('.')) as T;

  // Cross-field rules.
  const jwtRaw = at<{ jwksUrl?: string; jwksFile?: string; issuer?: string; audience: string[] }>('audit.jwt');
  let jwt: JwtAuthConfig | undefined;
  const jwtConfigured = jwtRaw.jwksUrl !== undefined || jwtRaw.jwksFile !== undefined || jwtRaw.issuer !== undefined || jwtRaw.audience.length > 0;
  if (jwtConfigured) {
    if ((jwtRaw.jwksUrl === undefined) === (jwtRaw.jwksFile === undefined)) {
      problems.push(`config: audit.jwt: set exactly one of audit.jwt.jwksUrl and audit.jwt.jwksFile (got ${jwtRaw.jwksUrl !== undefined ? 'both' : 'neither'})`);
    }
    if (jwtRaw.issuer === undefined) problems.push('config: audit.jwt.issuer: is required when audit.jwt is configured (the "iss" tokens must carry)');
    if (jwtRaw.audience.length === 0) problems.push('config: audit.jwt.audience: is required when audit.jwt is configured (the "aud" tokens must carry)');
    if (jwtRaw.issuer !== undefined && jwtRaw.audience.length > 0) {
      jwt = { issuer: jwtRaw.issuer, audience: jwtRaw.audience };
      if (jwtRaw.jwksUrl !== undefined) jwt.jwksUrl = jwtRaw.jwksUrl;
      if (jwtRaw.jwksFile !== undefined) jwt.jwksFile = jwtRaw.jwksFile;
    }
  }
  if (jwt?.jwksFile !== undefined && opts.checkFiles !== false) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(jwt.jwksFile, 'utf8'));
      if (!isPlainObject(parsed) || !Array.isArray(parsed['keys'])) problems.push(`config: audit.jwt.jwksFile: ${show(jwt.jwksFile)} is not a JWKS (a JSON object with a "keys" list)`);
    } catch (err) {
      problems.push(`config: audit.jwt.jwksFile: ${show(jwt.jwksFile)} is not readable JSON (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    }
  }
  const live = at<Config['liveLookup']>('liveLookup');
  if (live.timeoutMs >= WEBHOOK_TIMEOUT_MS) {
    problems.push(`config: liveLookup.timeoutMs: ${live.timeoutMs} must be below the ${WEBHOOK_TIMEOUT_MS} ms webhook timeout`);
  }

  if (problems.length > 0) throw new ConfigError(unique(problems));

  const guardNamespace = at<string>('guardNamespace');
  const tls = at<Config['tls']>('tls');
  const audit = at<Omit<Config['audit'], 'jwt'>>('audit');
  const config: Config = {
    listen: at<Config['listen']>('listen'),
    tls: { certFile: tls.certFile, keyFile: tls.keyFile, pollIntervalMs: tls.pollIntervalMs, ...(tls.clientCAFile !== undefined ? { clientCAFile: tls.clientCAFile } : {}) },
    guardNamespace,
    policies: at<Config['policies']>('policies'),
    undecided: at<UndecidedAction>('undecided'),
    liveLookup: live,
    exemptNamespaces: unique(['kube-system', guardNamespace, ...at<string[]>('exemptNamespaces')]),
    exemptUsers: unique([...ALWAYS_EXEMPT_USERS, ...at<string[]>('exemptUsers')]),
    breakGlassAnnotation: at<string>('breakGlassAnnotation'),
    staleUninstallingAfterMs: at<number>('staleUninstallingAfterMs'),
    finalizerGuards: at<FinalizerGuard[]>('finalizerGuards'),
    audit: { maxQueueEvents: audit.maxQueueEvents, windowMs: audit.windowMs, maxBodyBytes: audit.maxBodyBytes, ...(jwt ? { jwt } : {}) },
    log: at<Config['log']>('log'),
    maxBodyBytes: at<number>('maxBodyBytes'),
    shutdown: at<Config['shutdown']>('shutdown'),
  };
  const kubeconfig = at<string | undefined>('kubeconfig');
  if (kubeconfig !== undefined) config.kubeconfig = kubeconfig;
  return { config, warnings };
}

/** Every finalizer guard in force: the built-in OLM one, then the configured ones. */
/** The finalizer registry of a config: the built-in guards plus its finalizerGuards. */
export function finalizerRegistryOf(config: Config): FinalizerRegistry {
  return new FinalizerRegistry(config.finalizerGuards);
}

export function finalizerGuardsOf(config: Config): FinalizerGuard[] {
  return finalizerRegistryOf(config).guards();
}

/** The policy settings of a config file, for the commands that are not the server (check, diagnose, review). */
export function loadPolicySettings(file: string): PolicySettings {
  return policySettings(loadConfig({ file, checkFiles: false, purpose: 'policies' }).config);
}

/** The slice of the config the policies read. */
export function policySettings(config: Config): PolicySettings {
  return {
    exemptNamespaces: [...config.exemptNamespaces],
    exemptUsers: [...config.exemptUsers],
    finalizerGuards: finalizerGuardsOf(config),
    breakGlassAnnotation: config.breakGlassAnnotation,
    staleUninstallingAfterMs: config.staleUninstallingAfterMs,
  };
}

/** Policy modes in the shape the admission engine takes. */
export function policyModes(config: Config): Record<PolicyName, Mode> {
  return Object.fromEntries(POLICY_NAMES.map((n) => [n, config.policies[n].mode])) as Record<PolicyName, Mode>;
}
