// Part 3: namespace DELETE latency as a client of the real API server sees it, in one run, with
//   none   no admission applies to the namespace,
//   cel    a ValidatingAdmissionPolicy (CEL, in-process) that inspects the namespace being deleted
//          (denies when label tg-bench/protected is present),
//   guard  the guard's webhook (the process under benchmark) registered for namespaces DELETE,
//   noop   the no-op handler of the same process (same express + HTTPS stack) registered the same
//          way: the floor of any webhook, so what the guard itself adds is visible,
//   kyverno (only with a Kyverno handle, `npm run bench -- --kyverno`) Kyverno's admission
//          controller run for real out of cluster (test/cluster/kyverno/kyverno.ts) with the
//          ClusterPolicy closest to the guard's olm-orphaned-finalizers namespace check
//          (test/cluster/kyverno/orphanedFinalizersPolicy.yaml), failing closed like the others.
//   guard-olm (only with a second guard process, given with Kyverno) the guard with the three
//          checks that read live on a namespace DELETE off: what Kyverno's policy checks, like for like.
// All configurations are installed at once and select namespaces by a label, so the
// deletes of the modes are interleaved one by one and drift on a shared machine hits each
// alike. Only the DELETE call is timed (the answer comes when the namespace is marked
// Terminating; the namespace controller finishes it in the background, like --wait=false).
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { orphanedFinalizersPolicy, type Kyverno } from '../cluster/kyverno/kyverno.ts';
import type { GuardChild } from './guardChild.ts';
import { summarizeValues, type LatencySummary } from './stats.ts';

export const MODES = ['none', 'cel', 'guard', 'noop'] as const;
export type Mode = (typeof MODES)[number];
/** The report (report.ts) renders MODES; the Kyverno arm is reported beside them (ApiserverResult.kyverno). */
type RunMode = Mode | 'kyverno' | 'guard-olm';
const MODE_LABEL = 'tg-bench-mode';
const PROTECTED_LABEL = 'tg-bench/protected';
const POLICY = 'tg-bench-namespace-delete';
const WEBHOOK = 'tg-bench-guard';
const NOOP_WEBHOOK = 'tg-bench-noop';
const OLM_ONLY_WEBHOOK = 'tg-bench-guard-olm';

export interface ApiserverOptions {
  perMode: number;
  reps: number;
  concurrency: number;
  log: (line: string) => void;
  /** Adds the `kyverno` mode; without it the run is exactly the four modes. */
  kyverno?: Kyverno;
  /** Adds the `guard-olm` mode: a guard process whose namespace-DELETE checks are Kyverno's policy's. */
  olmOnly?: GuardChild;
}

export interface OlmOnlyArmResult {
  runs: LatencySummary[];
  pooled: LatencySummary;
  /** That process's RSS (VmRSS) with the webhook in force, after the last repetition, and its peak (VmHWM), bytes. */
  rssReady: number;
  rssEnd: number;
  rssPeak: number;
  /** Per repetition: that process's CPU over the DELETE phase per review it served, microseconds (it serves nothing else). */
  cpuUsPerReview: number[];
  cpuUsPerReviewNetOfIdle: number[];
}

export interface KyvernoArmResult {
  version: string;
  /** One summary per repetition, and every sample pooled. */
  runs: LatencySummary[];
  pooled: LatencySummary;
  /** Kyverno's RSS (VmRSS) once its policy was in force, after the last repetition, and its peak (VmHWM), bytes. */
  rssReady: number;
  rssEnd: number;
  rssPeak: number;
  /** The guard process's RSS (VmRSS) at the same moment as rssReady, bytes. */
  guardRssReady: number;
  /** Per repetition: Kyverno's CPU over the DELETE phase per Kyverno review, and its idle CPU over the same time subtracted, microseconds. */
  cpuUsPerReview: number[];
  cpuUsPerReviewNetOfIdle: number[];
  /** Per repetition: the guard process's CPU over the DELETE phase per webhook call it served (guard + no-op), microseconds. */
  guardCpuUsPerCall: number[];
  /** The same, its idle CPU over the same time subtracted (informer events of the namespaces terminating meanwhile). */
  guardCpuUsPerCallNetOfIdle: number[];
  /** Admission requests Kyverno counted during the DELETE phases (its metrics), against the Kyverno-mode DELETEs sent. */
  reviewsCounted: number;
  deletesSent: number;
}

