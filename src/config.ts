// Typed, validated configuration for `teardown-guard serve`.
//
// Sources, highest precedence first: command-line flags > environment (TG_*) > YAML file
// (--config) > defaults. Every key is described once in SCHEMA below; the environment variable
// name is derived from the key (`liveLookup.timeoutMs` -> TG_LIVE_LOOKUP_TIMEOUT_MS).
// Every error names the key, the bad value and what is allowed; unknown keys are errors too.
import { DEFAULT_STALE_UNINSTALLING_AFTER_MS } from './policies/releaseActivity.ts';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { basename } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { MODES, type Mode, type UndecidedAction } from './policies/declaration.ts';
import { LabelSelectorError, parseLabelSelector } from './k8s/labelSelector.ts';
import { BUILTIN_FINALIZER_GUARDS, FinalizerRegistry } from './registry/finalizerRegistry.ts';
import type { FinalizerGuard, PolicySettings } from './policies/settings.ts';
import { BUILTIN_POLICIES, POLICY_NAMES, type PolicyName } from './policies/index.ts';
import { DEFAULT_MEMORY_CONFIGMAP, DEFAULT_MEMORY_LIMITS } from './finalizers/memory.ts';
import {
  bool,
  type Check,
  type ConfigPurpose,
  didYouMean,
  envNameFor,
  type ItemProblem,
  int,
  isPlainObject,
  type KeyDoc,
  list,
  listOf,
  obj,
  oneOf,
  optionalStr,
  requiredStr,
  show,
  type Sources,
  str,
  type ValueOf,
} from './configSchema.ts';

export { didYouMean, envNameFor, type ConfigPurpose, type KeyDoc };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
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

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;

const checkDnsLabel: Check = (v) =>
  DNS_LABEL.test(v) ? undefined : 'a namespace name (RFC 1123 label: lower-case alphanumerics and "-", at most 63 characters)';

/** Annotation/label/finalizer key: optional DNS-subdomain prefix, "/", qualified name. */
const checkQualifiedKey: Check = (v) => {
  const slash = v.lastIndexOf('/');
  const prefix = slash >= 0 ? v.slice(0, slash) : undefined;
  const name = slash >= 0 ? v.slice(slash + 1) : v;
  if (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix))
    return 'a qualified key: optional DNS-subdomain prefix, "/", name (e.g. teardown-guard.io/break-glass)';
  return QUALIFIED_NAME.test(name)
    ? undefined
    : 'a qualified key: optional DNS-subdomain prefix, "/", name of at most 63 alphanumerics, "-", "_" or "." (e.g. teardown-guard.io/break-glass)';
};

const checkHost: Check = (v) =>
  isIP(v) !== 0 || DNS_SUBDOMAIN.test(v) ? undefined : 'an IP address or host name (0.0.0.0 listens on every IPv4 address, :: on every address)';

const checkUrl: Check = (v) => {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return 'an absolute https:// URL';
  }
  if (url.protocol === 'https:') return undefined;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  return url.protocol === 'http:' && loopback ? undefined : 'an https:// URL (plain http is accepted for loopback hosts only)';
};

const checkUser: Check = (v) => (v.trim() === v && v !== '' ? undefined : 'a user name without surrounding spaces (e.g. system:serviceaccount:NS:NAME)');

const checkLabelSelector: Check = (v) => {
  try {
    return parseLabelSelector(v).length > 0 ? undefined : 'a non-empty label selector (e.g. app=cert-manager)';
  } catch (err) {
    return `a label selector (${err instanceof LabelSelectorError ? err.message : String(err)})`;
  }
};

