// Real operators (test/operators: Kueue, Karpenter's KWOK provider, Flagger, Crossplane, Argo CD,
// Flux's helm-controller) in the orders real clusters go through, the guard installed FIRST, as
// users do: the operators, their CRDs and their RBAC arrive after it and leave while it runs.
// For each operator:
//   alive    its controller runs; a namespace holding its objects (or, cluster-scoped, their CRD)
//            is deleted: silent, and the namespace goes;
//   stopped  its controller scaled to 0; the same deletions: warned (every policy at its
//            default) and denied (every policy at enforce), naming the objects, the finalizer and
//            the controller (for Argo CD the StatefulSet its field manager names, not the
//            bystanders RBAC names);
//   removed  the operator uninstalled (helm uninstall, or kubectl delete -f of Argo CD's
//            manifest) with objects left: caught at the uninstall (a warning naming what it
//            strands; Kueue's CRDs in templates/: its controller held back, so the first
//            uninstall deletes them while it finalizes their objects and the second exits 0
//            with nothing left), and at each later namespace or CRD DELETE, from the guard's
//            memory of whose finalizer it was (the operator's RBAC is gone by then).
// Without the guard each of these hangs: test/integration/operatorsHarness.test.ts proves it on
// the same operators.
//
// Two guards answer every request at once: one with every policy at its default, one with every
// policy at enforce (each with a webhook configuration of its own). The enforce one decides what
// happens; the default one's decision lines show what a default install says of the same request.
// Each guard's decision lines are checked for every intercepted request (guardInPath.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { missingComponents } from '../cluster/paths.ts';
import { waitFor, type RunResult } from '../cluster/proc.ts';
import { cleanupOperator, objectPath, OperatorHarness, waitFinalizer, type FinalizedObject, type InstalledOperator } from '../operators/harness.ts';
import { loadManifest, operatorDataReady } from '../operators/manifest.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { markGuardPath, type GuardDecision, type GuardPathMark } from '../scenarios/guardInPath.ts';
import { DENIED_TEXT, lineOffset, output, waitNamespaceGone } from '../scenarios/harness.ts';
import { POLICY_NAMES } from '../../src/policies/index.ts';

type Uninstall = 'held-back' | 'strands' | 'kubectl-delete';

interface Plan {
  helm?: 3 | 4;
  /** Where its samples must live (Argo CD watches Applications in its own namespace only). */
  samplesIn?: string;
  /** Whether a namespace holding its objects goes while it runs (Flagger's own finalize fails once its target is gone: fluxcd/flagger#1357). */
  namespaceGoes: boolean;
  uninstall: Uninstall;
  /** A status field its controller writes on every refresh: the field manager inference reads (Argo CD). */
  statusField?: string;
}

const PLANS: Record<string, Plan> = {
  kueue: { helm: 4, namespaceGoes: true, uninstall: 'held-back' },
  'karpenter-kwok': { helm: 3, namespaceGoes: true, uninstall: 'strands' },
  flagger: { helm: 4, namespaceGoes: false, uninstall: 'strands' },
  crossplane: { helm: 3, namespaceGoes: true, uninstall: 'strands' },
  argocd: { samplesIn: 'argocd', namespaceGoes: true, uninstall: 'kubectl-delete', statusField: 'reconciledAt' },
  'flux-helm-controller': { helm: 4, namespaceGoes: true, uninstall: 'strands' },
};

/**
 * Operators that go through their orders at once. Several at once, beside the suite's other
 * lanes on two cores, push a namespace sweep or a controller removal past even the largest
 * live-lookup budget (4 s), where inference is silent by design: what the test would then measure
 * is the machine. One at a time, the file takes about 5 minutes.
 */
