// Scenarios S1 (incident A: uninstalling a chart that ships OLM strands the operator namespace in
// Terminating) and S5 (OLM's own namespace vs. an operator namespace), on the real control plane
// with the real olm-operator and the real helm CLI. Each scenario runs WITHOUT the guard first,
// then WITH it; a WITH-guard part fails, saying why, when the guard cannot run here, and proves
// the guard answered its requests (guardInPath.ts). The guard's placement is the suite's
// parameter: a host process (olm-operator a host process its Deployment drives) in
// scenariosOlm.test.ts, every scenario; Pods on the node (olm-operator and the hook Job as Pods
// too) in scenariosInCluster.test.ts, the scenarios placement changes.
import { beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { BinaryName } from '../cluster/paths.ts';
import { waitFor } from '../cluster/proc.ts';
import { CSV_CLEANUP, OLM_NAMESPACE } from '../cluster/olm.ts';
import type { ScenarioGuard } from './guard.ts';
import { markGuardPath } from './guardInPath.ts';
import type { GuardPlacement } from './placement.ts';
import { suiteCluster, type SuiteCluster } from './suiteCluster.ts';
import {
  auditEventsSince,
  auditOffset,
  DENIED_TEXT,
  describeNamespace,
  GUARD_TEXT,
  guardAnnotated,
  helm,
  kubectl,
  namespaceState,
  output,
  waitNamespaceGone,
} from './harness.ts';
import {
  S1,
  s1DeleteNamespacesTogether,
  s1Install,
  s1Leftovers,
  s1ManualCleanup,
  s1ObserveStuck,
  s1Recover,
  s1Uninstall,
  s1UninstallTwice,
  s5CreateOperator,
  s5DeleteOlmNamespace,
  s5DeleteOperatorNamespace,
  s5InstallOlm,
} from './scenarios.ts';

export const OLM_SCENARIO_COMPONENTS: BinaryName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'olm', 'helm3', 'helm4'];

/** Defines every scenario of the suite against the guard at `placement`, on a cluster of its own. */
export function olmScenarioSuite(placement: GuardPlacement): void {
  // OLM CRDs only: S1's chart ships OLM itself (like Pixie's); S5 installs upstream OLM later.
  olmScenarios(suiteCluster(placement, OLM_SCENARIO_COMPONENTS, { olm: 'crds' }));
}

export type OlmScenario =
  | 'S1-without'
  | 'S1-with-helm3'
  | 'S1-with-helm4'
  | 'S1-with-recovery'
  | 'S1-namespaces-together'
  | 'S1-rollout'
  | 'S1-fix-without'
  | 'S1-fix-with'
  | 'S5-without'
  | 'S5-with';

/**
 * Defines the suite's scenarios (all, or those in `only`, in this file's order) on `suite`'s
 * cluster (with OLM's CRDs) and guard: test/integration/scenariosInCluster.test.ts picks the ones
 * the guard's placement changes.
 */
