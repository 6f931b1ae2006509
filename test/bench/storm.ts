// Section storm: a teardown storm through kube-apiserver, with and without the guard (issue 5,
// "a bigger storm"). On its own control plane: the populated one runs 200 olm-operator-like
// Deployments that count as alive, so no planted namespace there would be denied; and a fresh one
// keeps the section within minutes. Each arm creates `namespaces` namespaces of its own (most with
// a ConfigMap or two, every 20th with an OLM CSV carrying operators.coreos.com/csv-cleanup while
// no olm-operator exists, so deleting it would leave it Terminating for good), then `clients`
// clients, each a loop over its share, DELETE them all at once through kube-apiserver.
//
// Arms: baseline = no guard process and no webhook configuration (a cluster without the guard);
// guard = the bench's guard process (bundled, defaults) started before the arm's namespaces are
// created, registered with the shipped webhook configuration (failurePolicy Ignore); noop = the
// same process and configuration, pointed at its no-op handler (same HTTPS stack, answers allowed):
// what any webhook in that path costs kube-apiserver and this machine, so the guard's own share is
// guard over noop. The arm order flips every round so drift hits all alike; every ratio is against
// arms of the same run.
//
// Measured per arm: wall time of the DELETE calls (first sent to last answered), per-DELETE latency,
// and the time until every deletable namespace is gone (the namespace controller's work included).
// With the guard: denials (exactly the planted namespaces), fail-open (kube-apiserver's failed-open
// audit annotation, or an allowed DELETE the guard logged no decision for), undecided answers and
// live-read timeouts (deltas of the guard's /metrics). Nothing here asserts on timing.
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse as parseYaml } from 'yaml';
import type { KubeClient } from '../cluster/kubeClient.ts';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { applyOlmCrds } from '../cluster/olm.ts';
import { sleep, waitFor } from '../cluster/proc.ts';
import { decisionsIn, FAILED_OPEN_PREFIX, guardWebhookNames } from '../scenarios/guardInPath.ts';
import { linesSince, lineOffset } from '../scenarios/harness.ts';
import { logSettled, makeGuardCerts, webhookConfigurationYaml, WEBHOOK_NAME, type GuardCerts } from '../scenarios/guard.ts';
import { csvManifest } from '../scenarios/objects.ts';
import { startGuardChild, type GuardChild, type GuardChildOptions } from './guardChild.ts';
import { adminClients, createMany, CSV_CLEANUP, type CreateRequest } from './populate.ts';
import { summarizeValues, type LatencySummary } from './stats.ts';
import { metricSum, planStorm, shareOf, tallyStorm, type DeleteOutcome, type StormNamespace, type StormTally } from './stormTally.ts';

export type StormArm = 'baseline' | 'noop' | 'guard';

export interface StormOptions {
  namespaces: number;
  clients: number;
  /** Rounds of (baseline, guard), the order flipped every other round. */
  rounds: number;
  /** How the bench runs the guard process: bundled entry, Node options, extra environment. */
  guard: Pick<GuardChildOptions, 'entry' | 'nodeOptions' | 'env' | 'cpuProfDir'>;
  /** Bound on each wait for the namespace controller (ms). */
  goneTimeoutMs: number;
  log: (line: string) => void;
}

export interface StormRun {
  arm: StormArm;
  round: number;
  /** First DELETE sent to last DELETE answered, ms. */
  deleteWallMs: number;
  /** First DELETE sent until every namespace that can finish is gone, ms. */
  goneMs: number;
  /** Namespaces not gone when the wait gave up (0 when all went). */
  leftBehind: number;
  latency: LatencySummary;
  tally: StormTally;
  /** Planted namespaces still Terminating once the rest were gone (the baseline's hung teardowns). */
  hungTerminating: number;
  /** With the guard: deltas of its /metrics and of the requests its /validate received. */
  undecided?: number;
  liveReadTimeouts?: number;
  liveReads?: number;
  reviewsReceived?: number;
  /** Where a DELETE's webhook time goes: the guard process's CPU per request its registered handler (guard or no-op) received over the DELETE calls, its event-loop delay then, and (guard) each policy's own latency (decision lines). */
  guardCpuMsPerReview?: number;
  guardLoopDelayP99Ms?: number;
  /** TLS connections kube-apiserver opened to the guard during the DELETE calls. */
  guardTlsConnections?: number;
  policyLatency?: Record<string, { p50: number; p99: number }>;
}

export interface StormResult {
  namespaces: number;
  clients: number;
  planted: number;
  rounds: number;
  runs: StormRun[];
  /** The whole section, control plane start to stop, ms. */
  totalMs: number;
}

