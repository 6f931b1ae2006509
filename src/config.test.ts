import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { Mode, UndecidedAction } from './admission/modes.ts';
import type { FinalizerGuard } from './finalizers/guard.ts';
import {
  ConfigError,
  DEFAULT_BODY_BYTES,
  describeConfigKeys,
  type LogLevel,
  didYouMean,
  envNameFor,
  loadConfig,
  policyModes,
  policySettings,
  type LoadOptions,
} from './config.ts';
import { CSV_CLEANUP_FINALIZER } from './olm/finalizerGuards.ts';
import { loadPolicySettings } from './config.ts';
import { BUILTIN_POLICIES } from './policies/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tg-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CERT = join(dir, 'tls.crt');
const KEY = join(dir, 'tls.key');
writeFileSync(CERT, 'x');
writeFileSync(KEY, 'x');

let n = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

const TLS_ENV = { TG_TLS_CERT_FILE: CERT, TG_TLS_KEY_FILE: KEY };

function problems(opts: LoadOptions): string[] {
  try {
    loadConfig(opts);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it('needs only the serving certificate and key', () => {
    const { config, warnings } = loadConfig({ env: TLS_ENV });
    expect(warnings).toEqual([]);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(config.tls).toEqual({ certFile: CERT, keyFile: KEY, pollIntervalMs: 10_000 });
    expect(config.kubeconfig).toBeUndefined();
    expect(config.guardNamespace).toBe('teardown-guard');
    // Every policy at the mode its declaration gives it; the OLM denial is the one on by default.
    expect(config.policies).toEqual(Object.fromEntries(BUILTIN_POLICIES.map((p) => [p.name, { mode: p.declaration.defaultMode }])));
    expect(config.policies['olm-orphaned-finalizers'].mode).toBe('enforce');
    expect(Object.values(config.policies).filter((p) => p.mode === 'enforce')).toHaveLength(1);
    expect(config.undecided).toBe('allow');
    expect(config.liveLookup).toEqual({ timeoutMs: 1500, concurrency: 8 });
    expect(config.exemptNamespaces).toEqual(['kube-system', 'teardown-guard']);
    expect(config.exemptUsers).toEqual([
      'system:serviceaccount:kube-system:namespace-controller',
      'system:serviceaccount:kube-system:generic-garbage-collector',
    ]);
    expect(config.breakGlassAnnotation).toBe('teardown-guard.io/break-glass');
    expect(config.finalizerGuards).toEqual([]);
    expect(config.audit.jwt).toBeUndefined();
    expect(config.log.level).toBe('info');
    expect(config.maxBodyBytes).toBe(DEFAULT_BODY_BYTES);
    expect(config.maxBodyBytes).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(config.shutdown).toEqual({ delayMs: 3000, drainTimeoutMs: 10_000 });
  });

  it('always exempts kube-system, the guard namespace and the two controllers, plus extras', () => {
    const file = yamlFile('guardNamespace: guard\nexemptNamespaces: [ci-runner, guard]\nexemptUsers: ["system:serviceaccount:ops:janitor"]\n');
    const { config } = loadConfig({ file, env: TLS_ENV });
    expect(config.exemptNamespaces).toEqual(['kube-system', 'guard', 'ci-runner']);
    expect(config.exemptUsers).toContain('system:serviceaccount:kube-system:namespace-controller');
    expect(config.exemptUsers).toContain('system:serviceaccount:ops:janitor');
    const settings = policySettings(config);
    expect(settings.finalizerGuards.map((g) => g.finalizer)).toEqual([CSV_CLEANUP_FINALIZER]);
    expect(policyModes(config)).toEqual(Object.fromEntries(BUILTIN_POLICIES.map((p) => [p.name, p.declaration.defaultMode])));
  });
});