/** One entry of finalizerGuards (file only): the shape of FinalizerGuard (src/finalizers/guard.ts). */
const FINALIZER_GUARD = obj({
  finalizer: requiredStr({ check: checkQualifiedKey }),
  resource: obj(
    {
      group: requiredStr({ allowEmpty: true, check: (v) => (v === '' || DNS_SUBDOMAIN.test(v) ? undefined : 'an API group ("" for the core group)') }),
      version: requiredStr({ check: (v) => (/^v\d+((alpha|beta)\d+)?$/.test(v) ? undefined : 'an API version such as v1 or v1alpha1') }),
      resource: requiredStr({
        check: (v) => (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) ? undefined : 'a lower-case plural resource name as in the REST path'),
      }),
      kind: requiredStr({ check: (v) => (/^[A-Z][A-Za-z0-9]*$/.test(v) ? undefined : 'a Kind in CamelCase') }),
      namespaced: bool({}),
    },
    { required: true },
  ),
  ignoreLabel: optionalStr({ check: checkQualifiedKey }),
  controller: obj(
    {
      displayName: requiredStr({}),
      deploymentSelector: requiredStr({ check: checkLabelSelector }),
      requireClusterRoleBinding: bool({ def: true }),
    },
    { required: true },
  ),
}) satisfies { resolve: (...args: never[]) => FinalizerGuard };

/** A finalizer is guarded once: the built-in OLM guard's, and each configured one. */
function notGuardedTwice(items: { key: string; value: { finalizer: string } }[]): ItemProblem[] {
  const builtInFinalizers = new Set(BUILTIN_FINALIZER_GUARDS.map((g) => g.finalizer));
  const seen = new Set<string>(builtInFinalizers);
  const problems: ItemProblem[] = [];
  for (const {
    key,
    value: { finalizer },
  } of items) {
    if (finalizer === '') continue;
    const builtIn = builtInFinalizers.has(finalizer);
    if (seen.has(finalizer))
      problems.push({ key: `${key}.finalizer`, problem: `${show(finalizer)} is already guarded${builtIn ? ' (built in)' : ' (listed twice)'}` });
    seen.add(finalizer);
  }
  return problems;
}

const policyMode = (name: PolicyName, def: Mode) => obj({ mode: oneOf(MODES, { def, doc: `Mode of ${name}.` }) });

/** `policies.NAME.mode` for each built-in policy, defaulting to its declared mode. */
function policyModeFields(): { [N in PolicyName]: ReturnType<typeof policyMode> } {
  return Object.fromEntries(BUILTIN_POLICIES.map((p) => [p.name, policyMode(p.name, p.declaration.defaultMode)])) as {
    [N in PolicyName]: ReturnType<typeof policyMode>;
  };
}