const RUN_LABEL = 'tg-bench/storm-run';
const HANG_LABEL = 'tg-bench/would-hang';
const PROBE_NS = 'tgs-probe';
const CSV_NAME = 'storm-operator.v1.0.0';
/** The client-side bound on one DELETE; the webhook's own is 5 s. */
const DELETE_TIMEOUT_MS = 30_000;
const POLL_MS = 500;

/** The arm order of each round: baseline first in even rounds, guard first in odd ones. */
export function armOrder(round: number): StormArm[] {
  return round % 2 === 0 ? ['baseline', 'noop', 'guard'] : ['guard', 'noop', 'baseline'];
}

function objectsOf(ns: StormNamespace, runId: string): CreateRequest[] {
  const labels: Record<string, string> = { [RUN_LABEL]: runId, ...(ns.wouldHang ? { [HANG_LABEL]: 'true' } : {}) };
  const out: CreateRequest[] = [
    { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels } } },
  ];
  for (let i = 0; i < ns.configMaps; i++) {
    out.push({
      method: 'POST',
      path: `/api/v1/namespaces/${ns.name}/configmaps`,
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `app-config-${i}` },
        data: { 'app.properties': `replicas=2\nlog.level=info\nshard=${i}\n` },
      },
    });
  }
  if (ns.wouldHang) {
    const csv = csvManifest(ns.name, CSV_NAME) as { metadata: Record<string, unknown> };
    csv.metadata['finalizers'] = [CSV_CLEANUP];
    out.push({ method: 'POST', path: `/apis/operators.coreos.com/v1alpha1/namespaces/${ns.name}/clusterserviceversions`, body: csv });
  }
  return out;
}

/** Creates the arm's namespaces and their content: each namespace first, then what goes in it. */
async function createStorm(
  cp: ControlPlane,
  clients: KubeClient[],
  plan: StormNamespace[],
  prefix: string,
  runId: string,
  log: (l: string) => void,
): Promise<void> {
  const all = plan.map((ns) => objectsOf(ns, runId));
  const run = { concurrency: 16, deadline: Date.now() + 10 * 60_000, log };
  await createMany(clients, 'storm namespaces', all.length, (i) => all[i]?.[0] as CreateRequest, run);
  const content = all.flatMap((objs) => objs.slice(1));
  await createMany(clients, 'storm content', content.length, (i) => content[i] as CreateRequest, run);
  // kube-controller-manager adds a ServiceAccount and kube-root-ca.crt to every new namespace;
  // the storm starts once that burst is over, so it is not part of either arm's figures.
  await waitFor(
    'kube-root-ca.crt in every storm namespace',
    120_000,
    async () => {
      const list = await cp.client.get<{ items: Array<{ metadata: { namespace: string } }> }>(
        '/api/v1/configmaps?fieldSelector=metadata.name%3Dkube-root-ca.crt',
      );
      const n = (list?.items ?? []).filter((c) => c.metadata.namespace.startsWith(prefix)).length;
      return n >= plan.length ? true : undefined;
    },
    1000,
  );
}

/** One DELETE's status (0 when no answer came) and message (a denial's reason, or the client's error). */
async function deleteNamespace(client: KubeClient, name: string): Promise<{ status: number; message: string }> {
  try {
    const r = await client.request<{ message?: string }>('DELETE', `/api/v1/namespaces/${name}`, { timeoutMs: DELETE_TIMEOUT_MS });
    return { status: r.status, message: typeof r.body === 'object' && r.body !== null ? (r.body.message ?? '') : r.text };
  } catch (err) {
    return { status: 0, message: err instanceof Error ? err.message : String(err) };
  }
}

/** Each client a loop over its share, all at once; every DELETE's answer and latency. */
async function storm(clients: KubeClient[], plan: StormNamespace[]): Promise<{ outcomes: DeleteOutcome[]; t0: number; wallMs: number }> {
  const outcomes: DeleteOutcome[] = [];
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (client, c) => {
      for (const ns of shareOf(plan, c, clients.length)) {
        const start = performance.now();
        const { status, message } = await deleteNamespace(client, ns.name);
        outcomes.push({ name: ns.name, status, ms: performance.now() - start, message: message.slice(0, 300) });
      }
    }),
  );
  return { outcomes, t0, wallMs: performance.now() - t0 };
}

interface NamespaceItem {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
}

async function runNamespaces(cp: ControlPlane, runId: string): Promise<NamespaceItem[]> {
  const list = await cp.client.get<{ items: NamespaceItem[] }>(`/api/v1/namespaces?labelSelector=${encodeURIComponent(`${RUN_LABEL}=${runId}`)}`);
  return list?.items ?? [];
}