export interface ApiserverResult {
  perMode: number;
  reps: number;
  /** Per mode, one summary per repetition. */
  runs: Record<Mode, LatencySummary[]>;
  /** Per mode, every sample pooled. */
  pooled: Record<Mode, LatencySummary>;
  errors: number;
  celExpression: string;
  kyverno?: KyvernoArmResult;
  olmOnly?: OlmOnlyArmResult;
}

const CEL = `!has(oldObject.metadata.labels) || !('${PROTECTED_LABEL}' in oldObject.metadata.labels)`;

const sleep = (msValue: number): Promise<void> => new Promise((r) => setTimeout(r, msValue));

async function must(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<void> {
  const r = await cp.client.request(method, path, body === undefined ? {} : { body });
  if (r.status >= 300 && !(method === 'POST' && r.status === 409) && !(method === 'DELETE' && r.status === 404)) {
    throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
  }
}

function webhookConfiguration(name: string, url: string, caPem: string, mode: RunMode): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: `namespaces.${mode}.bench.teardown-guard.io`,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        timeoutSeconds: 5,
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        clientConfig: { url: `${url}/validate`, caBundle: Buffer.from(caPem).toString('base64') },
        namespaceSelector: { matchLabels: { [MODE_LABEL]: mode } },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['DELETE'], resources: ['namespaces'], scope: 'Cluster' }],
      },
    ],
  };
}

async function install(cp: ControlPlane, guard: GuardChild, caPem: string, kyverno: Kyverno | undefined, olmOnly: GuardChild | undefined): Promise<void> {
  await must(cp, 'POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: POLICY },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['DELETE'], resources: ['namespaces'] }] },
      validations: [{ expression: CEL, message: `namespace carries ${PROTECTED_LABEL}` }],
    },
  });
  await must(cp, 'POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: POLICY },
    spec: { policyName: POLICY, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { [MODE_LABEL]: 'cel' } } } },
  });
  const path = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
  await must(cp, 'POST', path, webhookConfiguration(WEBHOOK, guard.guardUrl, caPem, 'guard'));
  await must(cp, 'POST', path, webhookConfiguration(NOOP_WEBHOOK, guard.noopUrl, caPem, 'noop'));
  if (olmOnly) await must(cp, 'POST', path, webhookConfiguration(OLM_ONLY_WEBHOOK, olmOnly.guardUrl, caPem, 'guard-olm'));
  // Kyverno registers its own webhook for the policy; the policy's match and a matchCondition
  // select the namespaces by the same label, so the other modes' DELETEs never reach Kyverno.
  if (kyverno) await kyverno.applyPolicy(orphanedFinalizersPolicy({ failurePolicy: 'Fail', namespaceLabels: { [MODE_LABEL]: 'kyverno' } }));
}

