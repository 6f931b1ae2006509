// Teardowns that hang on a real third-party program (issue 14, item 5), without the guard: the
// programs run for real, as host processes supervised by the Deployments their charts install
// (test/cluster/deploymentPrograms.ts), so `helm uninstall` really stops them.
//   - Flux's helm-controller, installed by a chart shaped like the community flux2 chart, puts
//     `finalizers.fluxcd.io` on a HelmRelease in an app namespace. Uninstalling the operator first
//     (helm 3 and helm 4), then deleting the app namespace, leaves the namespace Terminating: the
//     namespace controller reports the finalizer as what remains. Removing that finalizer by hand
//     lets the namespace go, so it was the cause. The correct order (HelmReleases deleted while the
//     operator runs, then the operator) leaves nothing behind.
//   - metrics-server, installed by a chart shaped like its own, serves the aggregated APIService
//     v1beta1.metrics.k8s.io. With it running a namespace deletion completes; with its Deployment
//     scaled to 0 the APIService turns unavailable and a namespace deletion stays Terminating with
//     NamespaceDeletionDiscoveryFailure; bringing the backend back lets the namespace go.
// Why Flux's helm-controller and not the VictoriaMetrics operator of the report: see
// test/cluster/README.md, "Programs supervised by their Deployment".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { fluxOperatorChart, startProgramSupervisor } from '../cluster/deploymentPrograms.ts';
import { createHelmRelease, getHelmRelease } from '../cluster/flux/helmRelease.ts';
import type { OlmSupervisor } from '../cluster/olmSupervisor.ts';
import { freePort, waitFor } from '../cluster/proc.ts';
import { chartPath, describeNamespace, namespaceState, output, scenarioRunner, waitNamespaceGone, type NamespaceState } from '../scenarios/harness.ts';

const FLUX_FINALIZER = 'finalizers.fluxcd.io';
const APISERVICE = 'v1beta1.metrics.k8s.io';
/** Bounds on waits for real controllers; none of them is asserted on. */
const CONTROLLER_TIMEOUT_MS = 60_000;

type Condition = { type: string; status: string; reason?: string; message?: string };

/** Waits until the namespace controller states a condition on the namespace, and returns the state it saw. */
async function namespaceCondition(cp: ControlPlane, ns: string, type: string, matches: (c: Condition) => boolean): Promise<NamespaceState> {
  let last: NamespaceState | undefined;
  return waitFor(`namespace ${ns} condition ${type}`, CONTROLLER_TIMEOUT_MS, async () => {
    last = await namespaceState(cp, ns);
    return last.conditions.some((c) => c.type === type && c.status === 'True' && matches(c)) ? last : undefined;
  }, 250).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; last: ${last ? describeNamespace(last) : 'none'}`);
  });
}

async function apiServiceAvailable(cp: ControlPlane): Promise<Condition | undefined> {
  const o = await cp.client.get<{ status?: { conditions?: Condition[] } }>(`/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE}`);
  return o?.status?.conditions?.find((c) => c.type === 'Available');
}

async function waitApiService(cp: ControlPlane, status: 'True' | 'False'): Promise<Condition> {
  return waitFor(`APIService ${APISERVICE} Available=${status}`, CONTROLLER_TIMEOUT_MS, async () => {
    const c = await apiServiceAvailable(cp);
    return c?.status === status ? c : undefined;
  }, 250);
}

async function mustRun(what: string, p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<void> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed:\n${output(r)}`);
}

