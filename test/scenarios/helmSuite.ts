// Scenarios S2, S3 (incident B: the Helm SDK uninstall whose DELETEs go to the wrong namespace)
// and S4 (correct teardowns: no false positives), on the real loopback control plane with the
// real helm 3/4 CLIs and the Helm SDK program. Each scenario runs WITHOUT the guard first (proving
// the harness reproduces the incident), then WITH it; a WITH-guard part fails, saying why, when
// the guard cannot run here, and proves the guard answered its requests (guardInPath.ts). The
// guard's placement (host process or Pods on the node) is the suite's parameter:
// test/integration/scenariosHelm.test.ts (every scenario) and scenariosInCluster.test.ts (those
// placement changes).
import { beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import type { BinaryName } from '../cluster/paths.ts';
import { markGuardPath } from './guardInPath.ts';
import type { GuardPlacement } from './placement.ts';
import { suiteCluster, type SuiteCluster } from './suiteCluster.ts';
import {
  auditEventsSince,
  auditOffset,
  chartPath,
  DENIED_TEXT,
  ensureNamespace,
  existing,
  GUARD_TEXT,
  guardAnnotated,
  helm,
  output,
  releaseRecords,
  sdkUninstall,
  simpleAppObjects,
  reviewAuditEvents,
} from './harness.ts';
import { helmInstallSimpleApp, S2, s2Cleanup, s2SdkUninstall, S4_CASES, s4Leftovers, s4Reset } from './scenarios.ts';

export const HELM_SCENARIO_COMPONENTS: BinaryName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'helm3', 'helm4', 'helm-sdk-uninstall'];

/** Defines every scenario of the suite against the guard at `placement`, on a cluster of its own. */
export function helmScenarioSuite(placement: GuardPlacement): void {
  helmScenarios(suiteCluster(placement, HELM_SCENARIO_COMPONENTS, { olm: 'none' }));
}

export type HelmScenario =
  | 'S2-without'
  | 'S2-with-enforce'
  | 'S2-with-warn'
  | 'S2-kube-system'
  | 'S3-without'
  | 'S3-with-enforce'
  | 'S3b-without'
  | 'S3b-with-enforce'
  | 'S4-without'
  | 'S4-with';

/**
 * Defines the suite's scenarios (all, or those in `only`, in this file's order) on `suite`'s
 * cluster and guard: test/integration/scenariosInCluster.test.ts picks the ones the guard's
 * placement changes.
 */
