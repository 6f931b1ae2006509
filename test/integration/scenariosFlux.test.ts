// The Flux shape for real (issue 10, item 1): Flux's helm-controller, built from its Go module at
// the pinned version, runs as a host process against the loopback control plane and installs a
// HelmRelease whose records live in one namespace (spec.storageNamespace, or the HelmRelease's
// own) and whose objects live in another (spec.targetNamespace); deleting the HelmRelease makes it
// uninstall the release.
// Without the guard first (proving the install and uninstall really happen), then with the guard,
// both policies in enforce: no denial, no warning, no guard annotation, and the audit review
// (src/audit/README.md) finds no misdirected uninstall in the real audit log.
// How the controller runs and where its chart comes from: test/cluster/README.md, "Flux's helm-controller".
import { gunzipSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { waitFor } from '../cluster/proc.ts';
import { fluxDataDir, missingComponents } from '../cluster/paths.ts';
import { serveChartArtifact, type ChartArtifact } from '../cluster/flux/chartArtifact.ts';
import { publishHelmChart } from '../cluster/flux/helmChartSource.ts';
import { FLUX_NAMESPACE, HELM_CONTROLLER_SA, startHelmController, type HelmController } from '../cluster/flux/helmController.ts';
import { createHelmRelease, deleteHelmReleaseAndWait, releaseNameOf, waitHelmReleaseReady, type HelmReleaseSpec } from '../cluster/flux/helmRelease.ts';
import { GuardSession, type Guard } from '../scenarios/guard.ts';
import { markGuardPath } from '../scenarios/guardInPath.ts';
import {
  auditEventsSince,
  auditOffset,
  chartPath,
  DENIED_TEXT,
  ensureNamespace,
  existing,
  GUARD_TEXT,
  guardAnnotated,
  releaseRecords,
  simpleAppObjects,
  type AuditEvent,
  reviewAuditEvents,
  lineOffset,
  linesSince,
} from '../scenarios/harness.ts';
import type { AuditFinding } from '../../src/audit/findings.ts';

const APPS = 'flux-apps';
const STORE = 'flux-store';
const TARGET = 'flux-target';
const CHART = 'simple-app';
/** Flux keeps records in spec.storageNamespace when set, else in the HelmRelease's own namespace; both deploy into TARGET. */
const SHAPES: HelmReleaseSpec[] = [
  { namespace: APPS, name: 'web', chartRef: CHART, storageNamespace: STORE, targetNamespace: TARGET },
  { namespace: APPS, name: 'api', chartRef: CHART, targetNamespace: TARGET },
];
const storageOf = (hr: HelmReleaseSpec) => hr.storageNamespace ?? hr.namespace;
const CONTROLLER_USER = `system:serviceaccount:${FLUX_NAMESPACE}:${HELM_CONTROLLER_SA}`;
const INSTALL_TIMEOUT_MS = 45_000;
const UNINSTALL_TIMEOUT_MS = 45_000;
const REVIEWED: ReadonlyArray<AuditFinding['code']> = ['misdirected-uninstall', 'cross-release-delete', 'guard-denied', 'guard-warned'];

/** The namespace inside a Helm release record (Secret driver: base64 of gzipped JSON). */
async function recordPayloadNamespace(cp: ControlPlane, ns: string, secret: string): Promise<string | undefined> {
  const s = await cp.client.get<{ data?: { release?: string } }>(`/api/v1/namespaces/${ns}/secrets/${secret}`);
  if (!s?.data?.release) return undefined;
  const gz = Buffer.from(Buffer.from(s.data.release, 'base64').toString('utf8'), 'base64');
  return (JSON.parse(gunzipSync(gz).toString('utf8')) as { namespace?: string }).namespace;
}

async function releaseNamespaceAnnotations(cp: ControlPlane, release: string): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [];
  for (const ref of simpleAppObjects(TARGET, release)) {
    const o = await cp.client.get<{ metadata?: { annotations?: Record<string, string> } }>(ref.apiPath);
    out.push(o?.metadata?.annotations?.['meta.helm.sh/release-namespace']);
  }
  return out;
}

/**
 * The log as a cluster running Flux would have it: without this harness's own reads (admin through
 * its REST client) of records and objects between install and uninstall. Those reads are no part
 * of the scenario, and review opens an uninstall session on any record access by a client other
 * than kubectl (src/audit/README.md, "Uninstall sessions").
 */
const withoutHarnessReads = (events: AuditEvent[]) =>
  events.filter(
    (e) =>
      !(e.user?.username === 'admin' && ['get', 'list', 'watch'].includes(e.verb ?? '') && !(e as { userAgent?: string }).userAgent?.startsWith('kubectl')),
  );

/** Audit events of denied requests (admission webhooks answer 403 with their reason). */
const denied = (events: AuditEvent[]) => events.filter((e) => e.responseStatus?.code === 403 && e.stage === 'ResponseComplete');

