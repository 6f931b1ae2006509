// Kyverno's admission controller, built from its Go module at the pinned version
// (test/cluster/kyverno/build.sh, never in CI), as a host process against the loopback control
// plane: the comparison arm of the apiserver-path bench and of kyvernoVerdicts.test.ts.
//
// How it runs out of cluster (from cmd/kyverno and pkg/config of the pinned module):
//   --serverIP=127.0.0.1:PORT  registers every webhook with clientConfig.url https://127.0.0.1:PORT/...
//                              instead of a Service, adds 127.0.0.1 to the serving certificate, and
//                              turns off the Deployment-based rollout/going-down checks;
//   --webhookServerHost/Port   where it serves (default 0.0.0.0:9443);
//   --caSecretName/--tlsSecretName  required: it generates its own CA and serving pair into these
//                              Secrets of its namespace (as the Helm chart names them);
//   KYVERNO_NAMESPACE, KYVERNO_SERVICEACCOUNT_NAME, KYVERNO_DEPLOYMENT, KYVERNO_POD_NAME,
//   KYVERNO_SVC, KYVERNO_ROLE_NAME, INIT_CONFIG, METRICS_CONFIG  what the chart's Deployment sets;
//                              the pod name is its leader-election identity (Lease "kyverno"),
//                              which a single process wins at once;
//   --kubeconfig               the cluster's admin kubeconfig (the chart's ClusterRoles are not
//                              installed; RBAC is not what is being compared).
// Metrics (OpenTelemetry/Prometheus) are served on a free 127.0.0.1 port, as in cluster they are
// on; the controller-runtime metrics server (":8080" by default) is turned off.
// It stops with the cluster like helm-controller does (flux/helmController.ts): on stop(), on
// process exit (proc.ts), through the cluster's watchdog, and when the cluster's dir disappears
// or its API server stays unreachable. stop() also removes the webhook configurations it
// registered: they point at a port nobody serves any more, and some fail closed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { ControlPlane } from '../controlPlane.ts';
import { cacheDir } from '../paths.ts';
import { runBuildScript } from '../buildScript.ts';
import { applyCrdDir } from '../crds.ts';
import { freePort, GiveUp, startDaemon, tail, waitFor } from '../proc.ts';
import { stopWithCluster } from '../stopWithCluster.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const KYVERNO_NAMESPACE = 'kyverno';
/** The label Kyverno puts on every webhook configuration it manages. */
const MANAGED_BY = 'webhook.kyverno.io/managed-by=kyverno';
/** Always registered once its leader controllers run and its certificate exists. */
const POLICY_WEBHOOK = 'kyverno-policy-validating-webhook-cfg';
export const POLICY_FILE = join(here, 'orphanedFinalizersPolicy.yaml');

/** KYVERNO_VERSION from versions.env (paths.ts's Versions does not list it: only this arm uses it). */
export function kyvernoVersion(): string {
  const text = readFileSync(join(here, '..', 'versions.env'), 'utf8');
  const m = /^\s*KYVERNO_VERSION=(\S+)\s*$/m.exec(text);
  if (!m?.[1]) throw new Error('test/cluster/versions.env: KYVERNO_VERSION missing');
  return m[1];
}

export function kyvernoBinPath(): string {
  return join(cacheDir(), 'bin', `kyverno-${kyvernoVersion()}`);
}

export function kyvernoDataDir(): string {
  return join(cacheDir(), 'data', `kyverno-${kyvernoVersion()}`);
}

/** Whether build.sh has left the binary and the CRDs in the cache. */
export function kyvernoBuilt(): boolean {
  return existsSync(kyvernoBinPath()) && existsSync(join(kyvernoDataDir(), '.complete'));
}

/** Runs build.sh unless the binary is cached, passing its progress lines to `log` as they come. */
export async function ensureKyvernoBuilt(log: (line: string) => void, timeoutMs = 60 * 60_000): Promise<string> {
  if (kyvernoBuilt()) return kyvernoBinPath();
  log(`Kyverno ${kyvernoVersion()} is not built yet: running test/cluster/kyverno/build.sh (the first build takes ~20 minutes on 2 cores)`);
  await runBuildScript('Kyverno', join(here, 'build.sh'), log, timeoutMs);
  if (!kyvernoBuilt()) throw new Error('building Kyverno: build.sh exited 0 but left no binary and CRDs in the cache');
  return kyvernoBinPath();
}

export interface KyvernoPolicyOptions {
  /** Overrides the file's webhookConfiguration.failurePolicy (Ignore, as the guard registers itself). */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Only namespaces carrying these labels: the policy's own match and a CEL matchCondition, so the API server does not call Kyverno for the rest. */
  namespaceLabels?: Record<string, string>;
}

type PolicyDoc = {
  metadata: { name: string };
  spec: {
    webhookConfiguration?: { failurePolicy?: string; matchConditions?: Array<{ name: string; expression: string }> };
    rules: Array<{ match: { any?: Array<{ resources: Record<string, unknown> }> } }>;
  };
};