export function helmScenarios(suite: SuiteCluster, only?: readonly HelmScenario[]): void {
  const want = (...ids: HelmScenario[]) => !only || ids.some((id) => only.includes(id));
  const { guard, scenario } = suite;
  let cp!: ControlPlane;
  beforeAll(() => {
    cp = suite.cluster();
  });

  if (want('S2-without', 'S2-with-enforce', 'S2-with-warn'))
    describe('S2 — incident B: SDK uninstall with Init(getter, "helm-test"), getter namespace "default"', () => {
      if (want('S2-without'))
        it('without the guard: the release records are purged and every resource is still there', async () => {
          await scenario('S2-without', async (t) => {
            await guard.detach();
            await helmInstallSimpleApp(cp, t, S2.namespace);
            const from = auditOffset(cp);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).toBe(0);
            expect(r.records).toEqual([]);
            expect(r.helmList).not.toContain(S2.release);
            expect(r.remaining).toEqual(simpleAppObjects(S2.namespace, S2.release).map((o) => o.display));
            // Where the DELETEs went: default, answered 404 (they never reached admission).
            const misdirected = auditEventsSince(cp, from).filter(
              (e) => e.verb === 'delete' && e.objectRef?.namespace === 'default' && e.objectRef?.name?.startsWith(`${S2.release}-`),
            );
            expect(misdirected.length).toBeGreaterThanOrEqual(3);
            expect(misdirected.every((e) => e.responseStatus?.code === 404)).toBe(true);
            await s2Cleanup(cp);
          });
        });

      if (want('S2-with-enforce'))
        it('with the guard (enforce): the purge is denied, the record kept, the SDK reports the denial', async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
          await scenario('S2-with-enforce', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await helmInstallSimpleApp(cp, t, S2.namespace);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).not.toBe(0);
            expect(output(r.sdk)).toMatch(DENIED_TEXT);
            expect(output(r.sdk)).toMatch(GUARD_TEXT);
            expect(r.records.length).toBeGreaterThan(0);
            expect(r.helmList).toContain(S2.release);
            expect(r.remaining.length).toBe(3);
            await s2Cleanup(cp);
            await inPath.verify();
          });
        });

      if (want('S2-with-warn'))
        it('with the guard (warn): the warning reaches the SDK and the audit log carries the guard annotation', async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
          await scenario('S2-with-warn', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await helmInstallSimpleApp(cp, t, S2.namespace);
            const from = auditOffset(cp);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).toBe(0);
            expect(r.sdk.stderr).toMatch(/warning/i);
            expect(r.sdk.stderr).toMatch(GUARD_TEXT);
            const annotated = guardAnnotated(auditEventsSince(cp, from));
            expect(annotated.some((e) => e.objectRef?.resource === 'secrets' && e.objectRef?.namespace === S2.namespace)).toBe(true);
            await s2Cleanup(cp);
            await inPath.verify();
          });
        });
    });

  if (want('S2-kube-system'))
    describe('S2-kube-system — incident B for a release in kube-system (CNI, metrics-server live there)', () => {
      if (want('S2-kube-system'))
        it('with the guard (warn): the misdirected SDK purge of a kube-system release is flagged, not exempt', async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'warn' });
          await scenario('S2-kube-system', async (t) => {
            const inPath = await markGuardPath(cp, g);
            const i = await helm(cp, t, 3, ['install', 'ks', chartPath('simple-app'), '-n', 'kube-system'], 'install kube-system/ks');
            expect(i.code, output(i)).toBe(0);
            const u = await sdkUninstall(cp, t, 'ks', { namespace: 'kube-system' });
            expect(u.code).toBe(0);
            expect(u.stderr).toMatch(GUARD_TEXT);
            expect(u.stderr).toContain('Helm release kube-system/ks is being purged but 3 of its 3 resources still exist');
            expect(await existing(cp, simpleAppObjects('kube-system', 'ks'))).toHaveLength(3);
            for (const ref of simpleAppObjects('kube-system', 'ks')) await cp.client.request('DELETE', ref.apiPath);
            await inPath.verify();
          });
        });
    });

  if (want('S3-without', 'S3-with-enforce'))
    describe("S3 — the same release name in default and helm-test: the misdirected uninstall deletes default's objects", () => {
      if (want('S3-without'))
        it("without the guard: default/web's objects are deleted by the uninstall of helm-test/web", async () => {
          await scenario('S3-without', async (t) => {
            await guard.detach();
            await helmInstallSimpleApp(cp, t, 'default');
            await helmInstallSimpleApp(cp, t, S2.namespace);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).toBe(0);
            expect(r.remainingInDefault).toEqual([]); // another release's data destroyed
            expect(r.remaining.length).toBe(3); // its own objects untouched
            expect((await releaseRecords(cp, 'default', S2.release)).at(-1)?.status).toBe('deployed');
            await s2Cleanup(cp);
          });
        });

      if (want('S3-with-enforce'))
        it("with the guard (enforce): each misdirected DELETE is denied and default's objects survive", async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
          await scenario('S3-with-enforce', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await helmInstallSimpleApp(cp, t, 'default');
            await helmInstallSimpleApp(cp, t, S2.namespace);
            const from = auditOffset(cp);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).not.toBe(0);
            expect(output(r.sdk)).toMatch(DENIED_TEXT);
            expect(r.remainingInDefault).toEqual(simpleAppObjects('default', S2.release).map((o) => o.display));
            // Flagged on each DELETE: every misdirected DELETE that reached admission was refused.
            const deletes = auditEventsSince(cp, from).filter(
              (e) => e.verb === 'delete' && e.objectRef?.namespace === 'default' && e.objectRef?.name?.startsWith(`${S2.release}-`),
            );
            expect(deletes.length).toBeGreaterThanOrEqual(3);
            expect(deletes.every((e) => e.responseStatus?.code === 403)).toBe(true);
            expect(await existing(cp, simpleAppObjects('default', S2.release))).toHaveLength(3);
            await s2Cleanup(cp);
            await inPath.verify();
          });
        });
    });

  if (want('S3b-without', 'S3b-with-enforce'))
    describe('S3b — a release of another name owns an object the misdirected uninstall deletes by name', () => {
      // default/cache's ConfigMap is named web-config, like helm-test/web's own: the SDK uninstall of
      // helm-test/web sends its DELETE of web-config to default and hits cache's.
      const installBoth = async (t: Parameters<Parameters<typeof scenario>[1]>[0]) => {
        await ensureNamespace(cp, 'default');
        const c = await helm(
          cp,
          t,
          3,
          ['install', 'cache', chartPath('simple-app'), '-n', 'default', '--set', 'configName=web-config'],
          'install default/cache (ConfigMap web-config)',
        );
        expect(c.code, output(c)).toBe(0);
        await helmInstallSimpleApp(cp, t, S2.namespace);
      };
      const cleanup = async () => {
        await cp.helm(3, ['uninstall', 'cache', '-n', 'default']);
        await s2Cleanup(cp);
      };

      if (want('S3b-without'))
        it("without the guard: default/cache's ConfigMap is deleted by the uninstall of helm-test/web", async () => {
          await scenario('S3b-without', async (t) => {
            await guard.detach();
            await installBoth(t);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).toBe(0);
            expect(await cp.client.get('/api/v1/namespaces/default/configmaps/web-config')).toBeUndefined();
            await cleanup();
          });
        });

      if (want('S3b-with-enforce'))
        it("with the guard (enforce): that DELETE is denied and default/cache's ConfigMap survives", async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
          await scenario('S3b-with-enforce', async (t) => {
            const inPath = await markGuardPath(cp, g);
            await installBoth(t);
            const r = await s2SdkUninstall(cp, t);
            expect(r.sdk.code).not.toBe(0);
            expect(output(r.sdk)).toMatch(DENIED_TEXT);
            expect(output(r.sdk)).toContain('ConfigMap default/web-config belongs to Helm release default/cache');
            expect(await cp.client.get('/api/v1/namespaces/default/configmaps/web-config')).toBeDefined();
            await cleanup();
            await inPath.verify();
          });
        });
    });

  if (want('S4-without', 'S4-with'))
    describe('S4 — no false positives: correct teardowns', () => {
      if (want('S4-without'))
        it('without the guard: every case completes (baseline)', async () => {
          await scenario('S4-without', async (t) => {
            await guard.detach();
            const from = auditOffset(cp);
            for (const c of S4_CASES) await c.run(cp, t);
            expect(await s4Leftovers(cp)).toEqual([]);
            // Audit review agrees with admission: no correct teardown here (the Flux shape included) is a finding.
            const helmFindings = reviewAuditEvents(auditEventsSince(cp, from)).filter(
              (f) => f.code === 'misdirected-uninstall' || f.code === 'cross-release-delete',
            );
            expect(helmFindings.map((f) => f.title)).toEqual([]);
            await s4Reset(cp);
          });
        });

      if (want('S4-with'))
        it('with the guard (both policies enforce): zero denials, zero warnings, same end state', async () => {
          const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
          await scenario('S4-with', async (t) => {
            const inPath = await markGuardPath(cp, g);
            const from = auditOffset(cp);
            for (const c of S4_CASES) {
              const results = await c.run(cp, t);
              for (const r of results) {
                expect(output(r), c.name).not.toMatch(DENIED_TEXT);
                expect(output(r), c.name).not.toMatch(GUARD_TEXT);
                expect(output(r), c.name).not.toMatch(/warning/i);
              }
            }
            expect(await s4Leftovers(cp)).toEqual([]);
            const annotated = guardAnnotated(auditEventsSince(cp, from));
            expect(
              annotated.map((e) => `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace}/${e.objectRef?.name}: ${JSON.stringify(e.annotations)}`),
            ).toEqual([]);
            await s4Reset(cp);
            await inPath.verify();
          });
        });
    });
}