async function uninstall(cp: ControlPlane, kyverno: Kyverno | undefined): Promise<void> {
  if (kyverno) await kyverno.deletePolicy(orphanedFinalizersPolicy().metadata.name);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${WEBHOOK}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${NOOP_WEBHOOK}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${OLM_ONLY_WEBHOOK}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${POLICY}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${POLICY}`);
}

async function createNamespace(cp: ControlPlane, name: string, labels: Record<string, string>): Promise<void> {
  await must(cp, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/** A dry-run DELETE of a probe namespace of `mode`: whether that mode's admission answered it. */
interface Probe {
  mode: RunMode;
  labels: Record<string, string>;
  inForce(dryRunDelete: () => Promise<number>): Promise<boolean>;
}

/** Answered by a webhook server: allowed, and its counter moved. */
function servedBy(count: () => Promise<number>): Probe['inForce'] {
  return async (dryRunDelete) => {
    const before = await count();
    return (await dryRunDelete()) === 200 && (await count()) > before;
  };
}

function probes(guard: GuardChild, kyverno: Kyverno | undefined, olmOnly: GuardChild | undefined): Probe[] {
  const all: Probe[] = [
    // The CEL probe carries the label the policy denies on: in force when denied.
    { mode: 'cel', labels: { [PROTECTED_LABEL]: 'true' }, inForce: async (del) => [403, 422].includes(await del()) },
    { mode: 'guard', labels: {}, inForce: servedBy(async () => (await guard.stats()).reviews) },
    { mode: 'noop', labels: {}, inForce: servedBy(async () => (await guard.stats()).noopRequests) },
  ];
  if (kyverno) all.push({ mode: 'kyverno', labels: {}, inForce: servedBy(() => kyverno.admissionRequests()) });
  if (olmOnly) all.push({ mode: 'guard-olm', labels: {}, inForce: servedBy(async () => (await olmOnly.stats()).reviews) });
  return all;
}

const probeName = (mode: RunMode): string => `tgb-probe-${mode}`;

/** Waits until every configuration is in force (the API server loads them asynchronously). */
async function waitActive(cp: ControlPlane, all: Probe[], log: (l: string) => void): Promise<void> {
  for (const p of all) await createNamespace(cp, probeName(p.mode), { [MODE_LABEL]: p.mode, ...p.labels });
  const t0 = Date.now();
  const pending = new Set(all);
  for (let i = 0; i < 120 && pending.size > 0; i++) {
    for (const p of [...pending]) {
      const dryRunDelete = async (): Promise<number> => (await cp.client.request('DELETE', `/api/v1/namespaces/${probeName(p.mode)}?dryRun=All`)).status;
      if (await p.inForce(dryRunDelete)) pending.delete(p);
    }
    if (pending.size > 0) await sleep(250);
  }
  if (pending.size > 0) throw new Error(`admission configuration not in force after ${Date.now() - t0} ms: ${[...pending].map((p) => p.mode).join(', ')}`);
  log(`ValidatingAdmissionPolicy and webhooks in force after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

async function waitGone(cp: ControlPlane, prefix: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let left = 0;
  while (Date.now() < deadline) {
    const list = await cp.client.get<{ items: Array<{ metadata: { name: string } }> }>('/api/v1/namespaces');
    left = (list?.items ?? []).filter((n) => n.metadata.name.startsWith(prefix)).length;
    if (left === 0) return 0;
    await sleep(2000);
  }
  return left;
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** CPU of the guard process so far (user + system), microseconds. */
async function guardCpu(guard: GuardChild): Promise<{ cpu: number; calls: number }> {
  const s = await guard.stats();
  return { cpu: s.cpuUser + s.cpuSystem, calls: s.reviews + s.noopRequests };
}

export async function benchApiserverPath(cp: ControlPlane, guard: GuardChild, guardCaPem: string, o: ApiserverOptions): Promise<ApiserverResult> {
  const { kyverno, olmOnly } = o;
  const modes: readonly RunMode[] = [...MODES, ...(kyverno ? ['kyverno' as const] : []), ...(olmOnly ? ['guard-olm' as const] : [])];
  const probing = probes(guard, kyverno, olmOnly);
  await install(cp, guard, guardCaPem, kyverno, olmOnly);
  const perMode = <T>(make: () => T): Record<RunMode, T> => ({ none: make(), cel: make(), guard: make(), noop: make(), kyverno: make(), 'guard-olm': make() });
  const runs = perMode<LatencySummary[]>(() => []);
  const all = perMode<number[]>(() => []);
  const olmOnlyArm = olmOnly ? { rssReady: Number.NaN, cpuUsPerReview: [] as number[], cpuUsPerReviewNetOfIdle: [] as number[] } : undefined;
  let errors = 0;
  const arm = kyverno
    ? {
        rssReady: Number.NaN,
        guardRssReady: Number.NaN,
        cpuUsPerReview: [] as number[],
        cpuUsPerReviewNetOfIdle: [] as number[],
        guardCpuUsPerCall: [] as number[],
        guardCpuUsPerCallNetOfIdle: [] as number[],
        reviewsCounted: 0,
        deletesSent: 0,
      }
    : undefined;
  try {
    await waitActive(cp, probing, o.log);
    if (olmOnly && olmOnlyArm) olmOnlyArm.rssReady = olmOnly.procRss().rss;
    if (kyverno && arm) {
      arm.rssReady = kyverno.procRss().rss;
      arm.guardRssReady = guard.procRss().rss;
      o.log(`kyverno ${kyverno.version}: RSS ${(arm.rssReady / 2 ** 20).toFixed(0)} MiB with its caches synced and the policy in force`);
    }
    for (let rep = 0; rep < o.reps; rep++) {
      const prefix = `tgb-del-${rep}-`;
      const names: Array<{ name: string; mode: RunMode }> = [];
      for (let i = 0; i < o.perMode; i++) {
        // Rotate the mode order per index so no mode always goes first.
        for (let m = 0; m < modes.length; m++) {
          const mode = modes[(i + m) % modes.length] as RunMode;
          names.push({ name: `${prefix}${mode}-${String(i).padStart(4, '0')}`, mode });
        }
      }
      const tc = Date.now();
      await forEachLimited(names, 16, (n) => createNamespace(cp, n.name, { [MODE_LABEL]: n.mode }));
      o.log(`rep ${rep + 1}/${o.reps}: created ${names.length} namespaces in ${((Date.now() - tc) / 1000).toFixed(1)}s; letting the controllers settle`);
      // Each webhook process's CPU while nothing is sent to it: its background work, subtracted below.
      const idleFrom = {
        t: performance.now(),
        cpu: kyverno?.cpuMicros() ?? Number.NaN,
        guard: await guardCpu(guard),
        olmOnly: olmOnly ? await guardCpu(olmOnly) : undefined,
      };
      await sleep(5000);
      const idleMs = performance.now() - idleFrom.t;
      const idleUsPerMs = kyverno ? (kyverno.cpuMicros() - idleFrom.cpu) / idleMs : Number.NaN;
      const guardIdleUsPerMs = ((await guardCpu(guard)).cpu - idleFrom.guard.cpu) / idleMs;
      const olmOnlyIdleUsPerMs = olmOnly && idleFrom.olmOnly ? ((await guardCpu(olmOnly)).cpu - idleFrom.olmOnly.cpu) / idleMs : Number.NaN;
      const samples = perMode<number[]>(() => []);
      const cpuFrom = {
        t: performance.now(),
        kyverno: kyverno?.cpuMicros() ?? Number.NaN,
        kyvernoReviews: (await kyverno?.admissionRequests()) ?? 0,
        guard: kyverno ? await guardCpu(guard) : { cpu: Number.NaN, calls: 0 },
        olmOnly: olmOnly ? await guardCpu(olmOnly) : { cpu: Number.NaN, calls: 0 },
      };
      const td = Date.now();
      await forEachLimited(names, o.concurrency, async (n) => {
        const t0 = performance.now();
        const r = await cp.client.request('DELETE', `/api/v1/namespaces/${n.name}`, { timeoutMs: 15_000 });
        const took = performance.now() - t0;
        if (r.status === 200 || r.status === 202) samples[n.mode].push(took);
        else {
          errors++;
          if (errors <= 5) o.log(`DELETE ${n.name} (${n.mode}): ${r.status} ${r.text.slice(0, 200)}`);
        }
      });
      const phaseMs = performance.now() - cpuFrom.t;
      for (const mode of modes) {
        const s = summarizeValues(samples[mode]);
        runs[mode].push(s);
        all[mode].push(...samples[mode]);
        o.log(`rep ${rep + 1}/${o.reps} ${mode.padEnd(9)}: n ${s.n} p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms`);
      }
      if (kyverno && arm) {
        const cpu = kyverno.cpuMicros() - cpuFrom.kyverno;
        const guardAfter = await guardCpu(guard);
        const guardCalls = Math.max(1, guardAfter.calls - cpuFrom.guard.calls);
        const guardPerCall = (guardAfter.cpu - cpuFrom.guard.cpu) / guardCalls;
        arm.guardCpuUsPerCallNetOfIdle.push((guardAfter.cpu - cpuFrom.guard.cpu - guardIdleUsPerMs * phaseMs) / guardCalls);
        const n = samples.kyverno.length;
        const counted = (await kyverno.admissionRequests()) - cpuFrom.kyvernoReviews;
        arm.reviewsCounted += counted;
        arm.deletesSent += o.perMode;
        arm.cpuUsPerReview.push(cpu / Math.max(1, n));
        arm.cpuUsPerReviewNetOfIdle.push((cpu - idleUsPerMs * phaseMs) / Math.max(1, n));
        arm.guardCpuUsPerCall.push(guardPerCall);
        o.log(
          `rep ${rep + 1}/${o.reps} CPU per review: kyverno ${(cpu / Math.max(1, n)).toFixed(0)} us (${((cpu - idleUsPerMs * phaseMs) / Math.max(1, n)).toFixed(0)} us net of its idle ${(idleUsPerMs * 1000).toFixed(0)} us/s; ${counted} reviews counted), guard process ${guardPerCall.toFixed(0)} us per call (guard + no-op)`,
        );
      }
      if (olmOnly && olmOnlyArm) {
        const after = await guardCpu(olmOnly);
        const reviews = Math.max(1, after.calls - cpuFrom.olmOnly.calls);
        const perReview = (after.cpu - cpuFrom.olmOnly.cpu) / reviews;
        const net = (after.cpu - cpuFrom.olmOnly.cpu - olmOnlyIdleUsPerMs * phaseMs) / reviews;
        olmOnlyArm.cpuUsPerReview.push(perReview);
        olmOnlyArm.cpuUsPerReviewNetOfIdle.push(net);
        o.log(`rep ${rep + 1}/${o.reps} CPU per review: guard with Kyverno's checks only ${perReview.toFixed(0)} us (${net.toFixed(0)} us net of its idle)`);
      }
      o.log(
        `rep ${rep + 1}/${o.reps}: ${names.length} DELETEs in ${((Date.now() - td) / 1000).toFixed(1)}s; waiting for the namespace controller to finish them`,
      );
      const left = await waitGone(cp, prefix, 240_000);
      if (left > 0) o.log(`rep ${rep + 1}: ${left} namespaces still terminating; continuing`);
    }
  } finally {
    await uninstall(cp, kyverno).catch((err: unknown) => o.log(`cleanup of admission configuration failed: ${String(err)}`));
    // The CEL probe carries the label the policy denies on; drop it first (the policy may still be loaded).
    await cp.client
      .request('PATCH', `/api/v1/namespaces/${probeName('cel')}`, {
        contentType: 'application/merge-patch+json',
        body: { metadata: { labels: { [PROTECTED_LABEL]: null } } },
      })
      .catch(() => undefined);
    for (const p of probing) await must(cp, 'DELETE', `/api/v1/namespaces/${probeName(p.mode)}`).catch(() => undefined);
  }
  const result: ApiserverResult = {
    perMode: o.perMode,
    reps: o.reps,
    runs: { none: runs.none, cel: runs.cel, guard: runs.guard, noop: runs.noop },
    pooled: { none: summarizeValues(all.none), cel: summarizeValues(all.cel), guard: summarizeValues(all.guard), noop: summarizeValues(all.noop) },
    errors,
    celExpression: CEL,
  };
  if (kyverno && arm) {
    const mem = kyverno.procRss();
    result.kyverno = { version: kyverno.version, runs: runs.kyverno, pooled: summarizeValues(all.kyverno), ...arm, rssEnd: mem.rss, rssPeak: mem.hwm };
  }
  if (olmOnly && olmOnlyArm) {
    const mem = olmOnly.procRss();
    result.olmOnly = { runs: runs['guard-olm'], pooled: summarizeValues(all['guard-olm']), ...olmOnlyArm, rssEnd: mem.rss, rssPeak: mem.hwm };
  }
  return result;
}
