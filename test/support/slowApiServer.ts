// The slow-API-server setup that test/integration/slowApiServer.test.ts asserts on and `npm run
// bench` (test/bench/slowApiServer.ts) times: the real control plane, a delaying proxy in front of
// it (test/cluster/delayProxy.ts), the guard reading the cluster through the proxy, and a request
// whose review needs three live reads in sequence. Plus what both read back: kube-apiserver's audit
// events of one object, the guard's decision log lines, the guard's metrics.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../cluster/controlPlane.ts';
import { kubeconfigVia, startDelayProxy, type DelayProxy } from '../cluster/delayProxy.ts';
import type { RunResult } from '../cluster/proc.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { readAuditEvents } from '../scenarios/harness.ts';

/**
 * The review's budget and the API server's delay per chunk: each live read alone (one delayed
 * answer on a warm connection) fits in the budget, two in sequence do not.
 */
export const SLOW = { budgetMs: 1000, delayMs: 700 } as const;

export const SLOW_NS = 'slow-api';
/** Where the other `web` release is uninstalling. */
const OTHER_NS = 'slow-other';
const CHART = join(import.meta.dirname, '../scenarios/charts/simple-app');

export interface SlowApiSetup {
  cp: ControlPlane;
  proxy: DelayProxy;
  guard: Guard;
  /**
   * `kubectl delete configmap web-config -n slow-api --dry-run=server`: a hand DELETE of a
   * Helm-owned object while a release of the same name elsewhere is uninstalling (incident B's
   * shape). Its review reads live, in sequence: the owner's release records, the uninstalling
   * release's payload, and that release's own copy of the object.
   */
  deleteNeedingThreeReads(): Promise<RunResult>;
  stop(): Promise<void>;
}

/** `startCluster`: a control plane of its own by default (the bench), the run's shared one in the test. */
export async function startSlowApiSetup(
  log?: (line: string) => void,
  startCluster: (o: ControlPlaneOptions) => Promise<ControlPlane> = startControlPlane,
): Promise<SlowApiSetup> {
  const cp = await startCluster({ olm: 'none', ...(log ? { log } : {}) });
  const stops: Array<() => Promise<void>> = [() => cp.stop()];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const proxy = await startDelayProxy(cp.server);
    stops.push(() => proxy.close());
    const viaProxy = kubeconfigVia(cp.kubeconfigPath, proxy.url, join(cp.dir, 'kubeconfig-via-delay-proxy'));
    const guard = await startGuard(
      { ...cp, kubeconfigPath: viaProxy },
      {
        modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' },
        extraYaml: `liveLookup:\n  timeoutMs: ${SLOW.budgetMs}`,
        ...(log ? { log } : {}),
      },
    );
    stops.push(() => guard.stop());
    await guard.register('Fail');
    for (const ns of [SLOW_NS, OTHER_NS]) {
      await must(cp.kubectl(['create', 'namespace', ns]));
      await must(cp.helm(3, ['install', 'web', CHART, '-n', ns]));
    }
    // The other release's uninstall has begun: Helm's first step writes status uninstalling (ARCHITECTURE.md §1B).
    const nowS = String(Math.floor(Date.now() / 1000));
    await must(cp.kubectl(['label', 'secret', 'sh.helm.release.v1.web.v1', '-n', OTHER_NS, 'status=uninstalling', `modifiedAt=${nowS}`, '--overwrite']));
    return {
      cp,
      proxy,
      guard,
      stop,
      deleteNeedingThreeReads: () => cp.kubectl(['delete', 'configmap', 'web-config', '-n', SLOW_NS, '--dry-run=server']),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function must(run: Promise<RunResult>): Promise<void> {
  const r = await run;
  if (r.code !== 0) throw new Error(`slow API server setup failed (exit ${r.code}): ${r.stderr}`);
}

/** kube-apiserver's audit annotation when a validating webhook failed open (k8s.io/apiserver, validating/dispatcher.go). */
export const FAILED_OPEN_PREFIX = 'failed-open.validating.webhook.admission.k8s.io/';

export interface ObjectAuditEvent {
  annotations?: Record<string, string>;
  /** ResponseComplete minus RequestReceived, as kube-apiserver timed the request. */
  latencyMs: number;
}

/** The ResponseComplete events of one object's requests, oldest first. */
export function auditEventsOf(path: string, o: { verb: string; resource: string; name: string; namespace: string }): ObjectAuditEvent[] {
  return readAuditEvents(path)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.verb === o.verb &&
        e.objectRef?.resource === o.resource &&
        e.objectRef.name === o.name &&
        e.objectRef.namespace === o.namespace,
    )
    .map((e) => ({
      ...(e.annotations ? { annotations: e.annotations } : {}),
      latencyMs: Date.parse(e.stageTimestamp ?? '') - Date.parse(e.requestReceivedTimestamp ?? ''),
    }));
}

export interface DecisionLine {
  policy?: string;
  verdict?: string;
  reason?: string;
  latencyMs?: number;
}

/** The guard's "decision" log lines (one per policy per review). */
export function decisionLines(logPath: string): DecisionLine[] {
  return readFileSync(logPath, 'utf8')
    .split('\n')
    .flatMap((line) => {
      if (!line.includes('"msg":"decision"')) return [];
      try {
        return [JSON.parse(line) as DecisionLine];
      } catch {
        return [];
      }
    });
}

/** The sum of the guard's /metrics samples of `name` that carry `labels` (0 when absent). */
export async function guardMetric(guard: Guard, name: string, labels: Record<string, string>): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest(`${guard.url}/metrics`, { ca: guard.certs.caPem, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics: no answer')));
    req.on('error', reject);
    req.end();
  });
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`).exec(line);
    if (!match) continue;
    const labelText = (match[1] ?? '').split(',');
    if (want.every((w) => labelText.includes(w))) sum += Number(match[2]);
  }
  return sum;
}
