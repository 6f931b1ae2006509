// The guard as a host process next to the loopback cluster: `node bin/teardown-guard.js serve
// --config FILE`, serving HTTPS on 127.0.0.1 with a certificate from certs/generate.sh, and
// registered with a ValidatingWebhookConfiguration whose clientConfig.url points at it.
// Everything that depends on the guard's config keys or webhook rules is in guardConfigYaml()
// and webhookConfigurationYaml(), so adjusting to the server means editing those two only.
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { repoRoot } from '../cluster/paths.ts';
import type { Mode } from '../../src/policies/declaration.ts';
import type { PolicyName } from '../../src/policies/index.ts';
import { freePort, GiveUp, registerDir, runOk, sleep, startDaemon, tail, waitFor, type Daemon } from '../cluster/proc.ts';
import { decisionsIn, type DecisionLog, type GuardDecision } from './guardInPath.ts';
import { lineOffset, linesSince } from './harness.ts';

export type { Mode };

/** Modes the guard's config file sets; a policy left out runs at its declared default. */
export type GuardModes = Partial<Record<PolicyName, Mode>>;

export const GUARD_ENTRY = join(repoRoot, 'bin', 'teardown-guard.js');
export const WEBHOOK_NAME = 'teardown-guard';

export interface GuardCerts {
  dir: string;
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

/** Serving certificate for 127.0.0.1 from the project's own certs/generate.sh (its CA is the caBundle). */
export async function makeGuardCerts(dir: string): Promise<GuardCerts> {
  mkdirSync(dir, { recursive: true });
  const script = join(repoRoot, 'certs', 'generate.sh');
  await runOk('bash', [script, '--out', dir, '--no-kustomize', '--days', '2', '--ca-days', '2'], { timeoutMs: 60_000 });
  const caFile = join(dir, 'ca.crt');
  return { dir, caFile, caPem: readFileSync(caFile, 'utf8'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
}

export interface GuardConfigInput {
  port: number;
  certs: GuardCerts;
  kubeconfig?: string;
  modes: GuardModes;
  /** CA that client certificates on POST /audit must chain to (the cluster CA signs the apiserver's). */
  auditClientCAFile?: string;
  logLevel?: string;
  /** Further top-level config lines (e.g. `undecided: deny`), appended as they are. */
  extraYaml?: string;
}

/** The guard's config file (keys per src/config.ts). */
export function guardConfigYaml(c: GuardConfigInput): string {
  const lines = [
    'listen:',
    '  host: 127.0.0.1',
    `  port: ${c.port}`,
    'tls:',
    `  certFile: ${JSON.stringify(c.certs.certFile)}`,
    `  keyFile: ${JSON.stringify(c.certs.keyFile)}`,
    ...(c.auditClientCAFile ? [`  clientCAFile: ${JSON.stringify(c.auditClientCAFile)}`] : []),
    ...(c.kubeconfig !== undefined ? [`kubeconfig: ${JSON.stringify(c.kubeconfig)}`] : []),
    'policies:',
    ...Object.entries(c.modes).map(([name, mode]) => `  ${name}:\n    mode: ${mode}`),
    'log:',
    `  level: ${c.logLevel ?? 'info'}`,
    'shutdown:',
    '  delayMs: 0',
    '  drainTimeoutMs: 2000',
    ...(c.extraYaml ? [c.extraYaml.trimEnd()] : []),
    '',
  ];
  return lines.join('\n');
}

export const WEBHOOK_MANIFEST = join(repoRoot, 'manifests', 'base', 'validatingwebhookconfiguration.yaml');

type Webhook = { name: string; clientConfig?: unknown; failurePolicy?: string } & Record<string, unknown>;

/**
 * The ValidatingWebhookConfiguration that points the apiserver at the host-process guard: the
 * project's own manifests/base/validatingwebhookconfiguration.yaml (rules, selectors,
 * matchConditions, failurePolicy) with each clientConfig replaced by {url, caBundle}, named
 * `name` (the manifest's name by default).
 */
export function webhookConfigurationYaml(url: string, caPem: string, failurePolicy?: 'Fail' | 'Ignore', name?: string): string {
  const caBundle = Buffer.from(caPem).toString('base64');
  const doc = parseYaml(readFileSync(WEBHOOK_MANIFEST, 'utf8')) as { metadata?: { name?: string }; webhooks?: Webhook[] } & Record<string, unknown>;
  doc.metadata = { name: name ?? doc.metadata?.name ?? WEBHOOK_NAME };
  for (const w of doc.webhooks ?? []) {
    w.clientConfig = { url, caBundle };
    if (failurePolicy) w.failurePolicy = failurePolicy;
  }
  return stringifyYaml(doc);
}

/** What a scenario does with the guard, wherever it runs (host process here, Pods: inClusterGuard.ts). */
export interface ScenarioGuard extends DecisionLog {
  /** Registers (or re-registers) the webhook configuration and waits until the apiserver calls it (failurePolicy: the manifest's unless given). */
  register(failurePolicy?: 'Fail' | 'Ignore'): Promise<void>;
  unregister(): Promise<void>;
  /** Applies new policy modes (same certificate and address). */
  setModes(modes: GuardModes): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The guard writes its decision lines off the review's path, at most 100 ms after the answer
 * (src/server/services.ts, LOG_FLUSH_INTERVAL_MS): a line is read only once this long has passed
 * and the log has stopped growing, or a test that reads it the instant kubectl returns sees nothing.
 */
const LOG_SETTLE_MS = 300;
const LOG_QUIET_MS = 150;
const LOG_SETTLE_CAP_MS = 3000;

/** Waits until a log another process writes has been flushed and is quiet (bounded). */
export async function logSettled(path: string): Promise<void> {
  const size = () => {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  };
  await sleep(LOG_SETTLE_MS);
  const until = Date.now() + LOG_SETTLE_CAP_MS;
  let last = size();
  while (Date.now() < until) {
    await sleep(LOG_QUIET_MS);
    const now = size();
    if (now === last) return;
    last = now;
  }
}

export interface Guard extends ScenarioGuard {
  port: number;
  /** The name of its ValidatingWebhookConfiguration (one per guard). */
  webhookConfigName: string;
  url: string;
  certs: GuardCerts;
  configPath: string;
  logPath: string;
  daemon: Daemon;
  logTail(lines?: number): string;
  /** Its decision lines after offset `from` (a lineOffset of logPath), once the log has been flushed. */
  decisionsSince(from: number): Promise<GuardDecision[]>;
}

export interface StartGuardOptions {
  modes?: GuardModes;
  /** Pre-picked port / certs (needed when the apiserver's audit webhook must point here before the guard starts). */
  port?: number;
  certs?: GuardCerts;
  logLevel?: string;
  extraYaml?: string;
  log?: (line: string) => void;
  timeoutMs?: number;
  /**
   * `serve --audit-only`, as the audit receiver Deployment runs it (no token): no kubeconfig in
   * its config, KUBECONFIG unset and HOME its own empty directory, so a receiver that tried to
   * read the API server would find no credentials and never become ready.
   */
  auditOnly?: boolean;
}

function httpsGet(url: string, caPem: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function startGuard(cp: ControlPlane, o: StartGuardOptions = {}): Promise<Guard> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[guard] ${l}\n`));
  // One directory per guard: two guards on one cluster (fault tests) must not share files.
  const dir = mkdtempSync(join(cp.dir, 'guard-'));
  const certs = o.certs ?? (await makeGuardCerts(join(dir, 'certs')));
  const port = o.port ?? (await freePort());
  const url = `https://127.0.0.1:${port}`;
  const configPath = join(dir, 'config.yaml');
  let modes: GuardModes = { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn', ...o.modes };
  const timeoutMs = o.timeoutMs ?? 60_000;

  const launch = async (): Promise<Daemon> => {
    writeFileSync(
      configPath,
      guardConfigYaml({
        port,
        certs,
        ...(o.auditOnly ? {} : { kubeconfig: cp.kubeconfigPath }),
        modes,
        auditClientCAFile: cp.ca.cert,
        ...(o.logLevel ? { logLevel: o.logLevel } : {}),
        ...(o.extraYaml ? { extraYaml: o.extraYaml } : {}),
      }),
    );
    const t0 = Date.now();
    const d = startDaemon({
      name: 'teardown-guard',
      cmd: process.execPath,
      args: [GUARD_ENTRY, 'serve', '--config', configPath, ...(o.auditOnly ? ['--audit-only'] : [])],
      logDir: dir,
      env: o.auditOnly
        ? { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'KUBECONFIG')), HOME: dir }
        : { ...process.env, KUBECONFIG: cp.kubeconfigPath },
    });
    await waitFor(
      'teardown-guard /readyz',
      timeoutMs,
      async () => {
        if (!d.isRunning()) throw new GiveUp(`teardown-guard exited:\n${tail(d.logPath, 30)}`);
        return (await httpsGet(`${url}/readyz`, certs.caPem)) === 200 ? true : undefined;
      },
      200,
    ).catch(async (e: unknown) => {
      await d.stop(2000);
      throw e;
    });
    log(`serving on ${url} in ${((Date.now() - t0) / 1000).toFixed(1)}s (modes ${JSON.stringify(modes)})`);
    return d;
  };

  let daemon = await launch();
  // Unique per guard: a guard of one test file never answers another's requests, and removing
  // one configuration leaves any other alone.
  const webhookConfigName = `${WEBHOOK_NAME}-${port}`;
  /**
   * Whether the apiserver sends a request to this guard now: a server-side dry-run DELETE of the
   * bootstrap ClusterRole `view` (every ClusterRole DELETE goes to the controller-rbac webhook;
   * a dry run changes nothing), and the guard's decision line on it.
   */
  const probe = async (): Promise<boolean> => {
    const from = lineOffset(daemon.logPath);
    const r = await cp.kubectl(['delete', 'clusterrole', 'view', '--dry-run=server']);
    if (r.code !== 0 && !/denied the request/.test(r.stderr)) throw new Error(`the probe DELETE failed: ${r.stderr}`);
    await logSettled(daemon.logPath);
    return decisionsIn(linesSince(daemon.logPath, from)).some((d) => d.object === 'ClusterRole view');
  };
  const guard: Guard = {
    port,
    url,
    certs,
    configPath,
    get logPath() {
      return daemon.logPath;
    },
    get daemon() {
      return daemon;
    },
    webhookConfigName,
    async register(failurePolicy) {
      const r = await cp.kubectl(['apply', '-f', '-'], { input: webhookConfigurationYaml(`${url}/validate`, certs.caPem, failurePolicy, webhookConfigName) });
      if (r.code !== 0) throw new Error(`registering the webhook failed: ${r.stderr}`);
      // The apiserver loads webhook configurations asynchronously: probe until the guard logs
      // its decision on the probe.
      await waitFor('webhook registered (the guard logged a decision on the probe)', 30_000, async () => ((await probe()) ? true : undefined), 250);
    },
    async unregister() {
      await cp.kubectl(['delete', 'validatingwebhookconfiguration', webhookConfigName, '--ignore-not-found']);
      // Until the apiserver has dropped the configuration, it still sends requests here.
      await waitFor('webhook unregistered (the probe no longer reaches the guard)', 30_000, async () => ((await probe()) ? undefined : true), 250);
    },
    async setModes(m) {
      modes = { ...modes, ...m };
      await daemon.stop(5000);
      daemon = await launch();
    },
    logTail: (lines = 40) => tail(daemon.logPath, lines),
    // Every start of this guard appends to the same log file.
    decisions: async () => {
      await logSettled(daemon.logPath);
      return decisionsIn(linesSince(daemon.logPath));
    },
    async decisionsSince(from) {
      await logSettled(daemon.logPath);
      return decisionsIn(linesSince(daemon.logPath, from));
    },
    async stop() {
      await daemon.stop(5000);
    },
  };
  return guard;
}

/**
 * Starts (once) and registers the guard for the WITH-guard parts of a scenario file. A scenario
 * that needs the guard fails when it cannot run, saying why; it never skips.
 */
export type StartScenarioGuard<G extends ScenarioGuard = ScenarioGuard> = (cp: ControlPlane, o: StartGuardOptions) => Promise<G>;

export class GuardSession<G extends ScenarioGuard = Guard> {
  private cp: () => ControlPlane;
  private start: StartScenarioGuard<G>;
  private guard: G | undefined;
  private failed: string | undefined;
  private registered = false;
  private modes = '';
  /** `start` runs the guard: a host process by default; test/scenarios/placement.ts passes Pods on the node. */
  constructor(cp: () => ControlPlane, start?: StartScenarioGuard<G>) {
    this.cp = cp;
    // Without `start`, G is the default Guard and startGuard returns one.
    this.start = start ?? (startGuard as unknown as StartScenarioGuard<G>);
  }
  async get(modes: GuardModes): Promise<G> {
    if (this.failed) throw new Error(`the scenario needs teardown-guard, which cannot run: ${this.failed}`);
    try {
      const key = JSON.stringify(modes);
      if (!this.guard) this.guard = await this.start(this.cp(), { modes });
      else if (key !== this.modes) await this.guard.setModes(modes);
      this.modes = key;
      if (!this.registered) {
        await this.guard.register();
        this.registered = true;
      }
      return this.guard;
    } catch (e) {
      this.failed = `the guard did not start: ${e instanceof Error ? e.message : String(e)}`;
      throw new Error(`the scenario needs teardown-guard: ${this.failed}`, { cause: e });
    }
  }
  /** Takes the guard out of the request path (for the WITHOUT-guard parts). */
  async detach(): Promise<void> {
    if (this.guard && this.registered) {
      await this.guard.unregister();
      this.registered = false;
    }
  }
  async stop(): Promise<void> {
    await this.detach().catch(() => undefined);
    await this.guard?.stop();
    this.guard = undefined;
  }
}

/**
 * A control plane whose apiserver ships its audit events (audit webhook backend, batch mode) to
 * the guard's POST /audit, plus the guard itself. The guard's port and certificate are picked
 * before the apiserver starts (its --audit-webhook-config-file names them); the guard then
 * authenticates the apiserver by its client certificate (signed by the cluster CA).
 */
export async function startControlPlaneWithGuardAudit(
  start: (auditWebhook: { url: string; caPem: string }) => Promise<ControlPlane>,
  o: Omit<StartGuardOptions, 'port' | 'certs'> = {},
): Promise<{ cp: ControlPlane; guard: Guard }> {
  const certDir = mkdtempSync(join(tmpdir(), 'tg-guard-certs-'));
  registerDir(certDir);
  const certs = await makeGuardCerts(certDir);
  const port = await freePort();
  const cp = await start({ url: `https://127.0.0.1:${port}/audit`, caPem: certs.caPem });
  try {
    const guard = await startGuard(cp, { ...o, port, certs });
    return { cp, guard };
  } catch (e) {
    await cp.stop();
    throw e;
  }
}