/** Decision lines the guard logged after offset `from` (a lineOffset), once its log is flushed. */
const guardDecisions = (g: Guard, from: number) => g.decisionsSince(from);

interface Run {
  hr: HelmReleaseSpec;
  release: string;
  installMs: number;
  uninstallMs: number;
  recordsAfterInstall: string[];
  recordsElsewhere: string[];
  payloadNamespace: string | undefined;
  objectsAfterInstall: string[];
  annotationNamespaces: Array<string | undefined>;
  downloads: number;
  recordsAfterUninstall: string[];
  objectsAfterUninstall: string[];
  events: AuditEvent[];
  controllerLog: string;
}

let cp: ControlPlane;
let hc: HelmController | undefined;
let artifact: ChartArtifact | undefined;
const guard = new GuardSession(() => cp);
const timings: Record<string, number> = {};

/** Installs through a new HelmRelease, observes, deletes it, observes; every wait bounded. */
async function installAndUninstall(label: string, hr: HelmReleaseSpec): Promise<Run> {
  const release = releaseNameOf(hr);
  const storage = storageOf(hr);
  const from = auditOffset(cp);
  const logFrom = lineOffset(hc!.logPath);
  const downloadsBefore = artifact!.downloads();
  const t0 = Date.now();
  await createHelmRelease(cp, hr);
  await waitHelmReleaseReady(cp, hr.namespace, hr.name, INSTALL_TIMEOUT_MS);
  const installMs = Date.now() - t0;
  const records = await releaseRecords(cp, storage, release);
  const elsewhere: Awaited<ReturnType<typeof releaseRecords>> = [];
  for (const ns of [APPS, STORE, TARGET].filter((n) => n !== storage)) elsewhere.push(...(await releaseRecords(cp, ns, release)));
  const observed = {
    recordsAfterInstall: records.map((r) => `v${r.version} ${r.status}`),
    recordsElsewhere: elsewhere.map((r) => r.name),
    payloadNamespace: records[0] ? await recordPayloadNamespace(cp, storage, records[0].name) : undefined,
    objectsAfterInstall: await existing(cp, simpleAppObjects(TARGET, release)),
    annotationNamespaces: await releaseNamespaceAnnotations(cp, release),
    downloads: artifact!.downloads() - downloadsBefore,
  };
  const t1 = Date.now();
  await deleteHelmReleaseAndWait(cp, hr.namespace, hr.name, UNINSTALL_TIMEOUT_MS);
  const uninstallMs = Date.now() - t1;
  timings[`${label}-install`] = installMs;
  timings[`${label}-uninstall`] = uninstallMs;
  // The audit log is written asynchronously; the uninstall's last events land within a moment.
  await new Promise((r) => setTimeout(r, 1500));
  return {
    hr,
    release,
    installMs,
    uninstallMs,
    ...observed,
    recordsAfterUninstall: (await releaseRecords(cp, storage, release)).map((r) => r.name),
    objectsAfterUninstall: await existing(cp, simpleAppObjects(TARGET, release)),
    events: auditEventsSince(cp, from),
    controllerLog: linesSince(hc!.logPath, logFrom).join('\n'),
  };
}

/**
 * Runs a scenario step. A failed wait or request is rethrown carrying helm-controller's and the
 * cluster's log tails; a failed assertion keeps its diff and the tails go to stderr beside it.
 */