/** orphanedFinalizersPolicy.yaml, adjusted for where it is used. */
export function orphanedFinalizersPolicy(o: KyvernoPolicyOptions = {}): PolicyDoc {
  const doc = parseYaml(readFileSync(POLICY_FILE, 'utf8')) as PolicyDoc;
  const wc = (doc.spec.webhookConfiguration ??= {});
  if (o.failurePolicy) wc.failurePolicy = o.failurePolicy;
  const labels = Object.entries(o.namespaceLabels ?? {});
  if (labels.length > 0) {
    for (const rule of doc.spec.rules) {
      for (const m of rule.match.any ?? []) m.resources['selector'] = { matchLabels: Object.fromEntries(labels) };
    }
    // A namespace DELETE carries the namespace as oldObject; for a Namespace the labels are its own.
    const cel = labels.map(([k, v]) => `oldObject.metadata.labels[${JSON.stringify(k)}] == ${JSON.stringify(v)}`).join(' && ');
    (wc.matchConditions ??= []).push({
      name: 'selected-namespaces',
      expression: `oldObject != null && has(oldObject.metadata.labels) && ${labels.map(([k]) => `${JSON.stringify(k)} in oldObject.metadata.labels`).join(' && ')} && ${cel}`,
    });
  }
  return doc;
}

/** Server-side applies Kyverno's CRDs (several exceed the client-side apply annotation limit) and waits until they are Established. */
export async function applyKyvernoCrds(cp: ControlPlane, timeoutMs = 60_000): Promise<void> {
  await applyCrdDir(cp, 'Kyverno', join(kyvernoDataDir(), 'crds'), timeoutMs);
}

/** CLK_TCK: /proc/PID/stat counts CPU time in these ticks. */
let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function procStatus(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces): utime and stime are 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) / clockTicks()) * 1e6;
  } catch {
    return Number.NaN;
  }
}

function httpsStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    // Only a liveness probe: the certificate is Kyverno's own self-signed CA's.
    const req = httpsRequest(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface Kyverno {
  version: string;
  pid: number | undefined;
  logPath: string;
  /** https://127.0.0.1:PORT, the URL its webhooks are registered with. */
  url: string;
  /** Milliseconds from spawn until its webhooks were registered and it answered. */
  readyInMs: number;
  isRunning(): boolean;
  logTail(lines?: number): string;
  /** VmRSS and VmHWM (peak) of the process, bytes. */
  procRss(): { rss: number; hwm: number };
  /** User + system CPU time of the process so far, microseconds. */
  cpuMicros(): number;
  /** kyverno_admission_requests_total summed over its labels (NaN when metrics cannot be read). */
  admissionRequests(): Promise<number>;
  /** Applies a ClusterPolicy and waits until Kyverno reports it Ready and its webhook rules are registered. */
  applyPolicy(doc: PolicyDoc, timeoutMs?: number): Promise<void>;
  deletePolicy(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartKyvernoOptions {
  log?: (line: string) => void;
  timeoutMs?: number;
}

const WEBHOOK_KINDS = ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'] as const;

/** Removes every webhook configuration Kyverno registered (by its managed-by label). */
async function removeWebhooks(cp: ControlPlane): Promise<void> {
  const selector = encodeURIComponent(MANAGED_BY);
  for (const kind of WEBHOOK_KINDS) {
    await cp.client.request('DELETE', `/apis/admissionregistration.k8s.io/v1/${kind}?labelSelector=${selector}`, { timeoutMs: 10_000 });
  }
}

async function metricsTotal(url: string): Promise<number> {
  const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
  const text = await r.text();
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^kyverno_admission_requests_total(?:\{[^}]*\})?\s+([0-9.eE+-]+)/.exec(line);
    if (m?.[1]) {
      sum += Number(m[1]);
      seen = true;
    }
  }
  return seen ? sum : 0;
}

/**
 * Installs the CRDs and the namespace, then runs Kyverno until stop(). Resolves once its webhook
 * server answers and it has registered its (policy) webhooks, which needs its certificate and
 * its leader controllers.
 */
export async function startKyverno(cp: ControlPlane, o: StartKyvernoOptions = {}): Promise<Kyverno> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[kyverno] ${l}\n`));
  const timeoutMs = o.timeoutMs ?? 120_000;
  const bin = kyvernoBinPath();
  if (!kyvernoBuilt()) throw new Error(`Kyverno or its CRDs missing (${bin}, ${kyvernoDataDir()}): run test/cluster/kyverno/build.sh first`);
  const version = kyvernoVersion();
  await applyKyvernoCrds(cp, timeoutMs);
  const ns = await cp.kubectl(['create', 'namespace', KYVERNO_NAMESPACE]);
  if (ns.code !== 0 && !ns.stderr.includes('AlreadyExists')) throw new Error(`creating namespace ${KYVERNO_NAMESPACE} failed: ${ns.stderr}`);

  const dir = join(cp.dir, 'kyverno');
  mkdirSync(join(dir, 'home'), { recursive: true });
  const [webhookPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  const url = `https://127.0.0.1:${webhookPort}`;
  const groupsFile = join(cp.dir, 'pgids');
  const t0 = Date.now();
  const daemon = startDaemon({
    name: 'kyverno',
    cmd: bin,
    args: [
      `--kubeconfig=${cp.kubeconfigPath}`,
      `--serverIP=127.0.0.1:${webhookPort}`,
      '--webhookServerHost=127.0.0.1',
      `--webhookServerPort=${webhookPort}`,
      // The Secret names the Helm chart passes (service kyverno-svc in namespace kyverno).
      `--caSecretName=kyverno-svc.${KYVERNO_NAMESPACE}.svc.kyverno-tls-ca`,
      `--tlsSecretName=kyverno-svc.${KYVERNO_NAMESPACE}.svc.kyverno-tls-pair`,
      `--backgroundServiceAccountName=system:serviceaccount:${KYVERNO_NAMESPACE}:kyverno-background-controller`,
      `--reportsServiceAccountName=system:serviceaccount:${KYVERNO_NAMESPACE}:kyverno-reports-controller`,
      '--metricsHost=127.0.0.1',
      `--metricsPort=${metricsPort}`,
      '--controllerRuntimeMetricsAddress=0',
      // A lost process must not hold the lease for the default 6 x 2 s if restarted on the same cluster.
      '--leaderElectionRetryPeriod=1s',
      '--disableLogColor',
    ],
    logDir: join(cp.dir, 'logs'),
    ...(existsSync(groupsFile) ? { groupsFile } : {}),
    env: {
      PATH: process.env.PATH,
      HOME: join(dir, 'home'),
      KYVERNO_NAMESPACE,
      KYVERNO_SERVICEACCOUNT_NAME: 'kyverno-admission-controller',
      KYVERNO_ROLE_NAME: 'kyverno:admission-controller',
      KYVERNO_DEPLOYMENT: 'kyverno-admission-controller',
      KYVERNO_SVC: 'kyverno-svc',
      KYVERNO_POD_NAME: `kyverno-${hostname()}-${process.pid}`,
      INIT_CONFIG: 'kyverno',
      METRICS_CONFIG: 'kyverno-metrics',
    },
  });
  const cancelWatch = stopWithCluster(cp, daemon, 'kyverno', log);
  const stopAll = async (): Promise<void> => {
    cancelWatch();
    await daemon.stop(5000);
    await removeWebhooks(cp).catch((e: unknown) => log(`removing Kyverno's webhook configurations failed: ${String(e)}`));
  };
  try {
    await waitFor(
      "Kyverno's webhook server and its policy webhook registered",
      timeoutMs,
      async () => {
        if (!daemon.isRunning()) throw new GiveUp(`kyverno exited:\n${tail(daemon.logPath, 30)}`);
        if ((await httpsStatus(`${url}/health/readiness`).catch(() => 0)) !== 200) return undefined;
        const wh = await cp.client.get(`/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${POLICY_WEBHOOK}`);
        return wh ? true : undefined;
      },
      250,
    );
  } catch (e) {
    await stopAll();
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n----- kyverno log\n${tail(daemon.logPath, 40)}`, { cause: e });
  }
  const readyInMs = Date.now() - t0;
  const pid = daemon.child.pid;
  log(`kyverno ${version} ready in ${(readyInMs / 1000).toFixed(1)}s (pid ${pid}, webhooks at ${url})`);
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

  return {
    version,
    pid,
    logPath: daemon.logPath,
    url,
    readyInMs,
    isRunning: () => daemon.isRunning(),
    logTail: (lines = 40) => tail(daemon.logPath, lines),
    procRss: () => ({ rss: procStatus(pid, 'VmRSS'), hwm: procStatus(pid, 'VmHWM') }),
    cpuMicros: () => cpuMicros(pid),
    admissionRequests: () => metricsTotal(metricsUrl).catch(() => Number.NaN),
    async applyPolicy(doc, waitMs = timeoutMs) {
      const r = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(doc) });
      if (r.code !== 0) throw new Error(`applying ClusterPolicy ${doc.metadata.name} failed:\n${r.stdout}\n${r.stderr}`);
      const name = doc.metadata.name;
      await waitFor(
        `ClusterPolicy ${name} Ready and its webhook registered`,
        waitMs,
        async () => {
          if (!daemon.isRunning()) throw new GiveUp(`kyverno exited:\n${tail(daemon.logPath, 30)}`);
          const p = await cp.client.get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(`/apis/kyverno.io/v1/clusterpolicies/${name}`);
          if (!p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
          // Fine-grained (per-policy) webhooks carry the policy's name.
          const list = await cp.client.get<{ items: Array<{ webhooks?: Array<{ name: string; rules?: Array<{ resources?: string[] }> }> }> }>(
            `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations?labelSelector=${encodeURIComponent(MANAGED_BY)}`,
          );
          const hooks = (list?.items ?? []).flatMap((c) => c.webhooks ?? []);
          return hooks.some((h) => h.rules?.some((rule) => rule.resources?.includes('namespaces'))) ? true : undefined;
        },
        250,
      );
    },
    async deletePolicy(name) {
      await cp.client.request('DELETE', `/apis/kyverno.io/v1/clusterpolicies/${name}`);
    },
    stop: stopAll,
  };
}