const SCHEMA = obj({
  listen: obj({
    host: str({ def: '0.0.0.0', check: checkHost, doc: 'Address the HTTPS server binds.' }),
    port: int({ def: 8443, min: 0, max: 65535, doc: 'HTTPS port (the Service maps 443 to it; 0 picks a free port).' }),
  }),
  tls: obj({
    certFile: optionalStr({
      requiredToServe: 'the PEM serving certificate (chain) the webhook presents',
      file: true,
      doc: 'PEM serving certificate; reloaded when the file changes.',
    }),
    keyFile: optionalStr({ requiredToServe: 'the PEM private key of tls.certFile', file: true, doc: 'PEM private key; reloaded with certFile.' }),
    clientCAFile: optionalStr({
      file: true,
      doc: 'PEM CA bundle that client certificates on POST /audit must chain to (mTLS). Unset: no client certificates are requested.',
    }),
    pollIntervalMs: int({ def: 10_000, min: 500, max: 600_000, unit: 'ms', doc: 'Poll interval that backs up fs.watch for certificate changes.' }),
  }),
  kubeconfig: optionalStr({ file: true, doc: 'kubeconfig path. Unset: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.' }),
  guardNamespace: str({ def: 'teardown-guard', check: checkDnsLabel, doc: "The guard's own namespace (always exempt)." }),
  policies: obj(policyModeFields()),
  undecided: oneOf(UNDECIDED_VALUES, { def: 'allow', doc: 'What an undecided policy means: allow (with a warning) or deny.' }),
  liveLookup: obj({
    timeoutMs: int({
      def: 1500,
      min: 50,
      max: WEBHOOK_TIMEOUT_MS - 1000,
      unit: 'ms',
      doc: 'Budget for live look-ups in one review; must leave headroom under the 5 s webhook timeout.',
    }),
    concurrency: int({ def: 8, min: 1, max: 64, doc: 'Concurrent live GETs per review.' }),
  }),
  exemptNamespaces: list({
    def: [],
    check: checkDnsLabel,
    doc: 'Extra namespaces whose deletion is never denied (kube-system and guardNamespace always are).',
  }),
  exemptUsers: list({ def: [], check: checkUser, doc: 'Extra users the policies never flag (namespace controller and garbage collector always).' }),
  breakGlassAnnotation: str({
    def: 'teardown-guard.io/break-glass',
    check: checkQualifiedKey,
    doc: 'Annotation on the object being deleted that overrides a denial; its value is the reason.',
  }),
  staleUninstallingAfterMs: int({
    def: DEFAULT_STALE_UNINSTALLING_AFTER_MS,
    min: 60_000,
    max: 30 * 86_400_000,
    unit: 'ms',
    doc: 'A release record saying "uninstalling" for longer than this (Helm\'s modifiedAt label) is a failed uninstall, not one running now.',
  }),
  finalizerMemory: obj({
    enabled: bool({
      def: true,
      doc: "Remember which controller removes each inferred finalizer (a ConfigMap in guardNamespace), so its objects are still guarded once the operator's RBAC is gone.",
    }),
    configMapName: str({ def: DEFAULT_MEMORY_CONFIGMAP, check: checkDnsLabel, doc: 'Name of the ConfigMap the memory is kept in.' }),
    forgetAfterMs: int({
      def: DEFAULT_MEMORY_LIMITS.forgetAfterMs,
      min: 3_600_000,
      max: 3650 * 86_400_000,
      unit: 'ms',
      doc: 'A controller not seen running for this long is forgotten (entries of a removed CRD are forgotten at once).',
    }),
    maxEntries: int({
      def: DEFAULT_MEMORY_LIMITS.maxEntries,
      min: 10,
      max: 2000,
      doc: 'Most finalizers remembered (the least recently seen are forgotten first).',
    }),
  }),
  finalizerGuards: listOf(FINALIZER_GUARD, {
    what: 'finalizer guards',
    check: notGuardedTwice,
    doc: 'Extra guarded finalizers (the OLM csv-cleanup guard is built in); file only.',
  }),
  audit: obj({
    jwt: obj({
      jwksUrl: optionalStr({ check: checkUrl, doc: 'JWKS URL for bearer tokens on POST /audit.' }),
      jwksFile: optionalStr({ file: true, doc: 'Local JWKS file (alternative to jwksUrl).' }),
      issuer: optionalStr({ doc: 'Required "iss" of audit bearer tokens.' }),
      audience: list({ def: [], doc: 'Accepted "aud" values of audit bearer tokens (comma-separated in env/flags).' }),
    }),
    maxQueueEvents: int({ def: 100_000, min: 1, max: 10_000_000, doc: 'Audit events buffered before new ones are dropped (and counted).' }),
    windowMs: int({ def: 120_000, min: 1000, max: 86_400_000, unit: 'ms', doc: 'Correlation window of the audit reviewer (uninstall sessions).' }),
    maxBodyBytes: int({ def: 16 * MiB, min: 64 * 1024, max: 256 * MiB, unit: 'bytes', doc: 'Largest accepted POST /audit body (an EventList batch).' }),
  }),
  log: obj({ level: oneOf(LOG_LEVELS, { def: 'info', doc: 'pino log level.' }) }),
  maxBodyBytes: int({
    def: DEFAULT_BODY_BYTES,
    min: MIN_BODY_BYTES,
    max: 64 * MiB,
    unit: 'bytes',
    doc: 'Largest accepted POST /validate body; must fit oldObject + object of 1.5 MiB each.',
  }),
  shutdown: obj({
    delayMs: int({
      def: 3000,
      min: 0,
      max: 60_000,
      unit: 'ms',
      doc: 'After SIGTERM, keep serving (with /readyz failing) this long so endpoints drop the pod first.',
    }),
    drainTimeoutMs: int({
      def: 10_000,
      min: 0,
      max: 120_000,
      unit: 'ms',
      doc: 'Then wait at most this long for in-flight requests before closing connections.',
    }),
  }),
});

/** What the schema reads, before the rules across keys (audit.jwt) and the effective exemption lists. */
type Settings = ValueOf<typeof SCHEMA>;