describe('precedence: flags > env > file > defaults', () => {
  const file = yamlFile(`
listen: { port: 9000, host: 127.0.0.1 }
tls: { certFile: ${JSON.stringify(CERT)}, keyFile: ${JSON.stringify(KEY)} }
log: { level: warn }
policies:
  helm-uninstall-namespace: { mode: audit }
`);
  it('file over defaults', () => {
    const { config } = loadConfig({ file });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(config.log.level).toBe('warn');
    expect(config.policies['helm-uninstall-namespace'].mode).toBe('audit');
  });
  it('env over file', () => {
    const { config } = loadConfig({
      file,
      env: { TG_LISTEN_PORT: '9100', TG_POLICIES_HELM_UNINSTALL_NAMESPACE_MODE: 'enforce', TG_EXEMPT_NAMESPACES: 'a, b' },
    });
    expect(config.listen.port).toBe(9100);
    expect(config.policies['helm-uninstall-namespace'].mode).toBe('enforce');
    expect(config.exemptNamespaces).toEqual(['kube-system', 'teardown-guard', 'a', 'b']);
  });
  it('flags over env (by config key or by flag name)', () => {
    expect(loadConfig({ file, env: { TG_LISTEN_PORT: '9100' }, flags: { 'listen.port': '9200' } }).config.listen.port).toBe(9200);
    expect(loadConfig({ file, env: { TG_LOG_LEVEL: 'error' }, flags: { '--log-level': 'debug' } }).config.log.level).toBe('debug');
  });
  it('an empty env variable does not override', () => {
    expect(loadConfig({ file, env: { TG_LISTEN_PORT: '' } }).config.listen.port).toBe(9000);
  });
});

describe('errors name the key, the bad value and what is allowed', () => {
  it('an enum value', () => {
    const file = yamlFile('policies:\n  helm-uninstall-namespace:\n    mode: block\n');
    expect(problems({ file, env: TLS_ENV })).toEqual([
      expect.stringMatching(/^config: policies\.helm-uninstall-namespace\.mode: "block" is not one of enforce, warn, audit, off \(in config-\d+\.yaml\)$/),
    ]);
  });
  it('an enum value with a did-you-mean', () => {
    expect(problems({ env: { ...TLS_ENV, TG_UNDECIDED: 'Deny' } })).toEqual([
      'config: undecided: "Deny" is not one of allow, deny (did you mean "deny"?) (from env TG_UNDECIDED)',
    ]);
  });
  it('an unknown key, with a did-you-mean and the allowed siblings', () => {
    const file = yamlFile('liveLookup:\n  timeoutMS: 100\n');
    expect(problems({ file, env: TLS_ENV })[0]).toMatch(
      /^config: liveLookup\.timeoutMS: unknown key \(did you mean "timeoutMs"\?\); allowed here: timeoutMs, concurrency/,
    );
  });
  it('an unknown policy name', () => {
    const file = yamlFile('policies:\n  olm-orphaned-finalizer: { mode: warn }\n');
    expect(problems({ file, env: TLS_ENV })[0]).toContain('policies.olm-orphaned-finalizer: unknown key (did you mean "olm-orphaned-finalizers"?)');
  });
  it('an unknown top-level key with nothing close', () => {
    const file = yamlFile('frobnicate: true\n');
    const p = problems({ file, env: TLS_ENV })[0] ?? '';
    expect(p).toMatch(/^config: frobnicate: unknown key; allowed here: listen, tls,/);
  });
  it('an integer out of range, from a flag', () => {
    expect(problems({ env: TLS_ENV, flags: { '--port': '70000' } })).toEqual([
      'config: listen.port: "70000" is not an integer between 0 and 65535 (from flag --port)',
    ]);
  });
  it('not an integer, from env', () => {
    expect(problems({ env: { ...TLS_ENV, TG_LIVE_LOOKUP_CONCURRENCY: 'lots' } })).toEqual([
      'config: liveLookup.concurrency: "lots" is not an integer between 1 and 64 (from env TG_LIVE_LOOKUP_CONCURRENCY)',
    ]);
  });
  it('a quoted number in the file is a string, not an integer', () => {
    const file = yamlFile('listen:\n  port: "8443"\n');
    expect(problems({ file, env: TLS_ENV })[0]).toMatch(/^config: listen\.port: "8443" is not an integer between 0 and 65535/);
  });
  it('a live-lookup budget that does not fit under the webhook timeout', () => {
    expect(problems({ env: { ...TLS_ENV, TG_LIVE_LOOKUP_TIMEOUT_MS: '5000' } })[0]).toBe(
      'config: liveLookup.timeoutMs: "5000" is not an integer between 50 and 4000 (ms) (from env TG_LIVE_LOOKUP_TIMEOUT_MS)',
    );
  });
  it('a body limit too small for two 1.5 MiB objects', () => {
    expect(problems({ env: { ...TLS_ENV, TG_MAX_BODY_BYTES: '1048576' } })[0]).toMatch(
      /^config: maxBodyBytes: "1048576" is not an integer between 3145728 and/,
    );
  });
  it('a missing required key says where to set it', () => {
    expect(problems({})).toEqual([
      'config: tls.certFile: is required: the PEM serving certificate (chain) the webhook presents; set it in the config file, env TG_TLS_CERT_FILE or flag --tls-cert-file',
      'config: tls.keyFile: is required: the PEM private key of tls.certFile; set it in the config file, env TG_TLS_KEY_FILE or flag --tls-key-file',
    ]);
  });
  it('a file that does not exist', () => {
    expect(problems({ env: { ...TLS_ENV, TG_KUBECONFIG: join(dir, 'nope') } })[0]).toMatch(
      /^config: kubeconfig: ".*nope" is not an existing file \(no such file\) \(from env TG_KUBECONFIG\)$/,
    );
  });
  it('an invalid namespace name, annotation key and list item', () => {
    const p = problems({ env: { ...TLS_ENV, TG_GUARD_NAMESPACE: 'Guard_NS', TG_BREAK_GLASS_ANNOTATION: 'not a key', TG_EXEMPT_NAMESPACES: 'ok,Bad!' } });
    expect(p).toContain(
      'config: guardNamespace: "Guard_NS" is not a namespace name (RFC 1123 label: lower-case alphanumerics and "-", at most 63 characters) (from env TG_GUARD_NAMESPACE)',
    );
    expect(p.some((s) => s.startsWith('config: breakGlassAnnotation: "not a key" is not a qualified key'))).toBe(true);
    expect(p.some((s) => s.startsWith('config: exemptNamespaces[1]: "Bad!" is not a namespace name'))).toBe(true);
  });
  it('a wrong type in the file', () => {
    const file = yamlFile('exemptNamespaces: {a: 1}\nlisten: 8443\n');
    const p = problems({ file, env: TLS_ENV });
    expect(p.some((s) => s.startsWith('config: listen: 8443 is not a mapping'))).toBe(true);
    expect(p.some((s) => s.startsWith('config: exemptNamespaces: {"a":1} is not a list of strings'))).toBe(true);
  });
  it('invalid YAML, with its position', () => {
    const file = yamlFile('listen:\n  port: [1, 2\n');
    expect(problems({ file, env: TLS_ENV })[0]).toMatch(/^config: config-\d+\.yaml: not valid YAML at line \d+, column \d+/);
  });
  it('a top level that is not a mapping', () => {
    const file = yamlFile('- a\n- b\n');
    expect(problems({ file, env: TLS_ENV })[0]).toMatch(/the top level must be a mapping of keys, got a list/);
  });
  it('a config file that cannot be read', () => {
    expect(problems({ file: join(dir, 'missing.yaml'), env: TLS_ENV })[0]).toMatch(/^config: --config: ".*missing\.yaml" cannot be read \(no such file\)$/);
  });
  it('an unknown flag', () => {
    expect(problems({ env: TLS_ENV, flags: { '--prot': '1' } })[0]).toBe('config: flag --prot: unknown (did you mean "--port"?)');
  });
  it('reports every problem at once', () => {
    expect(problems({ env: { TG_LISTEN_PORT: 'x', TG_UNDECIDED: 'maybe' } })).toHaveLength(4);
  });
  it('an unknown TG_* variable is a warning with a did-you-mean, not an error', () => {
    const { warnings } = loadConfig({ env: { ...TLS_ENV, TG_LISTEN_PROT: '1', TG_NODE_VERSION: '24' } });
    expect(warnings).toEqual(['config: env TG_LISTEN_PROT is not a teardown-guard setting and is ignored (did you mean "TG_LISTEN_PORT"?)']);
  });
});