export function olmScenarios(suite: SuiteCluster, only?: readonly OlmScenario[]): void {
  const want = (...ids: OlmScenario[]) => !only || ids.some((id) => only.includes(id));
  const { guard, timings, scenario } = suite;
  let cp!: ControlPlane;
  beforeAll(() => {
    cp = suite.cluster();
  });

  if (want('S1-without', 'S1-with-helm3', 'S1-with-helm4', 'S1-with-recovery', 'S1-namespaces-together'))
    describe('S1 — incident A: helm uninstall of a chart that ships OLM, an operator namespace and a CSV', () => {
      if (want('S1-without'))
        it(`without the guard: the operator namespace stays Terminating, held by ${CSV_CLEANUP}`, async () => {
          await scenario('S1-without', async (t) => {
            await guard.detach();
            await s1Install(cp, t);
            const u = await s1Uninstall(cp, t);
            expect(u.helm.code).toBe(0); // helm reports success
            expect(u.records).toEqual([]);
            expect(u.olmRunning).toBe(false); // uninstalling OLM really stopped OLM
            const { stuck, last } = await s1ObserveStuck(cp, t);
            expect(stuck, describeNamespace(last)).toBe(true);
            expect(last.phase).toBe('Terminating');
            expect(last.csvs).toEqual([expect.objectContaining({ name: S1.csv, deleting: true, finalizers: [CSV_CLEANUP] })]);
            // Reset with the manual remedy (finalizer patch + leaked cluster-scoped objects).
            await s1ManualCleanup(cp, t);
            expect(await s1Leftovers(cp)).toEqual([]);
          });
        });

      for (const helmVersion of [3, 4] as const) {
        if (want(`S1-with-helm${helmVersion}`))
          it(`with the guard (helm ${helmVersion}): the first uninstall is held back at OLM and says why; run again, it finishes and leaves nothing`, async () => {
            const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
            await scenario(`S1-with-helm${helmVersion}`, async (t) => {
              const inPath = await markGuardPath(cp, g);
              await s1Install(cp, t, helmVersion);
              const r = await s1UninstallTwice(cp, t, helmVersion);
              // Without --debug Helm prints only "failed to delete release", plus the guard's warnings.
              expect(r.first.code).not.toBe(0);
              expect(output(r.first)).toMatch(GUARD_TEXT);
              expect(output(r.first)).toContain('DENIED: held back');
              expect(output(r.first)).toContain(`run the uninstall again once ${S1.operatorNamespace} is gone`);
              expect(r.olmRunningAfterFirst).toBe(true);
              timings[`S1-helm${helmVersion}-operator-ns-gone`] = r.operatorNamespaceGoneMs;
              expect(r.second.code, output(r.second)).toBe(0);
              expect(output(r.second)).not.toMatch(DENIED_TEXT);
              expect(r.leftovers).toEqual([]);
              await inPath.verify();
            });
          });
      }

      if (want('S1-with-recovery'))
        it('with the guard: the documented recovery still works after the controller was removed by hand (incident A denial)', async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
          await scenario('S1-with-recovery', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await s1Install(cp, t);
            // OLM removed outside Helm (kubectl): the operator namespace's deletion is what gets denied.
            const del = await cp.kubectl(['delete', 'deployment', 'olm-operator', '-n', S1.olmNamespace]);
            expect(del.code, del.stderr).toBe(0);
            await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000);
            const u = await s1Uninstall(cp, t, 3);
            expect(u.helm.code).not.toBe(0);
            expect(output(u.helm)).toContain(`DENIED: deleting namespace ${S1.operatorNamespace} would leave it Terminating forever`);
            expect(u.operatorNamespace.phase).toBe('Active');
            const r = await s1Recover(cp, t);
            if (r.rollback) expect(r.rollback.code).toBe(0);
            expect(r.deleteOperatorNamespace.code).toBe(0);
            expect(r.uninstall.code).toBe(0);
            expect(r.leftovers).toEqual([]);
            await inPath.verify();
          });
        });

      if (want('S1-namespaces-together'))
        it("with the guard: `kubectl delete namespace` of the operator namespace and OLM's together never leaves the operator namespace hanging", async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
          await scenario('S1-namespaces-together', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await s1Install(cp, t);
            const d = await s1DeleteNamespacesTogether(cp, t, [S1.operatorNamespace, S1.olmNamespace]);
            // The operator namespace goes while OLM runs; OLM's namespace is denied while it finalizes.
            expect(output(d.result)).toMatch(DENIED_TEXT);
            await waitNamespaceGone(cp, S1.operatorNamespace, 120_000);
            expect(cp.olm?.isRunning(S1.olmNamespace, 'olm-operator')).toBe(true);
            const u = await helm(cp, t, 3, ['uninstall', S1.release, '-n', S1.releaseNamespace], 'uninstall what is left');
            expect(u.code, output(u)).toBe(0);
            await waitNamespaceGone(cp, S1.olmNamespace, 120_000).catch(() => undefined);
            await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000).catch(() => undefined);
            expect(await s1Leftovers(cp)).toEqual([]);

            // The other order: OLM's namespace goes first (only a warning: the CSV merely exists), so
            // the operator namespace's deletion is denied and it stays Active, never Terminating.
            await s1Install(cp, t);
            const r = await s1DeleteNamespacesTogether(cp, t, [S1.olmNamespace, S1.operatorNamespace]);
            expect(output(r.result)).toMatch(DENIED_TEXT);
            expect(output(r.result)).toContain(`deleting namespace ${S1.operatorNamespace} would leave it Terminating forever`);
            expect(r.operator.phase).toBe('Active');
            // Reset by hand (the manual remedy) without the guard in the way.
            await inPath.verify();
            await guard.detach();
            await s1ManualCleanup(cp, t);
            expect(await s1Leftovers(cp)).toEqual([]);
          });
        });
    });

  if (want('S1-rollout'))
    describe('S1-rollout — olm-operator coming back (a Recreate rollout) is not gone', () => {
      if (want('S1-rollout'))
        it('with the guard: deleting the operator namespace mid rollout is allowed with a warning that it waits, and it completes', async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
          await scenario('S1-rollout', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await s1Install(cp, t);
            // Recreate drops the old Pod first; minReadySeconds keeps the new one unavailable a while:
            // availableReplicas 0, replicas 1, Progressing True, as after a drain or during an upgrade.
            const patch = await cp.kubectl([
              'patch',
              'deployment',
              'olm-operator',
              '-n',
              S1.olmNamespace,
              '--type=merge',
              '-p',
              JSON.stringify({ spec: { minReadySeconds: 30, strategy: { type: 'Recreate', rollingUpdate: null } } }),
            ]);
            expect(patch.code, patch.stderr).toBe(0);
            const restart = await cp.kubectl(['rollout', 'restart', 'deployment/olm-operator', '-n', S1.olmNamespace]);
            expect(restart.code, restart.stderr).toBe(0);
            await waitFor(
              'olm-operator with no available replica mid rollout',
              30_000,
              async () => {
                const d = await cp.client.get<{ status?: { availableReplicas?: number } }>(
                  `/apis/apps/v1/namespaces/${S1.olmNamespace}/deployments/olm-operator`,
                );
                return (d?.status?.availableReplicas ?? 0) === 0 ? true : undefined;
              },
              100,
            );
            const d = await kubectl(cp, t, ['delete', 'namespace', S1.operatorNamespace, '--wait=false'], 'delete the operator namespace mid rollout');
            expect(d.code, output(d)).toBe(0);
            expect(output(d)).toContain(`namespace ${S1.operatorNamespace} will stay Terminating until OLM olm-operator is available again`);
            await waitNamespaceGone(cp, S1.operatorNamespace, 120_000);
            const u = await helm(cp, t, 3, ['uninstall', S1.release, '-n', S1.releaseNamespace], 'uninstall the rest');
            expect(u.code, output(u)).toBe(0);
            await waitNamespaceGone(cp, S1.olmNamespace, 120_000).catch(() => undefined);
            await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000).catch(() => undefined);
            expect(await s1Leftovers(cp)).toEqual([]);
            await inPath.verify();
          });
        });
    });

  if (want('S1-fix-without', 'S1-fix-with'))
    describe("S1-fix — Pixie's own fix (pixie-io/pixie#2059): a pre-delete hook Job deletes the operator namespace while OLM runs", () => {
      for (const withGuard of [false, true]) {
        if (want(withGuard ? 'S1-fix-with' : 'S1-fix-without'))
          it(`${withGuard ? 'with' : 'without'} the guard: the first helm uninstall succeeds, the hook Job really ran, nothing is left${withGuard ? ', zero denials, warnings and guard annotations' : ''}`, async () => {
            let g: ScenarioGuard | undefined;
            if (withGuard) {
              g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
            } else {
              await guard.detach();
            }
            await scenario(`S1-fix-${withGuard ? 'with' : 'without'}`, async (t) => {
              const inPath = g ? await markGuardPath(cp, g) : undefined;
              await s1Install(cp, t, 3, true);
              const from = auditOffset(cp);
              const u = await s1Uninstall(cp, t, 3);
              expect(u.helm.code, output(u.helm)).toBe(0);
              expect(output(u.helm)).not.toMatch(GUARD_TEXT);
              expect(output(u.helm)).not.toMatch(/warning/i);
              // The hook's kubectl ran as the Job's ServiceAccount (a host process, or the Job's Pod on
              // the node) and deleted the operator namespace: the API server's own record says so.
              const hookDeletes = auditEventsSince(cp, from).filter(
                (e) =>
                  e.verb === 'delete' &&
                  e.objectRef?.resource === 'namespaces' &&
                  e.objectRef.name === S1.operatorNamespace &&
                  e.user?.username === `system:serviceaccount:${S1.olmNamespace}:csv-deleter`,
              );
              expect(hookDeletes.map((e) => e.responseStatus?.code)).toEqual([200]);
              if (cp.hookJobs) {
                const hook = cp.hookJobs.runs.filter((r) => r.name === 'csv-deleter');
                expect(hook.map((r) => r.code)).toEqual([0]);
                expect(hook[0]?.output).toContain(`namespace "${S1.operatorNamespace}" deleted`);
              }
              await waitNamespaceGone(cp, S1.olmNamespace, 120_000).catch(() => undefined);
              await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000).catch(() => undefined);
              expect(await s1Leftovers(cp)).toEqual([]);
              if (withGuard)
                expect(guardAnnotated(auditEventsSince(cp, from)).map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name}`)).toEqual([]);
              if (inPath) await inPath.verify();
              cp.hookJobs?.runs.splice(0);
            });
          });
      }
    });

  if (want('S5-without', 'S5-with'))
    describe("S5 — OLM's own namespace vs. an operator namespace (upstream OLM installed)", () => {
      if (want('S5-without'))
        it('without the guard: deleting an operator namespace while OLM runs completes (OLM removes csv-cleanup)', async () => {
          await scenario('S5-without', async (t) => {
            await guard.detach();
            await s5InstallOlm(cp);
            const pkg = await namespaceState(cp, OLM_NAMESPACE);
            expect(pkg.csvs.find((c) => c.name === 'packageserver')?.finalizers).toContain(CSV_CLEANUP);
            await s5CreateOperator(cp);
            const d = await s5DeleteOperatorNamespace(cp, t);
            expect(d.result.code).toBe(0);
            expect(d.gone).toBe(true);
          });
        });

      if (want('S5-with'))
        it("with the guard: deleting OLM's namespace is denied; deleting the operator namespace is allowed and it goes away", async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
          await scenario('S5-with', async (t) => {
            // Installed by S5-without when it ran before (applying it again changes nothing).
            await s5InstallOlm(cp);
            const inPath = await markGuardPath(cp, g);
            const dry = await s5DeleteOlmNamespace(cp, t, true);
            expect(dry.result.code).not.toBe(0);
            expect(output(dry.result)).toMatch(DENIED_TEXT);
            const real = await s5DeleteOlmNamespace(cp, t);
            expect(real.result.code).not.toBe(0);
            expect(output(real.result)).toMatch(DENIED_TEXT);
            expect(output(real.result)).toMatch(/packageserver/);
            expect(real.olm.phase).toBe('Active');
            expect(cp.olm?.isRunning(OLM_NAMESPACE, 'olm-operator')).toBe(true);
            await s5CreateOperator(cp);
            const d = await s5DeleteOperatorNamespace(cp, t);
            expect(d.result.code).toBe(0);
            expect(output(d.result)).not.toMatch(DENIED_TEXT);
            expect(d.gone).toBe(true);
            await inPath.verify();
          });
        });
    });
}