/** Polls until no namespace of the run but the planted ones is left; ms since t0 and how many were left. */
async function waitDeletableGone(cp: ControlPlane, runId: string, t0: number, timeoutMs: number): Promise<{ goneMs: number; left: number; hung: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = await runNamespaces(cp, runId);
    const left = items.filter((n) => n.metadata.labels?.[HANG_LABEL] !== 'true').length;
    if (left === 0 || Date.now() > deadline) {
      const hung = items.filter((n) => n.metadata.labels?.[HANG_LABEL] === 'true' && n.metadata.deletionTimestamp).length;
      return { goneMs: performance.now() - t0, left, hung };
    }
    await sleep(POLL_MS);
  }
}

/** Removes the planted finalizers, deletes what is left of the run, and waits until nothing is. */
async function cleanUp(cp: ControlPlane, plan: StormNamespace[], runId: string, timeoutMs: number): Promise<void> {
  for (const ns of plan.filter((n) => n.wouldHang)) {
    await cp.client.request('PATCH', `/apis/operators.coreos.com/v1alpha1/namespaces/${ns.name}/clusterserviceversions/${CSV_NAME}`, {
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers: null } },
    });
    await cp.client.request('DELETE', `/api/v1/namespaces/${ns.name}`);
  }
  await waitFor('every storm namespace gone', timeoutMs, async () => ((await runNamespaces(cp, runId)).length === 0 ? true : undefined), 1000);
}