describe('audit.jwt', () => {
  const jwks = join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [] }));
  it('accepts a JWKS file with issuer and audience (list or comma string)', () => {
    const { config } = loadConfig({ env: { ...TLS_ENV, TG_AUDIT_JWT_JWKS_FILE: jwks, TG_AUDIT_JWT_ISSUER: 'https://iss', TG_AUDIT_JWT_AUDIENCE: 'a,b' } });
    expect(config.audit.jwt).toEqual({ jwksFile: jwks, issuer: 'https://iss', audience: ['a', 'b'] });
  });
  it('needs exactly one key source, an issuer and an audience', () => {
    const p = problems({ env: { ...TLS_ENV, TG_AUDIT_JWT_AUDIENCE: 'a' } });
    expect(p).toContain('config: audit.jwt: set exactly one of audit.jwt.jwksUrl and audit.jwt.jwksFile (got neither)');
    expect(p).toContain('config: audit.jwt.issuer: is required when audit.jwt is configured (the "iss" tokens must carry)');
    const both = problems({
      env: { ...TLS_ENV, TG_AUDIT_JWT_JWKS_FILE: jwks, TG_AUDIT_JWT_JWKS_URL: 'https://idp.test/jwks', TG_AUDIT_JWT_ISSUER: 'i', TG_AUDIT_JWT_AUDIENCE: 'a' },
    });
    expect(both).toEqual(['config: audit.jwt: set exactly one of audit.jwt.jwksUrl and audit.jwt.jwksFile (got both)']);
  });
  it('requires https for a remote JWKS except on loopback', () => {
    expect(problems({ env: { ...TLS_ENV, TG_AUDIT_JWT_JWKS_URL: 'http://idp.test/jwks', TG_AUDIT_JWT_ISSUER: 'i', TG_AUDIT_JWT_AUDIENCE: 'a' } })[0]).toBe(
      'config: audit.jwt.jwksUrl: "http://idp.test/jwks" is not an https:// URL (plain http is accepted for loopback hosts only) (from env TG_AUDIT_JWT_JWKS_URL)',
    );
    expect(
      loadConfig({ env: { ...TLS_ENV, TG_AUDIT_JWT_JWKS_URL: 'http://127.0.0.1:9/jwks', TG_AUDIT_JWT_ISSUER: 'i', TG_AUDIT_JWT_AUDIENCE: 'a' } }).config.audit
        .jwt?.jwksUrl,
    ).toBe('http://127.0.0.1:9/jwks');
  });
  it('checks that a JWKS file is a JWKS', () => {
    const bad = join(dir, 'bad-jwks.json');
    writeFileSync(bad, '{"nokeys": true}');
    expect(problems({ env: { ...TLS_ENV, TG_AUDIT_JWT_JWKS_FILE: bad, TG_AUDIT_JWT_ISSUER: 'i', TG_AUDIT_JWT_AUDIENCE: 'a' } })[0]).toMatch(/is not a JWKS/);
  });
});

