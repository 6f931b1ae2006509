// Part 3: namespace DELETE latency as a client of the real API server sees it, in one run, with
//   none   no admission applies to the namespace,
//   cel    a ValidatingAdmissionPolicy (CEL, in-process) that inspects the namespace being deleted
//          (denies when label tg-bench/protected is present),
//   guard  the guard's webhook (the process under benchmark) registered for namespaces DELETE,
//   noop   the no-op handler of the same process (same express + HTTPS stack) registered the same
//          way: the floor of any webhook, so what the guard itself adds is visible.
// All three configurations are installed at once and select namespaces by a label, so the
// deletes of the three modes are interleaved one by one and drift on a shared machine hits each
// alike. Only the DELETE call is timed (the answer comes when the namespace is marked
// Terminating; the namespace controller finishes it in the background, like --wait=false).
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { GuardChild } from './guardChild.ts';
import { summarizeValues, type LatencySummary } from './stats.ts';

export const MODES = ['none', 'cel', 'guard', 'noop'] as const;
export type Mode = (typeof MODES)[number];
const MODE_LABEL = 'tg-bench-mode';
const PROTECTED_LABEL = 'tg-bench/protected';
const POLICY = 'tg-bench-namespace-delete';
const WEBHOOK = 'tg-bench-guard';
const NOOP_WEBHOOK = 'tg-bench-noop';

export interface ApiserverOptions {
  perMode: number;
  reps: number;
  concurrency: number;
  log: (line: string) => void;
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
}

const CEL = `!has(oldObject.metadata.labels) || !('${PROTECTED_LABEL}' in oldObject.metadata.labels)`;

const sleep = (msValue: number): Promise<void> => new Promise((r) => setTimeout(r, msValue));

async function must(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<void> {
  const r = await cp.client.request(method, path, body === undefined ? {} : { body });
  if (r.status >= 300 && !(method === 'POST' && r.status === 409) && !(method === 'DELETE' && r.status === 404)) {
    throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
  }
}

function webhookConfiguration(name: string, url: string, caPem: string, mode: Mode): Record<string, unknown> {
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

async function install(cp: ControlPlane, guard: GuardChild, caPem: string): Promise<void> {
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
}

async function uninstall(cp: ControlPlane): Promise<void> {
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${WEBHOOK}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${NOOP_WEBHOOK}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${POLICY}`);
  await must(cp, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${POLICY}`);
}

async function createNamespace(cp: ControlPlane, name: string, labels: Record<string, string>): Promise<void> {
  await must(cp, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/** Waits until both configurations are in force (the API server loads them asynchronously). */
async function waitActive(cp: ControlPlane, guard: GuardChild, log: (l: string) => void): Promise<void> {
  await createNamespace(cp, 'tgb-probe-cel', { [MODE_LABEL]: 'cel', [PROTECTED_LABEL]: 'true' });
  await createNamespace(cp, 'tgb-probe-guard', { [MODE_LABEL]: 'guard' });
  await createNamespace(cp, 'tgb-probe-noop', { [MODE_LABEL]: 'noop' });
  const t0 = Date.now();
  let celActive = false;
  let guardActive = false;
  let noopActive = false;
  for (let i = 0; i < 120 && !(celActive && guardActive && noopActive); i++) {
    if (!celActive) {
      const r = await cp.client.request('DELETE', '/api/v1/namespaces/tgb-probe-cel?dryRun=All');
      celActive = r.status === 403 || r.status === 422;
    }
    if (!guardActive) {
      const before = (await guard.stats()).reviews;
      const r = await cp.client.request('DELETE', '/api/v1/namespaces/tgb-probe-guard?dryRun=All');
      guardActive = r.status === 200 && (await guard.stats()).reviews > before;
    }
    if (!noopActive) {
      const before = (await guard.stats()).noopRequests;
      const r = await cp.client.request('DELETE', '/api/v1/namespaces/tgb-probe-noop?dryRun=All');
      noopActive = r.status === 200 && (await guard.stats()).noopRequests > before;
    }
    if (!(celActive && guardActive && noopActive)) await sleep(250);
  }
  if (!celActive || !guardActive || !noopActive)
    throw new Error(`admission configuration not in force after ${Date.now() - t0} ms (cel ${celActive}, guard ${guardActive}, noop ${noopActive})`);
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

export async function benchApiserverPath(cp: ControlPlane, guard: GuardChild, guardCaPem: string, o: ApiserverOptions): Promise<ApiserverResult> {
  await install(cp, guard, guardCaPem);
  const runs: Record<Mode, LatencySummary[]> = { none: [], cel: [], guard: [], noop: [] };
  const all: Record<Mode, number[]> = { none: [], cel: [], guard: [], noop: [] };
  let errors = 0;
  try {
    await waitActive(cp, guard, o.log);
    for (let rep = 0; rep < o.reps; rep++) {
      const prefix = `tgb-del-${rep}-`;
      const names: Array<{ name: string; mode: Mode }> = [];
      for (let i = 0; i < o.perMode; i++) {
        // Rotate the mode order per index so no mode always goes first.
        for (let m = 0; m < MODES.length; m++) {
          const mode = MODES[(i + m) % MODES.length] as Mode;
          names.push({ name: `${prefix}${mode}-${String(i).padStart(4, '0')}`, mode });
        }
      }
      const tc = Date.now();
      await forEachLimited(names, 16, (n) => createNamespace(cp, n.name, { [MODE_LABEL]: n.mode }));
      o.log(`rep ${rep + 1}/${o.reps}: created ${names.length} namespaces in ${((Date.now() - tc) / 1000).toFixed(1)}s; letting the controllers settle`);
      await sleep(5000);
      const samples: Record<Mode, number[]> = { none: [], cel: [], guard: [], noop: [] };
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
      for (const mode of MODES) {
        const s = summarizeValues(samples[mode]);
        runs[mode].push(s);
        all[mode].push(...samples[mode]);
        o.log(`rep ${rep + 1}/${o.reps} ${mode.padEnd(5)}: n ${s.n} p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)} ms`);
      }
      o.log(
        `rep ${rep + 1}/${o.reps}: ${names.length} DELETEs in ${((Date.now() - td) / 1000).toFixed(1)}s; waiting for the namespace controller to finish them`,
      );
      const left = await waitGone(cp, prefix, 240_000);
      if (left > 0) o.log(`rep ${rep + 1}: ${left} namespaces still terminating; continuing`);
    }
  } finally {
    await uninstall(cp).catch((err: unknown) => o.log(`cleanup of admission configuration failed: ${String(err)}`));
    // The CEL probe carries the label the policy denies on; drop it first (the policy may still be loaded).
    await cp.client
      .request('PATCH', '/api/v1/namespaces/tgb-probe-cel', {
        contentType: 'application/merge-patch+json',
        body: { metadata: { labels: { [PROTECTED_LABEL]: null } } },
      })
      .catch(() => undefined);
    for (const probe of ['tgb-probe-cel', 'tgb-probe-guard', 'tgb-probe-noop']) await must(cp, 'DELETE', `/api/v1/namespaces/${probe}`).catch(() => undefined);
  }
  return {
    perMode: o.perMode,
    reps: o.reps,
    runs,
    pooled: { none: summarizeValues(all.none), cel: summarizeValues(all.cel), guard: summarizeValues(all.guard), noop: summarizeValues(all.noop) },
    errors,
    celExpression: CEL,
  };
}