function httpsGetText(url: string, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

interface GuardCounters {
  undecided: number;
  liveTimeouts: number;
  liveReads: number;
}

async function guardCounters(guard: GuardChild, caPem: string): Promise<GuardCounters> {
  const text = await httpsGetText(`${guard.guardUrl}/metrics`, caPem);
  return {
    undecided: metricSum(text, 'teardown_guard_undecided_total'),
    liveTimeouts: metricSum(text, 'teardown_guard_live_read_timeouts_total'),
    liveReads: metricSum(text, 'teardown_guard_live_reads_total'),
  };
}

const WEBHOOKS_PATH = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

/** Which handler of the guard process an arm registers, and how many /validate requests it has received. */
interface Handler {
  url: string;
  requests: () => Promise<number>;
}

function handlerOf(guard: GuardChild, arm: StormArm): Handler {
  return arm === 'noop'
    ? { url: `${guard.noopUrl}/validate`, requests: async () => (await guard.stats()).noopRequests }
    : { url: `${guard.guardUrl}/validate`, requests: async () => (await guard.stats()).reviews };
}

/** Whether a dry-run DELETE of the probe namespace reached the handler. */
async function probeReaches(cp: ControlPlane, handler: Handler): Promise<boolean> {
  const before = await handler.requests();
  await cp.client.request('DELETE', `/api/v1/namespaces/${PROBE_NS}?dryRun=All`);
  return (await handler.requests()) > before;
}

/** The shipped webhook configuration (failurePolicy Ignore, as the manifests), pointed at the handler; waits until in force. */
async function register(cp: ControlPlane, handler: Handler, caPem: string): Promise<void> {
  const body = parseYaml(webhookConfigurationYaml(handler.url, caPem, 'Ignore', WEBHOOK_NAME)) as unknown;
  const r = await cp.client.request('POST', WEBHOOKS_PATH, { body });
  if (r.status >= 300) throw new Error(`registering the guard's webhooks: ${r.status} ${r.text.slice(0, 300)}`);
  await waitFor(`${handler.url} in the path of a namespace DELETE`, 30_000, async () => ((await probeReaches(cp, handler)) ? true : undefined), 250);
}

async function unregister(cp: ControlPlane, handler: Handler): Promise<void> {
  await cp.client.request('DELETE', `${WEBHOOKS_PATH}/${WEBHOOK_NAME}`);
  await waitFor(`${handler.url} out of the path of a namespace DELETE`, 30_000, async () => ((await probeReaches(cp, handler)) ? undefined : true), 250);
}

/** Namespaces whose storm DELETE kube-apiserver let through after failing to call a guard webhook (its audit log). */
function failedOpenIn(auditLogPath: string, from: number, names: ReadonlySet<string>): Set<string> {
  const webhooks = new Set(guardWebhookNames());
  const out = new Set<string>();
  for (const line of linesSince(auditLogPath, from)) {
    // Parse only what can matter: the audit log holds every ConfigMap and namespace-controller request too.
    if (!line.includes(FAILED_OPEN_PREFIX)) continue;
    const e = JSON.parse(line) as { verb?: string; objectRef?: { resource?: string; name?: string }; annotations?: Record<string, string> };
    if (e.verb !== 'delete' || e.objectRef?.resource !== 'namespaces' || !names.has(e.objectRef.name ?? '')) continue;
    if (Object.entries(e.annotations ?? {}).some(([k, v]) => k.startsWith(FAILED_OPEN_PREFIX) && webhooks.has(v))) out.add(e.objectRef.name ?? '');
  }
  return out;
}

/** The guard's namespace-DELETE decisions since byte `from` of its log: the namespaces answered, each policy's latencies. */
async function decisionsSince(guard: GuardChild, from: number): Promise<{ answered: Set<string>; latencyByPolicy: Map<string, number[]> }> {
  await logSettled(guard.logPath);
  const answered = new Set<string>();
  const latencyByPolicy = new Map<string, number[]>();
  for (const d of decisionsIn(linesSince(guard.logPath, from))) {
    if (d.operation !== 'DELETE' || !d.object.startsWith('Namespace ')) continue;
    answered.add(d.object.slice('Namespace '.length));
    if (typeof d.latencyMs === 'number') latencyByPolicy.set(d.policy, [...(latencyByPolicy.get(d.policy) ?? []), d.latencyMs]);
  }
  return { answered, latencyByPolicy };
}

function policyLatencies(byPolicy: Map<string, number[]>): Record<string, { p50: number; p99: number }> {
  return Object.fromEntries(
    [...byPolicy].map(([policy, values]) => {
      const s = summarizeValues(values);
      return [policy, { p50: s.p50, p99: s.p99 }];
    }),
  );
}

interface StormContext {
  cp: ControlPlane;
  clients: KubeClient[];
  certs: GuardCerts;
  o: StormOptions;
}

async function startGuard(ctx: StormContext, dir: string): Promise<GuardChild> {
  return startGuardChild({
    ...ctx.o.guard,
    dir,
    kubeconfig: ctx.cp.kubeconfigPath,
    certFile: ctx.certs.certFile,
    keyFile: ctx.certs.keyFile,
    maxLifetimeS: 30 * 60,
    syncTimeoutMs: 120_000,
  });
}

/** One arm of one round: create, storm, wait for the namespace controller, tally, clean up. */
async function runArm(ctx: StormContext, arm: StormArm, round: number): Promise<StormRun> {
  const { cp, o } = ctx;
  const runId = `r${round}-${arm}`;
  const prefix = `tgs-${round}-${arm[0]}-`;
  const plan = planStorm(prefix, o.namespaces);
  const say = (line: string): void => o.log(`round ${round + 1} ${arm}: ${line}`);
  // The guard runs before the arm's objects exist, as in a cluster it guards: they reach it as watch
  // events. The no-op arm runs the same process (its caches follow the same events), the no-op handler registered.
  const child = arm === 'baseline' ? undefined : await startGuard(ctx, join(cp.dir, `storm-${arm}-${round}`));
  const handler = child ? handlerOf(child, arm) : undefined;
  const guard = arm === 'guard' ? child : undefined;
  try {
    if (handler) await register(cp, handler, ctx.certs.caPem);
    await createStorm(cp, ctx.clients, plan, prefix, runId, say);
    const before = guard
      ? { counters: await guardCounters(guard, ctx.certs.caPem), reviews: (await guard.stats()).reviews, log: lineOffset(guard.logPath) }
      : undefined;
    const auditFrom = lineOffset(cp.auditLogPath);
    // Also resets the event-loop delay histogram, so the next stats cover the DELETE calls alone.
    const cpuFrom = child ? await child.stats() : undefined;
    const requestsFrom = handler ? await handler.requests() : 0;
    const { outcomes, t0, wallMs } = await storm(ctx.clients, plan);
    const cpuTo = child ? await child.stats() : undefined;
    const requestsTo = handler ? await handler.requests() : 0;
    // Read soon: the namespace controller's hundreds of thousands of requests to come are no concern of
    // this check. kube-apiserver writes a request's last audit event as its answer completes: a second's grace.
    await sleep(1000);
    const failedOpen = failedOpenIn(cp.auditLogPath, auditFrom, new Set(plan.map((n) => n.name)));
    say(`${outcomes.length} DELETEs by ${ctx.clients.length} clients in ${(wallMs / 1000).toFixed(1)} s; waiting for the namespace controller`);
    const gone = await waitDeletableGone(cp, runId, t0, o.goneTimeoutMs);
    const decisions = guard && before ? await decisionsSince(guard, before.log) : undefined;
    const tally = tallyStorm(plan, outcomes, {
      failedOpen,
      ...(decisions ? { answered: decisions.answered } : {}),
    });
    const run: StormRun = {
      arm,
      round,
      deleteWallMs: wallMs,
      goneMs: gone.goneMs,
      leftBehind: gone.left,
      latency: summarizeValues(outcomes.map((r) => r.ms)),
      tally,
      hungTerminating: gone.hung,
    };
    if (cpuFrom && cpuTo) {
      const requests = Math.max(1, requestsTo - requestsFrom);
      run.guardCpuMsPerReview = (cpuTo.cpuUser + cpuTo.cpuSystem - cpuFrom.cpuUser - cpuFrom.cpuSystem) / 1000 / requests;
      run.guardLoopDelayP99Ms = cpuTo.loopDelay.p99;
      // Counted by the guard's server only: the no-op handler's connections are not.
      if (guard) run.guardTlsConnections = cpuTo.guardTlsConnections - cpuFrom.guardTlsConnections;
    }
    if (guard && before) {
      const after = await guardCounters(guard, ctx.certs.caPem);
      run.undecided = after.undecided - before.counters.undecided;
      run.liveReadTimeouts = after.liveTimeouts - before.counters.liveTimeouts;
      run.liveReads = after.liveReads - before.counters.liveReads;
      run.reviewsReceived = (await guard.stats()).reviews - before.reviews;
      if (decisions) run.policyLatency = policyLatencies(decisions.latencyByPolicy);
    }
    if (handler) await unregister(cp, handler);
    say(describe(run));
    await cleanUp(cp, plan, runId, o.goneTimeoutMs);
    return run;
  } finally {
    await child?.stop().catch(() => undefined);
  }
}

function describe(r: StormRun): string {
  const t = r.tally;
  const policies = Object.entries(r.policyLatency ?? {})
    .map(([p, l]) => `${p} ${l.p50.toFixed(1)}/${l.p99.toFixed(1)}`)
    .join(', ');
  const noop =
    r.arm === 'noop' ? `; process CPU ${r.guardCpuMsPerReview?.toFixed(2)} ms/request, event-loop delay p99 ${r.guardLoopDelayP99Ms?.toFixed(1)} ms` : '';
  const guard =
    r.arm === 'guard'
      ? `; fail-open ${t.failOpen}, undecided ${r.undecided}, live-read timeouts ${r.liveReadTimeouts}, reviews ${r.reviewsReceived}, live reads ${r.liveReads}` +
        `; guard CPU ${r.guardCpuMsPerReview?.toFixed(2)} ms/review, ${r.guardTlsConnections} TLS connections accepted, event-loop delay p99 ${r.guardLoopDelayP99Ms?.toFixed(1)} ms; policy p50/p99 ms: ${policies}`
      : '';
  return (
    `wall ${(r.deleteWallMs / 1000).toFixed(1)} s, p50 ${r.latency.p50.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms, deletable gone after ${(r.goneMs / 1000).toFixed(1)} s` +
    `${r.leftBehind ? ` (${r.leftBehind} left)` : ''}; allowed ${t.allowed}, denied ${t.denied} (${t.deniedPlanted} of ${t.planted} planted), errors ${t.errors.length}` +
    `, planted still Terminating ${r.hungTerminating}${noop}${guard}` +
    (t.wrongDenials.length ? `; wrongly denied ${t.wrongDenials.slice(0, 3).join(', ')}` : '') +
    (t.missedHangs.length ? `; planted yet allowed ${t.missedHangs.slice(0, 3).join(', ')}` : '') +
    (t.errors.length ? `; first error ${t.errors[0]}` : '')
  );
}

export async function benchStorm(o: StormOptions): Promise<StormResult> {
  const t0 = Date.now();
  const cp = await startControlPlane({ log: () => {}, timeoutMs: 120_000 });
  const clients = adminClients(cp, o.clients);
  try {
    await applyOlmCrds(cp);
    await cp.client.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PROBE_NS } } });
    const certs = await makeGuardCerts(join(cp.dir, 'storm-certs'));
    const ctx: StormContext = { cp, clients, certs, o };
    const runs: StormRun[] = [];
    for (let round = 0; round < o.rounds; round++) {
      for (const arm of armOrder(round)) runs.push(await runArm(ctx, arm, round));
    }
    return { namespaces: o.namespaces, clients: o.clients, planted: runs[0]?.tally.planted ?? 0, rounds: o.rounds, runs, totalMs: Date.now() - t0 };
  } finally {
    for (const c of clients) c.close();
    await cp.stop();
  }
}