describe('third-party programs: teardowns that hang without the guard', () => {
  let cp: ControlPlane | undefined;
  let programs: OlmSupervisor | undefined;
  let operatorChart = '';
  const timings: Record<string, number> = {};
  const scenario = scenarioRunner(() => cp, timings);
  const cluster = () => {
    if (!cp) throw new Error('control plane not started');
    return cp;
  };

  beforeAll(async () => {
    cp = await startControlPlane({ log: () => {} });
    programs = startProgramSupervisor(cp);
    operatorChart = fluxOperatorChart(chartPath('flux-operator'), cp.dir);
  }, 120_000);

  afterAll(async () => {
    await programs?.stop();
    await cp?.stop();
    console.log(`[operators] timings (ms): ${JSON.stringify(timings)}`);
  }, 60_000);

  /** Installs the operator chart in `opNs` and a HelmRelease in `appNs`; returns once the operator put its finalizer on it. */
  async function operatorWithHelmRelease(version: 3 | 4, opNs: string, appNs: string): Promise<void> {
    const c = cluster();
    await mustRun('helm install flux-operator', c.helm(version, ['install', 'flux', operatorChart, '-n', opNs, '--create-namespace']));
    await programs!.waitRunning(opNs, 'helm-controller', CONTROLLER_TIMEOUT_MS);
    await mustRun(`create namespace ${appNs}`, c.kubectl(['create', 'namespace', appNs]));
    // The HelmChart it points at never exists: the finalizer comes first, before any chart lookup.
    await createHelmRelease(c, { namespace: appNs, name: 'podinfo', chartRef: 'podinfo' });
    await waitFor(`helm-controller's finalizer on ${appNs}/podinfo`, CONTROLLER_TIMEOUT_MS, async () =>
      (await getHelmRelease(c, appNs, 'podinfo'))?.metadata.finalizers?.includes(FLUX_FINALIZER) ? true : undefined, 250);
  }

  for (const version of [3, 4] as const) {
    it(`helm ${version}: uninstalling the operator before its HelmReleases leaves the app namespace Terminating on ${FLUX_FINALIZER}`, async () => {
      await scenario(`operator-first-helm${version}`, async () => {
        const c = cluster();
        const opNs = `flux-op-h${version}`;
        const appNs = `flux-app-h${version}`;
        await operatorWithHelmRelease(version, opNs, appNs);

        await mustRun('helm uninstall flux', c.helm(version, ['uninstall', 'flux', '-n', opNs, '--wait', '--timeout', '60s']));
        await programs!.waitStopped(opNs, 'helm-controller', CONTROLLER_TIMEOUT_MS);
        expect(programs!.isRunning(opNs, 'helm-controller')).toBe(false);
        await mustRun(`delete namespace ${appNs}`, c.kubectl(['delete', 'namespace', appNs, '--wait=false']));

        // The namespace controller has deleted everything else and says what is left.
        const stuck = await namespaceCondition(c, appNs, 'NamespaceFinalizersRemaining', (x) => (x.message ?? '').includes(FLUX_FINALIZER));
        expect(stuck.phase).toBe('Terminating');
        const hr = await getHelmRelease(c, appNs, 'podinfo');
        expect(hr?.metadata.deletionTimestamp).toBeTruthy();
        expect(hr?.metadata.finalizers).toEqual([FLUX_FINALIZER]);

        // The finalizer was the cause: removed by hand, the namespace goes.
        await mustRun('remove the finalizer', c.kubectl(['patch', 'helmrelease', 'podinfo', '-n', appNs, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']));
        await waitNamespaceGone(c, appNs, CONTROLLER_TIMEOUT_MS);
        await mustRun(`delete namespace ${opNs}`, c.kubectl(['delete', 'namespace', opNs, '--wait=true', '--timeout=60s']));
      });
    }, 240_000);

    it(`helm ${version}: HelmReleases deleted while the operator runs, then the operator: every namespace goes`, async () => {
      await scenario(`correct-order-helm${version}`, async () => {
        const c = cluster();
        const opNs = `flux-op-ok-h${version}`;
        const appNs = `flux-app-ok-h${version}`;
        await operatorWithHelmRelease(version, opNs, appNs);

        await mustRun('delete helmrelease', c.kubectl(['delete', 'helmrelease', 'podinfo', '-n', appNs, '--wait=true', '--timeout=60s']));
        expect(await getHelmRelease(c, appNs, 'podinfo')).toBeUndefined();
        await mustRun('helm uninstall flux', c.helm(version, ['uninstall', 'flux', '-n', opNs, '--wait', '--timeout', '60s']));
        await programs!.waitStopped(opNs, 'helm-controller', CONTROLLER_TIMEOUT_MS);
        await mustRun(`delete namespace ${appNs}`, c.kubectl(['delete', 'namespace', appNs, '--wait=false']));
        await waitNamespaceGone(c, appNs, CONTROLLER_TIMEOUT_MS);
        await mustRun(`delete namespace ${opNs}`, c.kubectl(['delete', 'namespace', opNs, '--wait=true', '--timeout=60s']));
      });
    }, 240_000);
  }

  it(`an aggregated API whose backend is stopped: namespace deletion stays Terminating with NamespaceDeletionDiscoveryFailure`, async () => {
    await scenario('apiservice-backend-stopped', async () => {
      const c = cluster();
      const ns = 'metrics';
      const port = await freePort();
      await mustRun('helm install metrics-server', c.helm(4, ['install', 'metrics-server', chartPath('metrics-server'), '-n', ns, '--create-namespace', '--set', `containerPort=${port}`]));
      await programs!.waitRunning(ns, 'metrics-server', CONTROLLER_TIMEOUT_MS);
      // The real backend answers discovery through the aggregator.
      await waitApiService(c, 'True');
      await mustRun('create namespace probe-alive', c.kubectl(['create', 'namespace', 'probe-alive']));
      await mustRun('delete namespace probe-alive', c.kubectl(['delete', 'namespace', 'probe-alive', '--wait=false']));
      await waitNamespaceGone(c, 'probe-alive', CONTROLLER_TIMEOUT_MS);

      await mustRun('scale metrics-server to 0', c.kubectl(['scale', 'deployment', 'metrics-server', '-n', ns, '--replicas=0']));
      await programs!.waitStopped(ns, 'metrics-server', CONTROLLER_TIMEOUT_MS);
      const down = await waitApiService(c, 'False');
      expect(down.reason).toBe('FailedDiscoveryCheck');

      await mustRun('create namespace probe-down', c.kubectl(['create', 'namespace', 'probe-down']));
      await mustRun('delete namespace probe-down', c.kubectl(['delete', 'namespace', 'probe-down', '--wait=false']));
      const stuck = await namespaceCondition(c, 'probe-down', 'NamespaceDeletionDiscoveryFailure', (x) => (x.message ?? '').includes('metrics.k8s.io/v1beta1'));
      expect(stuck.phase).toBe('Terminating');

      // The stopped backend was the cause: back up, the namespace goes.
      await mustRun('scale metrics-server to 1', c.kubectl(['scale', 'deployment', 'metrics-server', '-n', ns, '--replicas=1']));
      await waitApiService(c, 'True');
      await waitNamespaceGone(c, 'probe-down', CONTROLLER_TIMEOUT_MS);
      await mustRun('helm uninstall metrics-server', c.helm(4, ['uninstall', 'metrics-server', '-n', ns, '--wait', '--timeout', '60s']));
    });
  }, 240_000);
});