describe('finalizerGuards', () => {
  const good = `
finalizerGuards:
  - finalizer: example.com/cleanup
    resource: { group: example.com, version: v1, resource: widgets, kind: Widget, namespaced: true }
    ignoreLabel: example.com/copy
    controller: { displayName: widget-operator, deploymentSelector: "app=widget-operator", requireClusterRoleBinding: false }
`;
  it('adds configured guards after the built-in OLM guard', () => {
    const { config } = loadConfig({ file: yamlFile(good), env: TLS_ENV });
    expect(config.finalizerGuards).toEqual([
      {
        finalizer: 'example.com/cleanup',
        resource: { group: 'example.com', version: 'v1', resource: 'widgets', kind: 'Widget', namespaced: true },
        ignoreLabel: 'example.com/copy',
        controller: { displayName: 'widget-operator', deploymentSelector: 'app=widget-operator', requireClusterRoleBinding: false },
      },
    ]);
    expect(policySettings(config).finalizerGuards.map((g) => g.finalizer)).toEqual([CSV_CLEANUP_FINALIZER, 'example.com/cleanup']);
  });
  it('loads the policy settings of a file without TLS (check, diagnose, review), and still refuses bad guards', () => {
    const settings = loadPolicySettings(yamlFile(good));
    expect(settings.finalizerGuards.map((g) => g.finalizer)).toEqual([CSV_CLEANUP_FINALIZER, 'example.com/cleanup']);
    expect(() => loadConfig({ file: yamlFile(good) })).toThrow(/tls\.certFile: is required/);
    expect(() => loadPolicySettings(yamlFile('finalizerGuards:\n  - finalizer: example.com/x\n'))).toThrow(/finalizerGuards\[0\]\.resource: is required/);
  });

  it('requireClusterRoleBinding defaults to true; the core group is ""', () => {
    const file = yamlFile(`
finalizerGuards:
  - finalizer: example.com/x
    resource: { group: "", version: v1, resource: configmaps, kind: ConfigMap, namespaced: true }
    controller: { displayName: x, deploymentSelector: app=x }
`);
    expect(loadConfig({ file, env: TLS_ENV }).config.finalizerGuards[0]?.controller.requireClusterRoleBinding).toBe(true);
  });
  it('names each bad field by its index', () => {
    const file = yamlFile(`
finalizerGuards:
  - finalizer: operators.coreos.com/csv-cleanup
    resource: { group: x.io, version: one, resource: Widgets, kind: widget, namespaced: yes, scope: Cluster }
    controller: { displayName: x, deploymentSelector: "app in (a", requireClusterRoleBinding: "no" }
  - finalizer: a.io/b
`);
    const p = problems({ file, env: TLS_ENV });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config: finalizerGuards\[0\]\.finalizer: "operators\.coreos\.com\/csv-cleanup" is already guarded \(built in\)/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.resource\.scope: unknown key; allowed here: group, version, resource, kind, namespaced/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.resource\.version: "one" is not an API version such as v1 or v1alpha1/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.resource\.resource: "Widgets" is not a lower-case plural resource name/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.resource\.kind: "widget" is not a Kind in CamelCase/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.resource\.namespaced: "yes" is not true or false/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.controller\.deploymentSelector: "app in \(a" is not a label selector/),
        expect.stringMatching(/^config: finalizerGuards\[0\]\.controller\.requireClusterRoleBinding: "no" is not true or false/),
        expect.stringMatching(/^config: finalizerGuards\[1\]\.resource: is required/),
        expect.stringMatching(/^config: finalizerGuards\[1\]\.controller: is required/),
      ]),
    );
  });
  it('is file-only and must be a list', () => {
    expect(problems({ file: yamlFile('finalizerGuards: {}\n'), env: TLS_ENV })[0]).toMatch(/^config: finalizerGuards: \{\} is not a list of finalizer guards/);
  });
});