const AT_ONCE = 1;
let running = 0;
const waiting: Array<() => void> = [];
async function inSlot<T>(body: () => Promise<T>): Promise<T> {
  while (running >= AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await body();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** The guards' live-lookup budget (the largest the config allows) and how often a dry run that outran it is asked again. */
const LIVE_LOOKUP_TIMEOUT_MS = 4000;
const DRY_RUN_ATTEMPTS = 3;

/** An allow that came when the review's live-lookup budget ran out: inference is silent then, by design. */
const ranOutOfBudget = (d: GuardDecision): boolean => d.verdict === 'allow' && (d.latencyMs ?? 0) >= 0.95 * LIVE_LOOKUP_TIMEOUT_MS;

/** A subset of the operators (comma-separated names), for working on one. */
const ONLY = (process.env.TG_OPERATORS ?? '').split(',').filter(Boolean);

const DEFAULTS = {} as const;
const ENFORCE = Object.fromEntries(POLICY_NAMES.map((p) => [p, 'enforce'])) as Record<string, 'enforce'>;

interface Pass {
  /** Default modes: what a default install says. */
  w: Guard;
  /** Every policy at enforce: what decides. */
  e: Guard;
}

describe('real operators in the orders real clusters go through, the guard installed first', () => {
  let cp: ControlPlane | undefined;
  let harness: OperatorHarness | undefined;
  let guards: Pass | undefined;
  const marks: GuardPathMark[] = [];
  const timings: Record<string, Record<string, number>> = {};
  const cluster = () => cp!;

  beforeAll(async () => {
    const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm3', 'helm4', 'helm-controller']);
    for (const op of loadManifest().operators) if (!operatorDataReady(op)) missing.push(`${op.name} data`);
    if (missing.length) throw new Error(`pinned components missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
    cp = await controlPlaneForFile({ log: () => {} });
    // The guard's own namespace: where it keeps its finalizer memory.
    await cp.kubectl(['create', 'namespace', 'teardown-guard']);
    // The largest live-lookup budget the config allows, as the corpus does (test/corpus/environment.ts):
    // six operators, their controllers, two guards and the API server share two cores here, and a
    // controller removal lists its every type cluster-wide; past the default 1.5 s inference is
    // silent by design, which would read as the guard missing what it sees on a quiet cluster.
    const extraYaml = `liveLookup:\n  timeoutMs: ${LIVE_LOOKUP_TIMEOUT_MS}`;
    const [w, e] = await Promise.all([
      startGuard(cp, { modes: DEFAULTS, extraYaml, log: () => {} }),
      startGuard(cp, { modes: ENFORCE, extraYaml, log: () => {} }),
    ]);
    await w.register();
    await e.register();
    guards = { w, e };
    for (const g of [w, e]) marks.push(await markGuardPath(cp, g));
    harness = new OperatorHarness(cp);
  }, 180_000);

  afterAll(async () => {
    await harness?.stop();
    await guards?.w.unregister().catch(() => undefined);
    await guards?.e.unregister().catch(() => undefined);
    await guards?.w.stop();
    await guards?.e.stop();
    await cp?.kubectl(['delete', 'namespace', 'teardown-guard', '--ignore-not-found', '--wait=false']);
    await cp?.stop();
    console.log(`[operator-orders] timings (s): ${JSON.stringify(timings)}`);
  }, 180_000);

  it('plans every operator of the manifest', () => {
    expect(Object.keys(PLANS).sort()).toEqual(
      loadManifest()
        .operators.map((o) => o.name)
        .sort(),
    );
  });

  /** What both guards said of one request (matched by object) since their offsets. */
  async function said(from: { w: number; e: number }, object: string, policy: string): Promise<{ w: GuardDecision[]; e: GuardDecision[] }> {
    const { w, e } = guards!;
    const pick = async (g: Guard, at: number) => (await g.decisionsSince(at)).filter((d) => d.object === object && d.policy === policy);
    return { w: await pick(w, from.w), e: await pick(e, from.e) };
  }
  const offsets = () => ({ w: lineOffset(guards!.w.logPath), e: lineOffset(guards!.e.logPath) });

  /** Waits until both guards logged `policy`'s decision on `object` (the lines reach the file through a pipe). */
  async function verdicts(from: { w: number; e: number }, object: string, policy: string): Promise<{ w: string[]; e: string[]; outOfBudget: boolean }> {
    const both = await waitFor(
      `both guards' ${policy} decisions on ${object}`,
      10_000,
      async () => {
        const s = await said(from, object, policy);
        return s.w.length > 0 && s.e.length > 0 ? s : undefined;
      },
      100,
    );
    // Inference that runs past its live-lookup budget is silent by design (an allow): on two busy
    // cores that says what the machine is, not what the guard sees.
    const outOfBudget = [...both.w, ...both.e].some(ranOutOfBudget);
    return { w: both.w.map((d) => d.verdict), e: both.e.map((d) => d.verdict), outOfBudget };
  }

  /** A dry-run DELETE (a namespace, or a CRD) and what both guards said of it. */
  async function tryDelete(kind: 'namespace' | 'crd', name: string, policy: string): Promise<{ r: RunResult; w: string[]; e: string[] }> {
    const object = kind === 'namespace' ? `Namespace ${name}` : `CustomResourceDefinition ${name}`;
    for (let attempt = 1; ; attempt++) {
      const from = offsets();
      const r = await cluster().kubectl(['delete', kind, name, '--dry-run=server']);
      const { w, e, outOfBudget } = await verdicts(from, object, policy);
      if (!outOfBudget || attempt === DRY_RUN_ATTEMPTS) return { r, w, e };
      process.stderr.write(`[operator-orders] ${object}: a guard's review ran out of its live-lookup budget; asking again\n`);
    }
  }

  /**
   * Each binding that grants the ServiceAccount anything, with the role it grants through, as
   * `Kind ns/name -> Kind name` when that role exists too. Not those in kube-system: the webhooks
   * never see that namespace (Kueue's RoleBinding there to extension-apiserver-authentication-reader
   * goes; its visibility server, not its finalizing, reads through it).
   */
  async function grantsOf(serviceAccount: { namespace: string; name: string }): Promise<string[]> {
    interface Binding {
      kind?: string;
      metadata: { namespace?: string; name: string };
      roleRef: { kind: string; name: string };
      subjects?: Array<{ kind?: string; namespace?: string; name?: string }>;
    }
    const rbac = '/apis/rbac.authorization.k8s.io/v1';
    const list = async (kind: string, path: string) =>
      ((await cluster().client.get<{ items: Binding[] }>(`${rbac}/${path}`))?.items ?? []).map((b) => ({ ...b, kind }));
    const bindings = [...(await list('RoleBinding', 'rolebindings')), ...(await list('ClusterRoleBinding', 'clusterrolebindings'))].filter(
      (b) =>
        (b.subjects ?? []).some(
          (x) => x.kind === 'ServiceAccount' && x.name === serviceAccount.name && (x.namespace ?? b.metadata.namespace) === serviceAccount.namespace,
        ) && b.metadata.namespace !== 'kube-system',
    );
    const found: string[] = [];
    for (const b of bindings) {
      const ns = b.metadata.namespace;
      const role = b.roleRef.kind === 'Role' ? `${rbac}/namespaces/${ns}/roles/${b.roleRef.name}` : `${rbac}/clusterroles/${b.roleRef.name}`;
      const roleText = (await cluster().client.get(role)) ? ` -> ${b.roleRef.kind} ${b.roleRef.name}` : '';
      found.push(`${b.kind} ${ns ? `${ns}/` : ''}${b.metadata.name}${roleText}`);
    }
    return found.sort();
  }

  const crdsOf = (objs: FinalizedObject[]) => [...new Set(objs.filter((o) => o.scope === 'Cluster').map((o) => `${o.resource}.${o.group}`))];
  const namespacedIn = (objs: FinalizedObject[], ns: string) => objs.filter((o) => o.namespace === ns);

  async function samples(op: InstalledOperator, plan: Plan, ns: string, suffix: string): Promise<FinalizedObject[]> {
    const where = plan.samplesIn ?? ns;
    if (!plan.samplesIn) await cluster().kubectl(['create', 'namespace', ns]);
    const objs = await op.createSamples(where, { nameSuffix: suffix });
    for (const o of objs) await waitFinalizer(cluster(), o, true);
    const field = plan.statusField;
    if (field) {
      for (const o of objs) {
        await waitFor(
          `${o.name}'s status.${field} written by its controller`,
          60_000,
          async () => ((await cluster().client.get<{ status?: Record<string, unknown> }>(objectPath(o)))?.status?.[field] ? true : undefined),
          200,
        );
      }
    }
    return objs;
  }

  async function orders(name: string, plan: Plan): Promise<void> {
    const c = cluster();
    const t: Record<string, number> = {};
    timings[name] = t;
    const lap = (k: string, t0: number) => (t[k] = Math.round((Date.now() - t0) / 100) / 10);
    let t0 = Date.now();
    const op = await harness!.install(name, plan.helm ? { helm: plan.helm } : {});
    await op.waitRunning();
    lap('install', t0);
    const nsA = `${name}-alive`;
    const nsB = `${name}-stopped`;
    const nsC = `${name}-removed`;
    const home = (ns: string) => plan.samplesIn ?? ns;
    try {
      // alive: silent, and the namespace goes.
      t0 = Date.now();
      const a = await samples(op, plan, nsA, '-a');
      if (!plan.samplesIn) {
        const d = await tryDelete('namespace', nsA, 'inferred-finalizers');
        expect(d.r.code, output(d.r)).toBe(0);
        expect(output(d.r)).not.toMatch(/teardown-guard/);
        expect([...d.w, ...d.e]).toEqual(['allow', 'allow']);
        if (plan.namespaceGoes) {
          await c.kubectl(['delete', 'namespace', nsA, '--wait=false']);
          await waitNamespaceGone(c, nsA, 120_000);
        }
      } else {
        // Its objects live with their controller: deleting that namespace deletes both at once,
        // and the controller may go first. A risk, warned even in enforce, never denied.
        const d = await tryDelete('namespace', plan.samplesIn, 'inferred-finalizers');
        expect(d.r.code, output(d.r)).toBe(0);
        expect(output(d.r)).toContain(
          `the controller that removes it (${op.controller.kind} ${op.controller.namespace}/${op.controller.name}) is deleted with the`,
        );
        expect(d).toMatchObject({ w: ['warn'], e: ['warn'] });
      }
      for (const crd of crdsOf(a)) {
        const d = await tryDelete('crd', crd, 'crd-orphaned-finalizers');
        expect(d.r.code, output(d.r)).toBe(0);
        expect(output(d.r)).not.toMatch(/teardown-guard/);
        expect([...d.w, ...d.e]).toEqual(['allow', 'allow']);
      }
      lap('alive', t0);

      // stopped: warned by default, denied in enforce, the controller named.
      t0 = Date.now();
      const b = await samples(op, plan, nsB, '-b');
      await op.scale(0);
      const controller = `${op.controller.kind} ${op.controller.namespace}/${op.controller.name}`;
      const nsStopped = home(nsB);
      if (namespacedIn(b, nsStopped).length > 0) {
        const d = await tryDelete('namespace', nsStopped, 'inferred-finalizers');
        expect(d.r.code, output(d.r)).not.toBe(0);
        expect(output(d.r)).toMatch(DENIED_TEXT);
        expect(output(d.r)).toContain(controller);
        expect(output(d.r)).toContain(namespacedIn(b, nsStopped)[0]!.finalizer);
        expect(d).toMatchObject({ w: ['warn'], e: ['deny'] });
      }
      for (const crd of crdsOf(b)) {
        const d = await tryDelete('crd', crd, 'crd-orphaned-finalizers');
        expect(d.r.code, output(d.r)).not.toBe(0);
        expect(output(d.r)).toContain(controller);
        expect(d).toMatchObject({ w: ['warn'], e: ['deny'] });
      }
      await op.scale(1);
      lap('stopped', t0);

      // removed: caught at the uninstall, and remembered afterwards.
      t0 = Date.now();
      const cObjs = await samples(op, plan, nsC, '-c');
      const from = offsets();
      if (plan.uninstall === 'held-back') {
        const runsAs = { namespace: op.controller.namespace, name: op.controller.serviceAccount };
        const rightsBefore = await grantsOf(runsAs);
        const first = await op.uninstall();
        const held = await said(from, controller, 'inferred-finalizers');
        // As in verdicts(): a review of the controller's DELETE past its live-lookup budget allows
        // by design, and the uninstall cannot be asked again. What must hold then is that nothing
        // hangs: the CRDs whose objects that controller finalized are refused.
        if (held.e.some(ranOutOfBudget)) {
          process.stderr.write(
            `[operator-orders] ${controller}: the review of its DELETE ran out of its live-lookup budget; the held-back order is not checked this run\n`,
          );
          expect(output(first)).toMatch(/teardown-guard \[crd-orphaned-finalizers\] DENIED/);
          lap('removed', t0);
          t0 = Date.now();
          await cleanupOperator(c, op, plan.samplesIn ? [] : [nsA, nsB, nsC]);
          lap('cleanup', t0);
          return;
        }
        expect(first.code, output(first)).not.toBe(0);
        expect(output(first)).toContain('held back');
        expect(
          held.e.map((d) => d.verdict),
          JSON.stringify(held.e),
        ).toContain('deny');
        // Held back with every right it runs with: Kueue's leader-election Role and RoleBinding are
        // its own, and without them its manager exits once its Lease is not renewed (10 s) and never
        // leads again, so nothing would be finalized however long the wait below.
        expect(await grantsOf(runsAs)).toEqual(rightsBefore);
        const crdsGone = Date.now();
        await waitFor(
          `${name}'s CRDs and their objects gone while its controller finalizes them`,
          300_000,
          async () => {
            const left = await c.kubectl(['get', 'crd', '-o', 'name']);
            return !op.spec.crdGroups.some((g) => left.stdout.includes(`.${g}`)) ? true : undefined;
          },
          500,
        );
        t['crds-gone-after-first-uninstall'] = Math.round((Date.now() - crdsGone) / 100) / 10;
        const second = await op.uninstall();
        expect(second.code, output(second)).toBe(0);
        const left = await c.kubectl(['get', 'deploy,statefulset', '-n', op.namespace, '-o', 'name']);
        expect(left.stdout.trim()).toBe('');
        await c.kubectl(['delete', 'namespace', nsC, '--wait=false']);
        await waitNamespaceGone(c, nsC, 120_000);
      } else if (plan.uninstall === 'strands') {
        const r = await op.uninstall();
        expect(r.code, output(r)).toBe(0);
        // The warning at the uninstall, unless the guards' review of the controller's DELETE ran out
        // of its budget (silent by design, see verdicts()): that is said, not counted against them.
        const { outOfBudget } = await verdicts(from, controller, 'inferred-finalizers');
        if (outOfBudget) process.stderr.write(`[operator-orders] ${controller}: the review of its DELETE ran out of its live-lookup budget\n`);
        else expect(output(r)).toMatch(new RegExp(`teardown-guard \\[inferred-finalizers\\] Deleting ${controller.replace(/[/.]/g, '\\$&')} leaves`));
        await op.harness.supervisor.waitStopped(op.controller.namespace, op.controller.name, 120_000);
        const ns = namespacedIn(cObjs, home(nsC));
        if (ns.length > 0) {
          const d = await tryDelete('namespace', home(nsC), 'inferred-finalizers');
          expect(d.r.code, output(d.r)).not.toBe(0);
          expect(output(d.r)).toContain('was uninstalled');
          expect(output(d.r)).toContain(op.controller.name);
          expect(d).toMatchObject({ w: ['warn'], e: ['deny'] });
        }
        for (const crd of crdsOf(cObjs)) {
          const d = await tryDelete('crd', crd, 'crd-orphaned-finalizers');
          expect(d.r.code, output(d.r)).not.toBe(0);
          expect(output(d.r)).toContain('was uninstalled');
          expect(d).toMatchObject({ w: ['warn'], e: ['deny'] });
        }
      } else {
        // kubectl delete -f: the CRDs come first in Argo CD's manifest and go while the controller
        // runs; a controller removal that meets its objects still being finalized is held back,
        // and the same command run again finishes.
        const first = await op.uninstall();
        if (first.code !== 0) {
          expect(output(first)).toMatch(/wait for it to remove|held back/);
          const again = await op.uninstall();
          expect(again.code, output(again)).toBe(0);
        }
        await waitFor(
          `${name}'s objects gone`,
          120_000,
          async () => {
            const left = await c.kubectl(['get', 'crd', '-o', 'name']);
            return !op.spec.crdGroups.some((g) => left.stdout.includes(`.${g}`)) ? true : undefined;
          },
          500,
        );
      }
      lap('removed', t0);
    } catch (err) {
      // The cleanup of a failed run may fail too (what it left hangs): the first error is the one to read.
      await cleanupOperator(c, op, plan.samplesIn ? [] : [nsA, nsB, nsC]).catch((cleanupErr: unknown) =>
        process.stderr.write(`[operator-orders] ${name}: cleanup after the failure failed too: ${String(cleanupErr)}\n`),
      );
      throw err;
    }
    t0 = Date.now();
    await cleanupOperator(c, op, plan.samplesIn ? [] : [nsA, nsB, nsC]);
    lap('cleanup', t0);
  }

  describe.concurrent('each operator, side by side', () => {
    for (const [name, plan] of Object.entries(PLANS).filter(([n]) => !ONLY.length || ONLY.includes(n))) {
      it(`${name}: alive silent, stopped warned and denied, uninstalled caught and remembered`, async () => {
        await inSlot(() => orders(name, plan));
      }, 900_000);
    }
  });

  it('the guards were in the path of every request they intercept, and never failed open', async () => {
    for (const m of marks) {
      const report = await m.verify();
      expect(report.intercepted).toBeGreaterThan(0);
    }
  });
});