export interface JwtAuthConfig {
  jwksUrl?: string;
  jwksFile?: string;
  issuer: string;
  audience: string[];
}

/** The configuration `serve` runs with: the schema's settings, TLS present, audit.jwt complete. */
export type Config = Omit<Settings, 'tls' | 'audit'> & {
  tls: Settings['tls'] & { certFile: string; keyFile: string };
  audit: Omit<Settings['audit'], 'jwt'> & { jwt?: JwtAuthConfig };
};

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

/** Every key with its env var, flag, default and description (used for docs and --help). */
export function describeConfigKeys(): KeyDoc[] {
  const out: KeyDoc[] = [];
  SCHEMA.describe('', false, flagNamesByKey(), out);
  return out;
}

function flagNamesByKey(): Record<string, string> {
  return Object.fromEntries(Object.entries(FLAG_KEYS).map(([f, k]) => [k, f]));
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
}

export interface LoadedConfig {
  config: Config;
  /** Non-fatal observations, e.g. unknown TG_* environment variables. */
  warnings: string[];
}

function readFileLayer(file: string, problems: string[]): unknown {
  const label = basename(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    problems.push(`config: --config: ${show(file)} cannot be read (${code === 'ENOENT' ? 'no such file' : code})`);
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

/** Unknown TG_* variables are warnings (they may belong to something else); unknown flags are problems. */
function checkNames(src: Sources, warnings: string[]): void {
  const envNames = describeConfigKeys().flatMap((k) => (k.env ? [k.env] : []));
  for (const name of Object.keys(src.env)) {
    if (name.startsWith('TG_') && !FOREIGN_TG_ENV.has(name) && !envNames.includes(name)) {
      warnings.push(`config: env ${name} is not a teardown-guard setting and is ignored${didYouMean(name, envNames)}`);
    }
  }
  const flagKeys = new Set([...Object.keys(FLAG_KEYS), ...Object.values(FLAG_KEYS)]);
  for (const [name, v] of Object.entries(src.flags)) {
    if (v !== undefined && !flagKeys.has(name)) src.problems.push(`config: flag ${name}: unknown${didYouMean(name, Object.keys(FLAG_KEYS))}`);
  }
}

/** audit.jwt is all or nothing: one key source, an issuer and an audience. */
function jwtOf(raw: Settings['audit']['jwt'], src: Sources): JwtAuthConfig | undefined {
  const { jwksUrl, jwksFile, issuer, audience } = raw;
  if (jwksUrl === undefined && jwksFile === undefined && issuer === undefined && audience.length === 0) return undefined;
  if ((jwksUrl === undefined) === (jwksFile === undefined)) {
    src.problems.push(`config: audit.jwt: set exactly one of audit.jwt.jwksUrl and audit.jwt.jwksFile (got ${jwksUrl !== undefined ? 'both' : 'neither'})`);
  }
  if (issuer === undefined) src.problems.push('config: audit.jwt.issuer: is required when audit.jwt is configured (the "iss" tokens must carry)');
  if (audience.length === 0) src.problems.push('config: audit.jwt.audience: is required when audit.jwt is configured (the "aud" tokens must carry)');
  if (jwksFile !== undefined && src.checkFiles) checkJwksFile(jwksFile, src);
  if (issuer === undefined || audience.length === 0) return undefined;
  return { issuer, audience, ...(jwksUrl !== undefined ? { jwksUrl } : {}), ...(jwksFile !== undefined ? { jwksFile } : {}) };
}

function checkJwksFile(file: string, src: Sources): void {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!isPlainObject(parsed) || !Array.isArray(parsed['keys']))
      src.problems.push(`config: audit.jwt.jwksFile: ${show(file)} is not a JWKS (a JSON object with a "keys" list)`);
  } catch (err) {
    src.problems.push(`config: audit.jwt.jwksFile: ${show(file)} is not readable JSON (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
}

/** Reads every source through the schema; problems are collected in the returned sources. */
function readSettings(
  opts: LoadOptions,
  purpose: ConfigPurpose,
  warnings: string[],
): { settings: Settings; jwt: JwtAuthConfig | undefined; problems: string[] } {
  const problems: string[] = [];
  const fileRoot = opts.file !== undefined ? readFileLayer(opts.file, problems) : undefined;
  const src: Sources = {
    problems,
    env: opts.env ?? {},
    flags: opts.flags ?? {},
    fileLabel: opts.file !== undefined ? basename(opts.file) : '',
    checkFiles: opts.checkFiles ?? true,
    purpose,
    flagNames: flagNamesByKey(),
  };
  checkNames(src, warnings);
  const settings = SCHEMA.resolve({ key: '', fileValue: fileRoot, fileOnly: false }, src);
  const jwt = jwtOf(settings.audit.jwt, src);
  return { settings, jwt, problems };
}

/** The exemption lists in force: the ones always exempt, then the configured extras. */
function withEffectiveExemptions<S extends Pick<Settings, 'guardNamespace' | 'exemptNamespaces' | 'exemptUsers'>>(settings: S): S {
  return {
    ...settings,
    exemptNamespaces: unique(['kube-system', settings.guardNamespace, ...settings.exemptNamespaces]),
    exemptUsers: unique([...ALWAYS_EXEMPT_USERS, ...settings.exemptUsers]),
  };
}

/** Loads and validates the configuration `serve` runs with. Throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const warnings: string[] = [];
  const { settings, jwt, problems } = readSettings(opts, 'serve', warnings);
  const { certFile, keyFile } = settings.tls;
  if (problems.length > 0 || certFile === undefined || keyFile === undefined) throw new ConfigError(unique(problems));
  const { jwt: _unchecked, ...audit } = settings.audit;
  const config: Config = { ...withEffectiveExemptions(settings), tls: { ...settings.tls, certFile, keyFile }, audit: { ...audit, ...(jwt ? { jwt } : {}) } };
  return { config, warnings };
}

/** The finalizer registry of a config: the built-in guards plus its finalizerGuards. */
export function finalizerRegistryOf(config: Pick<Config, 'finalizerGuards'>): FinalizerRegistry {
  return new FinalizerRegistry(config.finalizerGuards);
}

/** Every finalizer guard in force: the built-in ones, then the configured ones. */
export function finalizerGuardsOf(config: Pick<Config, 'finalizerGuards'>): FinalizerGuard[] {
  return finalizerRegistryOf(config).guards();
}

/** A config file read for what the policies need: every key checked, the serve-only ones (TLS files) may be unset. */
function readPolicyFile(file: string): ReturnType<typeof readSettings>['settings'] {
  const { settings, problems } = readSettings({ file, checkFiles: false }, 'policies', []);
  if (problems.length > 0) throw new ConfigError(unique(problems));
  return settings;
}

/** The policy settings of a config file, for the commands that are not the server (check, diagnose, review). */
export function loadPolicySettings(file: string): PolicySettings {
  return policySettings(withEffectiveExemptions(readPolicyFile(file)));
}

/** What render-manifests renders a manifests directory from: the config's guards, policy modes and guard namespace. */
export function loadRenderSettings(file: string): { finalizerGuards: FinalizerGuard[]; modes: Record<PolicyName, Mode>; guardNamespace: string } {
  const settings = readPolicyFile(file);
  return { finalizerGuards: [...settings.finalizerGuards], modes: policyModes(settings), guardNamespace: settings.guardNamespace };
}

/** The slice of the config the policies read. */
export function policySettings(
  config: Pick<Config, 'exemptNamespaces' | 'exemptUsers' | 'finalizerGuards' | 'breakGlassAnnotation' | 'staleUninstallingAfterMs'>,
): PolicySettings {
  return {
    exemptNamespaces: [...config.exemptNamespaces],
    exemptUsers: [...config.exemptUsers],
    finalizerGuards: finalizerGuardsOf(config),
    breakGlassAnnotation: config.breakGlassAnnotation,
    staleUninstallingAfterMs: config.staleUninstallingAfterMs,
  };
}

/** Policy modes in the shape the admission engine takes. */
export function policyModes(config: Pick<Config, 'policies'>): Record<PolicyName, Mode> {
  return Object.fromEntries(POLICY_NAMES.map((name) => [name, config.policies[name].mode])) as Record<PolicyName, Mode>;
}