describe('key descriptions', () => {
  it('derives env names from keys', () => {
    expect(envNameFor('tls.clientCAFile')).toBe('TG_TLS_CLIENT_CA_FILE');
    expect(envNameFor('policies.olm-orphaned-finalizers.mode')).toBe('TG_POLICIES_OLM_ORPHANED_FINALIZERS_MODE');
    expect(envNameFor('liveLookup.timeoutMs')).toBe('TG_LIVE_LOOKUP_TIMEOUT_MS');
    expect(envNameFor('audit.jwt.jwksUrl')).toBe('TG_AUDIT_JWT_JWKS_URL');
  });
  it('lists every key once with a default', () => {
    const keys = describeConfigKeys();
    expect(new Set(keys.map((k) => k.key)).size).toBe(keys.length);
    expect(keys.find((k) => k.key === 'listen.port')).toMatchObject({ env: 'TG_LISTEN_PORT', flag: '--port', default: '8443' });
    expect(keys.find((k) => k.key === 'finalizerGuards')?.env).toBeUndefined();
  });
  it('did-you-mean stays quiet when nothing is close', () => {
    expect(didYouMean('zzzzzz', ['listen', 'tls'])).toBe('');
    expect(didYouMean('lisen', ['listen', 'tls'])).toBe(' (did you mean "listen"?)');
  });
});

describe('types from the schema', () => {
  it('the loaded config has the types the schema declares', () => {
    const { config } = loadConfig({ env: TLS_ENV });
    expectTypeOf(config.undecided).toEqualTypeOf<UndecidedAction>();
    expectTypeOf(config.log.level).toEqualTypeOf<LogLevel>();
    expectTypeOf(config.policies['helm-uninstall-namespace'].mode).toEqualTypeOf<Mode>();
    expectTypeOf(config.tls.certFile).toEqualTypeOf<string>();
    expectTypeOf(config.tls.clientCAFile).toEqualTypeOf<string | undefined>();
    expectTypeOf(config.kubeconfig).toEqualTypeOf<string | undefined>();
    expectTypeOf(config.finalizerGuards).toExtend<FinalizerGuard[]>();
    expect(config.undecided).toBe('allow');
  });
  it('policy settings of a file: every key is still checked, only the TLS files may be unset', () => {
    expect(() => loadPolicySettings(yamlFile('listen: { port: 70000 }\nundecided: maybe\n'))).toThrow(
      /listen\.port: 70000 is not an integer between 0 and 65535[^\n]*\nconfig: undecided: "maybe" is not one of allow, deny/,
    );
    expect(loadPolicySettings(yamlFile('guardNamespace: ops\n')).exemptNamespaces).toEqual(['kube-system', 'ops']);
  });
  it('a finalizer guard that is not a mapping is one problem, not one per field', () => {
    expect(problems({ file: yamlFile('finalizerGuards:\n  - example.com/x\n'), env: TLS_ENV })).toEqual([
      expect.stringMatching(
        /^config: finalizerGuards\[0\]: "example\.com\/x" is not a mapping; expected keys finalizer, resource, ignoreLabel, controller \(in config-\d+\.yaml\)$/,
      ),
    ]);
  });
});