async function withDiagnostics<T>(name: string, body: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await body();
  } catch (e) {
    const tails = `----- helm-controller (last 40 lines)\n${hc?.logTail(40) ?? '(not started)'}\n${cp?.diagnostics(10) ?? ''}`;
    if (e instanceof Error && e.name === 'AssertionError') {
      console.error(`[flux] ${name} failed\n${tails}`);
      throw e;
    }
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}\n${tails}`, { cause: e });
  } finally {
    timings[name] = Date.now() - t0;
  }
}

/** Assertions shared by both runs: the release really was installed Flux's way and really uninstalled. */
function expectRealInstallAndUninstall(r: Run): void {
  const storage = storageOf(r.hr);
  expect(r.downloads, 'helm-controller downloaded the chart artifact').toBeGreaterThanOrEqual(1);
  expect(r.recordsAfterInstall, `records in ${storage}`).toEqual(['v1 deployed']);
  expect(r.recordsElsewhere, `records only in ${storage}`).toEqual([]);
  expect(r.payloadNamespace, 'the record payload names the target namespace').toBe(TARGET);
  expect(r.objectsAfterInstall).toEqual(simpleAppObjects(TARGET, r.release).map((o) => o.display));
  expect(r.annotationNamespaces).toEqual([TARGET, TARGET, TARGET]);
  expect(r.recordsAfterUninstall, 'records purged by the uninstall').toEqual([]);
  expect(r.objectsAfterUninstall, 'objects deleted by the uninstall').toEqual([]);
  // The uninstall was helm-controller's: its ServiceAccount deleted the objects in the target namespace and the record in the storage namespace.
  const deletes = r.events.filter((e) => e.verb === 'delete' && e.stage === 'ResponseComplete' && e.user?.username === CONTROLLER_USER);
  expect(deletes.some((e) => e.objectRef?.resource === 'secrets' && e.objectRef.namespace === storage)).toBe(true);
  expect(
    deletes
      .filter((e) => e.objectRef?.namespace === TARGET)
      .map((e) => e.objectRef?.resource)
      .sort(),
  ).toEqual(['configmaps', 'deployments', 'services']);
  const findings = reviewAuditEvents(withoutHarnessReads(r.events)).filter((f) => REVIEWED.includes(f.code));
  expect(findings.map((f) => `${f.code}: ${f.title}`)).toEqual([]);
}

/** With the guard in enforce: it reviewed every DELETE of the uninstall and said nothing to anyone. */
async function expectGuardSilent(g: Guard, guardFrom: number, r: Run): Promise<void> {
  expect(denied(r.events).map((e) => `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace}/${e.objectRef?.name}`)).toEqual([]);
  expect(
    guardAnnotated(r.events).map((e) => `${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace}/${e.objectRef?.name}: ${JSON.stringify(e.annotations)}`),
  ).toEqual([]);
  // Warnings reach helm-controller's client, which logs them; denials surface in its log too.
  expect(r.controllerLog).not.toMatch(GUARD_TEXT);
  expect(r.controllerLog).not.toMatch(DENIED_TEXT);
  // The guard was asked (its webhooks match the Helm-owned objects and the record) and allowed every request.
  const decisions = await guardDecisions(g, guardFrom);
  const reviewed = new Set(decisions.filter((d) => d.operation === 'DELETE' && d.user === CONTROLLER_USER).map((d) => d.object));
  expect([...reviewed].sort(), 'the guard reviewed every DELETE of the uninstall').toEqual([
    `ConfigMap ${TARGET}/${r.release}-config`,
    `Deployment ${TARGET}/${r.release}-app`,
    `Secret ${storageOf(r.hr)}/sh.helm.release.v1.${r.release}.v1`,
    `Service ${TARGET}/${r.release}-svc`,
  ]);
  expect(decisions.filter((d) => d.verdict !== 'allow').map((d) => JSON.stringify(d))).toEqual([]);
}

beforeAll(async () => {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm3', 'helm-controller']).filter(
    (m) => m !== 'olm-data',
  );
  if (!existsSync(join(fluxDataDir(), '.complete'))) missing.push('flux-data');
  if (missing.length) throw new Error(`pinned components missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
  cp = await controlPlaneForFile({ olm: 'none' });
  await withDiagnostics('flux-setup', async () => {
    hc = await startHelmController(cp);
    timings['controller-ready'] = hc.readyInMs;
    for (const ns of [APPS, STORE, TARGET]) await ensureNamespace(cp, ns);
    artifact = await serveChartArtifact(cp, chartPath('simple-app'), { namespace: APPS, name: CHART });
    await publishHelmChart(cp, APPS, CHART, artifact);
  });
});

afterAll(async () => {
  await guard.stop();
  await hc?.stop();
  await artifact?.close();
  await cp?.stop();
  console.log(
    `[flux] timings (s): ${Object.entries(timings)
      .map(([k, v]) => `${k}=${(v / 1000).toFixed(1)}`)
      .join(' ')}`,
  );
});

describe("Flux helm-controller (real): records in spec.storageNamespace or the HelmRelease's namespace, objects in spec.targetNamespace", () => {
  it('without the guard: helm-controller installs, and uninstalls when the HelmRelease is deleted', async () => {
    await guard.detach();
    for (const hr of SHAPES) {
      await withDiagnostics(`without-guard-${hr.name}`, async () => expectRealInstallAndUninstall(await installAndUninstall(`without-${hr.name}`, hr)));
    }
  });

  it('with the guard (both policies enforce): no denial, no warning, no guard annotation, no review finding', async (ctx) => {
    const g = await guard.get({ 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' });
    if (!g) return ctx.skip();
    const inPath = await markGuardPath(cp, g);
    for (const hr of SHAPES) {
      const guardFrom = lineOffset(g.logPath);
      await withDiagnostics(`with-guard-${hr.name}`, async () => {
        const r = await installAndUninstall(`with-${hr.name}`, hr);
        expectRealInstallAndUninstall(r);
        await expectGuardSilent(g, guardFrom, r);
      });
    }
    await inPath.verify();
  });

  it('helm-controller stops by itself when the cluster stops', async () => {
    await guard.stop();
    await artifact?.close();
    artifact = undefined;
    expect(hc?.isRunning()).toBe(true);
    await cp.stop();
    await waitFor('helm-controller stopped after the cluster', 10_000, () => (hc?.isRunning() ? undefined : true), 100);
  });
});
