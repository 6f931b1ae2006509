// Scenarios S1–S5 (issue 3) as plain async steps over a ControlPlane. Each step runs the real
// tools, records a Transcript, and returns what it observed; it asserts nothing. The vitest suite
// (test/integration/scenarios*.test.ts) asserts on the observations and the demo prints them.
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { CSV_CLEANUP, getCsv, installOlm, OLM_NAMESPACE, applyObjects, waitDeploymentAvailable } from '../cluster/olm.ts';
import { binaryImage } from '../cluster/node/images.ts';
import { sleep, waitFor } from '../cluster/proc.ts';
import type { RunResult } from '../cluster/proc.ts';
import {
  chartPath,
  csvsIn,
  ensureNamespace,
  existing,
  forceRemoveOperatorNamespace,
  helm,
  kubectl,
  namespaceState,
  olmOwnedClusterObjects,
  releaseRecords,
  sdkInstall,
  sdkUninstall,
  simpleAppObjects,
  stuckOnFinalizer,
  Transcript,
  waitNamespaceGone,
  type NamespaceState,
  type ReleaseRecord,
} from './harness.ts';
import { csvManifest, csvRbacManifests, operatorGroupManifest } from './objects.ts';

// ---------------------------------------------------------------------------------------------
// S1 — incident A: a chart that ships OLM, an operator namespace and a CSV (Pixie's shape).

export const S1 = {
  release: 'pixie',
  releaseNamespace: 'pl',
  olmNamespace: 'olm',
  operatorNamespace: 'px-operator',
  csv: 'pixie-operator.v0.1.0',
} as const;

/**
 * `helm install` the pixie-like chart; waits until the real olm-operator runs and has put
 * csv-cleanup on the CSV. `withFix` adds Pixie's pre-delete csv-deleter hook (pixie-io/pixie#2059).
 */
export async function s1Install(cp: ControlPlane, t: Transcript, helmVersion: 3 | 4 = 3, withFix = false): Promise<RunResult> {
  const fix = withFix ? ['--set', 'csvDeleterHook=true'] : [];
  // On a node the chart's olm-operator and hook Job run as Pods: of the pinned binaries' images
  // startControlPlane imported, since no registry image can be pulled here.
  const images = cp.node ? ['--set', `olmImage=${binaryImage('olm').ref}`, '--set', `kubectlImage=${binaryImage('kubectl').ref}`] : [];
  const r = await helm(
    cp,
    t,
    helmVersion,
    ['install', S1.release, chartPath('pixie-like'), '-n', S1.releaseNamespace, '--create-namespace', ...images, ...fix],
    `install the Pixie-shaped chart${withFix ? ' with its pre-delete hook fix' : ''}`,
  );
  if (r.code !== 0) throw new Error(`helm install failed:\n${r.stdout}${r.stderr}`);
  await cp.olm?.waitRunning(S1.olmNamespace, 'olm-operator', 60_000);
  await waitDeploymentAvailable(cp, S1.olmNamespace, 'olm-operator', 60_000);
  await waitFor('CSV carrying csv-cleanup (added by the real olm-operator)', 60_000, async () =>
    (await getCsv(cp, S1.operatorNamespace, S1.csv))?.metadata.finalizers?.includes(CSV_CLEANUP) ? true : undefined,
  );
  // OLM installs the CSV: its ClusterRole/Binding (labelled olm.owner) are what csv-cleanup must delete.
  await waitFor('OLM-owned ClusterRole/Binding for the CSV', 60_000, async () =>
    (await olmOwnedClusterObjects(cp, S1.operatorNamespace)).length >= 2 ? true : undefined,
  );
  const pid = cp.olm?.running().find((p) => p.namespace === S1.olmNamespace)?.pid;
  t.note(`installed: olm-operator running (${pid ? `host pid ${pid}` : 'a Pod on the node'}), CSV ${S1.operatorNamespace}/${S1.csv} carries ${CSV_CLEANUP}`);
  return r;
}

export interface S1UninstallResult {
  helm: RunResult;
  operatorNamespace: NamespaceState;
  olmRunning: boolean;
  records: ReleaseRecord[];
}

export async function s1Uninstall(cp: ControlPlane, t: Transcript, helmVersion: 3 | 4 = 3, debug = false): Promise<S1UninstallResult> {
  const r = await helm(cp, t, helmVersion, ['uninstall', S1.release, '-n', S1.releaseNamespace, ...(debug ? ['--debug'] : [])], 'uninstall');
  // A host process stops within a supervisor poll; a Pod once the garbage collector reaches it.
  if (r.code === 0) await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000).catch(() => undefined);
  else await sleep(1000);
  return {
    helm: r,
    operatorNamespace: await namespaceState(cp, S1.operatorNamespace),
    olmRunning: cp.olm?.isRunning(S1.olmNamespace, 'olm-operator') ?? false,
    records: await releaseRecords(cp, S1.releaseNamespace, S1.release),
  };
}

/**
 * Without the guard: is the operator namespace stuck Terminating for good? The namespace deleter
 * reports it held by csv-cleanup alone and no olm-operator runs anywhere (harness.ts
 * stuckOnFinalizer); `timeoutMs` bounds the wait for that report.
 */
export async function s1ObserveStuck(cp: ControlPlane, t: Transcript, timeoutMs = 60_000): Promise<{ stuck: boolean; last: NamespaceState }> {
  const r = await stuckOnFinalizer(cp, S1.operatorNamespace, CSV_CLEANUP, { controllerRunning: () => (cp.olm?.running().length ?? 0) > 0, timeoutMs });
  await kubectl(cp, t, ['get', 'ns'], 'what the user sees');
  await kubectl(
    cp,
    t,
    ['get', 'csv', '-n', S1.operatorNamespace, '-o', 'custom-columns=NAME:.metadata.name,DELETING:.metadata.deletionTimestamp,FINALIZERS:.metadata.finalizers'],
    'the CSV holding it',
  );
  t.note(`${S1.operatorNamespace} ${r.stuck ? `Terminating, held only by ${CSV_CLEANUP}, and no olm-operator runs to remove it` : 'not stuck'}`);
  return r;
}

/** Resets the cluster after the reproduced incident with the manual remedy (finalizer patch + leaked objects). */
export async function s1ManualCleanup(cp: ControlPlane, t: Transcript): Promise<void> {
  await forceRemoveOperatorNamespace(cp, S1.operatorNamespace, t);
  for (const ns of [S1.olmNamespace, S1.releaseNamespace]) {
    if (await cp.client.get(`/api/v1/namespaces/${ns}`)) {
      await cp.client.request('DELETE', `/api/v1/namespaces/${ns}`);
      await waitNamespaceGone(cp, ns);
    }
  }
}

export interface S1RecoveryResult {
  rollback?: RunResult;
  deleteOperatorNamespace: RunResult;
  uninstall: RunResult;
  leftovers: string[];
}

/**
 * The documented recovery after the guard denied the namespace DELETE: bring OLM back if the
 * uninstall already removed it (helm rollback re-creates the release's objects), delete the
 * operator namespace while OLM runs (it removes csv-cleanup), then uninstall again.
 */
export async function s1Recover(cp: ControlPlane, t: Transcript, helmVersion: 3 | 4 = 3): Promise<S1RecoveryResult> {
  let rollback: RunResult | undefined;
  if (!(cp.olm?.isRunning(S1.olmNamespace, 'olm-operator') ?? false)) {
    // A Terminating olm namespace must finish before the rollback can re-create it.
    const olmNs = await namespaceState(cp, S1.olmNamespace);
    if (olmNs.exists && olmNs.phase === 'Terminating') await waitNamespaceGone(cp, S1.olmNamespace);
    const revision = (await releaseRecords(cp, S1.releaseNamespace, S1.release)).at(-1)?.version ?? 1;
    rollback = await helm(cp, t, helmVersion, ['rollback', S1.release, String(revision), '-n', S1.releaseNamespace], 'recovery 1: bring OLM back (rollback)');
    await cp.olm?.waitRunning(S1.olmNamespace, 'olm-operator', 60_000);
    await waitDeploymentAvailable(cp, S1.olmNamespace, 'olm-operator', 60_000);
  }
  const del = await kubectl(cp, t, ['delete', 'namespace', S1.operatorNamespace, '--timeout=90s'], 'recovery 2: delete the operator namespace while OLM runs');
  const uninstall = await helm(cp, t, helmVersion, ['uninstall', S1.release, '-n', S1.releaseNamespace], 'recovery 3: uninstall');
  for (const ns of [S1.operatorNamespace, S1.olmNamespace]) await waitNamespaceGone(cp, ns).catch(() => undefined);
  await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000).catch(() => undefined);
  return { ...(rollback ? { rollback } : {}), deleteOperatorNamespace: del, uninstall, leftovers: await s1Leftovers(cp) };
}

export interface S1RerunResult {
  first: RunResult;
  olmRunningAfterFirst: boolean;
  /** From the end of the first uninstall until the operator namespace was gone. */
  operatorNamespaceGoneMs: number;
  second: RunResult;
  leftovers: string[];
}

/**
 * With the guard: the first `helm uninstall` is held back at OLM (its Deployment, RBAC, SA and
 * namespace) while it deletes the operator namespace, which OLM then finalizes; the same command
 * run again once that namespace is gone removes OLM and the release.
 */
export async function s1UninstallTwice(cp: ControlPlane, t: Transcript, helmVersion: 3 | 4): Promise<S1RerunResult> {
  const args = ['uninstall', S1.release, '-n', S1.releaseNamespace];
  const first = await helm(cp, t, helmVersion, args, 'uninstall (the guard holds OLM back)');
  await sleep(1000); // the supervisor would notice a deleted Deployment within a poll
  // Held back means OLM keeps running; its container may be restarting at this moment (seen on the
  // node: one restart right after the first uninstall), so running again within a bound counts.
  const olmRunningAfterFirst = cp.olm
    ? await cp.olm.waitRunning(S1.olmNamespace, 'olm-operator', 15_000).then(
        () => true,
        () => false,
      )
    : false;
  const started = Date.now();
  await waitNamespaceGone(cp, S1.operatorNamespace, 120_000);
  const operatorNamespaceGoneMs = Date.now() - started;
  t.note(`${S1.operatorNamespace} gone ${(operatorNamespaceGoneMs / 1000).toFixed(1)} s after the first uninstall returned`);
  const second = await helm(cp, t, helmVersion, args, 'the same uninstall again');
  await waitNamespaceGone(cp, S1.olmNamespace, 120_000).catch(() => undefined);
  await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000).catch(() => undefined);
  return { first, olmRunningAfterFirst, operatorNamespaceGoneMs, second, leftovers: await s1Leftovers(cp) };
}

/** `kubectl delete namespace` of the operator namespace and OLM's in one command, in the given order. */
export async function s1DeleteNamespacesTogether(cp: ControlPlane, t: Transcript, order: string[]): Promise<{ result: RunResult; operator: NamespaceState }> {
  const result = await kubectl(cp, t, ['delete', 'namespace', ...order, '--wait=false'], `delete ${order.join(' and ')} in one command`);
  await sleep(2000);
  return { result, operator: await namespaceState(cp, S1.operatorNamespace) };
}

/** Everything S1's release or OLM left behind (empty = clean). */
export async function s1Leftovers(cp: ControlPlane): Promise<string[]> {
  const out: string[] = [];
  for (const ns of [S1.operatorNamespace, S1.olmNamespace]) {
    const s = await namespaceState(cp, ns);
    if (s.exists) out.push(`namespace ${ns} (${s.phase})`);
  }
  for (const c of await csvsIn(cp).catch(() => [])) if (!c.copied || c.name === S1.csv) out.push(`csv ${c.namespace}/${c.name}`);
  out.push(...(await olmOwnedClusterObjects(cp, S1.operatorNamespace)));
  for (const r of await releaseRecords(cp, S1.releaseNamespace, S1.release)) out.push(`release record ${r.name} (${r.status})`);
  if (cp.olm?.isRunning(S1.olmNamespace, 'olm-operator')) out.push('olm-operator process');
  return out;
}

// ---------------------------------------------------------------------------------------------
// S2/S3 — incident B: the Helm SDK program initialised with "helm-test" while its kube client
// keeps the kubeconfig's namespace ("default").

export const S2 = { release: 'web', namespace: 'helm-test' } as const;

export async function helmInstallSimpleApp(
  cp: ControlPlane,
  t: Transcript,
  ns: string,
  release: string = S2.release,
  helmVersion: 3 | 4 = 3,
): Promise<RunResult> {
  await ensureNamespace(cp, ns);
  const r = await helm(cp, t, helmVersion, ['install', release, chartPath('simple-app'), '-n', ns], `install ${release} in ${ns}`);
  if (r.code !== 0) throw new Error(`helm install failed:\n${r.stdout}${r.stderr}`);
  return r;
}

export interface SdkUninstallResult {
  sdk: RunResult;
  records: ReleaseRecord[];
  /** simple-app objects still present in the release namespace. */
  remaining: string[];
  /** simple-app objects of the same release name still present in "default" (S3). */
  remainingInDefault: string[];
  helmList: string;
}

export async function s2SdkUninstall(cp: ControlPlane, t: Transcript, o: { setNamespace?: boolean; keepHistory?: boolean } = {}): Promise<SdkUninstallResult> {
  const sdk = await sdkUninstall(cp, t, S2.release, { namespace: S2.namespace, ...o });
  const list = await helm(cp, t, 3, ['list', '-n', S2.namespace, '-a'], 'helm list afterwards');
  return {
    sdk,
    records: await releaseRecords(cp, S2.namespace, S2.release),
    remaining: await existing(cp, simpleAppObjects(S2.namespace, S2.release)),
    remainingInDefault: await existing(cp, simpleAppObjects('default', S2.release)),
    helmList: list.stdout,
  };
}

/** Removes whatever S2/S3 left (objects in helm-test and default, records) so the next scenario starts clean. */
export async function s2Cleanup(cp: ControlPlane): Promise<void> {
  for (const ns of [S2.namespace, 'default']) {
    const records = await releaseRecords(cp, ns, S2.release);
    if (records.length) await cp.helm(3, ['uninstall', S2.release, '-n', ns]);
    for (const ref of simpleAppObjects(ns, S2.release)) await cp.client.request('DELETE', ref.apiPath);
    await cp.kubectl(['delete', 'secret', '-n', ns, '-l', `owner=helm,name=${S2.release}`, '--ignore-not-found']);
  }
  if (await cp.client.get(`/api/v1/namespaces/${S2.namespace}`)) {
    await cp.client.request('DELETE', `/api/v1/namespaces/${S2.namespace}`);
    await waitNamespaceGone(cp, S2.namespace);
  }
}

// ---------------------------------------------------------------------------------------------
// S4 — no false positives: correct teardowns the guard must leave alone.

export interface S4Case {
  name: string;
  run(cp: ControlPlane, t: Transcript): Promise<RunResult[]>;
}

const ok = (r: RunResult, what: string): RunResult => {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return r;
};

type ChartName = Parameters<typeof chartPath>[0];

/** One correct CLI teardown: `helm install` into `ns`, then `helm uninstall -n ns` (plus flags). */
async function cliRoundTrip(
  cp: ControlPlane,
  t: Transcript,
  version: 3 | 4,
  ns: string,
  release: string,
  chart: ChartName,
  uninstallFlags: string[] = [],
): Promise<RunResult[]> {
  await ensureNamespace(cp, ns);
  const i = ok(await helm(cp, t, version, ['install', release, chartPath(chart), '-n', ns], 'install'), 'install');
  const u = ok(
    await helm(cp, t, version, ['uninstall', release, '-n', ns, ...uninstallFlags], `uninstall${uninstallFlags.length ? ` ${uninstallFlags.join(' ')}` : ''}`),
    'uninstall',
  );
  return [i, u];
}

export const S4_CASES: S4Case[] = [
  {
    name: 'helm 3 CLI install + uninstall -n',
    run: (cp, t) => cliRoundTrip(cp, t, 3, 's4-h3', 'app', 'simple-app'),
  },
  {
    name: 'helm 4 CLI install + uninstall -n',
    run: (cp, t) => cliRoundTrip(cp, t, 4, 's4-h4', 'app', 'simple-app'),
  },
  {
    name: 'Helm SDK uninstall with SetNamespace (the workaround)',
    async run(cp, t) {
      await ensureNamespace(cp, 's4-sdk');
      const i = ok(await helm(cp, t, 3, ['install', 'app', chartPath('simple-app'), '-n', 's4-sdk'], 'install'), 'install');
      const u = ok(await sdkUninstall(cp, t, 'app', { namespace: 's4-sdk', setNamespace: true }), 'SDK uninstall');
      return [i, u];
    },
  },
  {
    name: '--keep-history (CLI and SDK)',
    async run(cp, t) {
      await ensureNamespace(cp, 's4-keep');
      const i1 = ok(await helm(cp, t, 3, ['install', 'cli', chartPath('simple-app'), '-n', 's4-keep'], 'install'), 'install');
      const i2 = ok(await helm(cp, t, 3, ['install', 'sdk', chartPath('simple-app'), '-n', 's4-keep'], 'install'), 'install');
      const u1 = ok(await helm(cp, t, 3, ['uninstall', 'cli', '-n', 's4-keep', '--keep-history'], 'uninstall --keep-history'), 'uninstall');
      const u2 = ok(await sdkUninstall(cp, t, 'sdk', { namespace: 's4-keep', setNamespace: true, keepHistory: true }), 'SDK uninstall');
      return [i1, i2, u1, u2];
    },
  },
  {
    name: 'chart with pre-delete and post-delete hooks',
    run: (cp, t) => cliRoundTrip(cp, t, 3, 's4-hooks', 'hooks', 'hooks'),
  },
  {
    name: 'helm.sh/resource-policy: keep',
    run: (cp, t) => cliRoundTrip(cp, t, 3, 's4-keep-policy', 'kp', 'keep-policy'),
  },
  {
    name: 'chart creating objects in two namespaces',
    async run(cp, t) {
      await ensureNamespace(cp, 's4-two');
      await ensureNamespace(cp, 's4-shared');
      const i = ok(
        await helm(cp, t, 3, ['install', 'two', chartPath('two-namespaces'), '-n', 's4-two', '--set', 'otherNamespace=s4-shared'], 'install'),
        'install',
      );
      const u = ok(await helm(cp, t, 3, ['uninstall', 'two', '-n', 's4-two'], 'uninstall'), 'uninstall');
      return [i, u];
    },
  },
  {
    // Flux's helm-controller: records in the HelmRelease's namespace, the release and its objects
    // in spec.targetNamespace; the uninstall's DELETEs go to the target namespace, correctly.
    name: "Flux helm-controller's shape: records in one namespace, the release in another (SDK install + uninstall)",
    async run(cp, t) {
      await ensureNamespace(cp, 's4-flux-store');
      await ensureNamespace(cp, 's4-flux-target');
      const o = { namespace: 's4-flux-store', targetNamespace: 's4-flux-target' };
      const i = ok(await sdkInstall(cp, t, 'fx', chartPath('simple-app'), o), 'SDK install');
      const u = ok(await sdkUninstall(cp, t, 'fx', o), 'SDK uninstall');
      return [i, u];
    },
  },
  {
    // Storage.removeLeastRecent keeps the last deployed record and prunes the rest, oldest first:
    // after a failed upgrade (v2 failed, v1 deployed) --history-max 2 deletes the *newest* record,
    // v2, right before writing v3. A purge-looking DELETE that is history pruning.
    name: 'history pruning of the newest (failed) record by --history-max after a failed upgrade',
    async run(cp, t) {
      const ns = 's4-prune';
      await ensureNamespace(cp, ns);
      const chart = chartPath('simple-app');
      const i = ok(await helm(cp, t, 3, ['install', 'pr', chart, '-n', ns], 'install'), 'install');
      const bad = await helm(cp, t, 3, ['upgrade', 'pr', chart, '-n', ns, '--set', 'replicas=-1'], 'upgrade rejected by the API server (records v2 failed)');
      if (bad.code === 0) throw new Error('the failing upgrade succeeded');
      const good = ok(await helm(cp, t, 3, ['upgrade', 'pr', chart, '-n', ns, '--history-max', '2'], 'upgrade with --history-max 2 (prunes v2)'), 'upgrade');
      const records = (await releaseRecords(cp, ns, 'pr')).map((r) => r.version);
      if (records.includes(2) || !records.includes(3)) throw new Error(`expected v2 pruned and v3 written, records: ${records.join(',')}`);
      const u = ok(await helm(cp, t, 3, ['uninstall', 'pr', '-n', ns], 'uninstall'), 'uninstall');
      return [i, good, u];
    },
  },
  {
    // A failed uninstall of s4-stale-a/st hours ago left its record `uninstalling` (Helm's
    // modifiedAt label tells when): deleting s4-stale-b/st's objects now is nobody's uninstall.
    name: 'a stale `uninstalling` record of a same-named release elsewhere (a failed uninstall 5 h ago)',
    async run(cp, t) {
      for (const ns of ['s4-stale-a', 's4-stale-b']) await ensureNamespace(cp, ns);
      const chart = chartPath('simple-app');
      const ia = ok(await helm(cp, t, 3, ['install', 'st', chart, '-n', 's4-stale-a'], 'install'), 'install');
      const ib = ok(await helm(cp, t, 3, ['install', 'st', chart, '-n', 's4-stale-b'], 'install'), 'install');
      const fiveHoursAgo = String(Math.floor(Date.now() / 1000) - 5 * 3600);
      ok(
        await kubectl(
          cp,
          t,
          ['label', 'secret', '-n', 's4-stale-a', 'sh.helm.release.v1.st.v1', '--overwrite', 'status=uninstalling', `modifiedAt=${fiveHoursAgo}`],
          'leave s4-stale-a/st as a failed uninstall left it, 5 h ago',
        ),
        'label',
      );
      const d = ok(await kubectl(cp, t, ['delete', 'configmap', 'st-config', '-n', 's4-stale-b'], "delete one of s4-stale-b/st's objects by hand"), 'delete');
      const ua = ok(await helm(cp, t, 3, ['uninstall', 'st', '-n', 's4-stale-a'], 'finish the failed uninstall'), 'uninstall');
      const ub = ok(await helm(cp, t, 3, ['uninstall', 'st', '-n', 's4-stale-b'], 'uninstall'), 'uninstall');
      return [ia, ib, d, ua, ub];
    },
  },
  {
    // Helm 4 skips, on uninstall, objects whose ownership annotations name another release:
    // own-b took shared-config over from own-a with --take-ownership, so uninstalling own-a
    // purges its record with that object still there, correctly.
    name: 'helm 4: uninstall of a release whose object another release took over (--take-ownership)',
    async run(cp, t) {
      const ns = 's4-own';
      await ensureNamespace(cp, ns);
      const chart = chartPath('simple-app');
      const shared = ['--set', 'configName=shared-config'];
      const a = ok(await helm(cp, t, 4, ['install', 'own-a', chart, '-n', ns, ...shared], 'install own-a'), 'install');
      const b = ok(
        await helm(cp, t, 4, ['install', 'own-b', chart, '-n', ns, ...shared, '--take-ownership'], 'install own-b, taking shared-config over'),
        'install',
      );
      const ua = ok(await helm(cp, t, 4, ['uninstall', 'own-a', '-n', ns], 'uninstall own-a (skips shared-config)'), 'uninstall');
      if (!(await cp.client.get(`/api/v1/namespaces/${ns}/configmaps/shared-config`))) throw new Error('helm 4 deleted the object another release owns');
      const ub = ok(await helm(cp, t, 4, ['uninstall', 'own-b', '-n', ns], 'uninstall own-b'), 'uninstall');
      return [a, b, ua, ub];
    },
  },
  {
    // kube-system stays exempt from the namespace-deletion denial only; its releases (CNI,
    // metrics-server) are reviewed for incident B, and a correct uninstall there stays silent.
    name: 'helm 3 CLI install + uninstall of a release in kube-system',
    run: (cp, t) => cliRoundTrip(cp, t, 3, 'kube-system', 'ks', 'simple-app'),
  },
  {
    name: 'kubectl delete of an unrelated namespace',
    async run(cp, t) {
      await ensureNamespace(cp, 's4-unrelated');
      await cp.kubectl(['create', 'configmap', 'c', '-n', 's4-unrelated', '--from-literal=a=b']);
      const d = ok(await kubectl(cp, t, ['delete', 'namespace', 's4-unrelated', '--timeout=90s'], 'delete namespace'), 'delete namespace');
      return [d];
    },
  },
  {
    name: 'namespace controller emptying a namespace of Helm-owned objects',
    async run(cp, t) {
      await ensureNamespace(cp, 's4-nsdelete');
      const i = ok(await helm(cp, t, 3, ['install', 'app', chartPath('simple-app'), '-n', 's4-nsdelete'], 'install'), 'install');
      const d = ok(
        await kubectl(cp, t, ['delete', 'namespace', 's4-nsdelete', '--timeout=90s'], 'delete namespace (its Helm objects and records go with it)'),
        'delete namespace',
      );
      return [i, d];
    },
  },
];

/** Afterwards: what each S4 case should have removed is gone (and what it should keep is kept). */
export async function s4Leftovers(cp: ControlPlane): Promise<string[]> {
  const out: string[] = [];
  const check = async (path: string, what: string, expectPresent = false) => {
    const present = Boolean(await cp.client.get(path));
    if (present !== expectPresent) out.push(`${what} ${present ? 'still present' : 'missing'}`);
  };
  await check('/api/v1/namespaces/s4-h3/configmaps/app-config', 's4-h3 configmap');
  await check('/api/v1/namespaces/s4-h4/configmaps/app-config', 's4-h4 configmap');
  await check('/api/v1/namespaces/s4-sdk/configmaps/app-config', 's4-sdk configmap');
  await check('/api/v1/namespaces/s4-keep/configmaps/cli-config', 's4-keep cli configmap');
  await check('/api/v1/namespaces/s4-keep/configmaps/sdk-config', 's4-keep sdk configmap');
  await check('/api/v1/namespaces/s4-hooks/configmaps/hooks-app', 's4-hooks app configmap');
  await check('/api/v1/namespaces/s4-keep-policy/configmaps/kp-kept', 'kept configmap (resource-policy keep)', true);
  await check('/api/v1/namespaces/s4-keep-policy/configmaps/kp-ephemeral', 's4-keep-policy ephemeral configmap');
  await check('/api/v1/namespaces/s4-two/configmaps/two-local', 's4-two local configmap');
  await check('/api/v1/namespaces/s4-flux-target/configmaps/fx-config', 's4-flux-target configmap');
  if ((await releaseRecords(cp, 's4-flux-store', 'fx')).length > 0) out.push('s4-flux-store/fx records still present');
  await check('/api/v1/namespaces/kube-system/configmaps/ks-config', 'kube-system configmap');
  await check('/api/v1/namespaces/s4-prune/configmaps/pr-config', 's4-prune configmap');
  await check('/api/v1/namespaces/s4-own/configmaps/shared-config', 's4-own shared configmap');
  await check('/api/v1/namespaces/s4-stale-a/configmaps/st-config', 's4-stale-a configmap');
  await check('/api/v1/namespaces/s4-stale-b/configmaps/st-config', 's4-stale-b configmap');
  await check('/api/v1/namespaces/s4-shared/configmaps/two-remote', 's4-shared remote configmap');
  for (const ns of ['s4-unrelated', 's4-nsdelete']) {
    await waitNamespaceGone(cp, ns, 60_000).catch(() => out.push(`namespace ${ns} still present`));
  }
  const kept = await releaseRecords(cp, 's4-keep', 'cli');
  if (!kept.some((r) => r.status === 'uninstalled')) out.push('s4-keep/cli record not kept as uninstalled');
  return out;
}

const S4_NAMESPACES = [
  's4-own',
  's4-stale-a',
  's4-stale-b',
  's4-prune',
  's4-h3',
  's4-h4',
  's4-sdk',
  's4-keep',
  's4-hooks',
  's4-keep-policy',
  's4-two',
  's4-shared',
  's4-flux-store',
  's4-flux-target',
  's4-unrelated',
  's4-nsdelete',
];

export async function s4Reset(cp: ControlPlane): Promise<void> {
  for (const ns of S4_NAMESPACES) {
    if (await cp.client.get(`/api/v1/namespaces/${ns}`)) await cp.client.request('DELETE', `/api/v1/namespaces/${ns}`);
  }
  for (const ns of S4_NAMESPACES) {
    await waitNamespaceGone(cp, ns);
  }
}

// ---------------------------------------------------------------------------------------------
// S5 — OLM's own namespace vs. an operator namespace.

export const S5 = { operatorNamespace: 's5-operator', csv: 's5-operator.v0.1.0' } as const;

/** Installs upstream OLM (quickstart objects) on a cluster started with olm: 'crds'. */
export async function s5InstallOlm(cp: ControlPlane): Promise<void> {
  await installOlm(cp, 'quickstart', { timeoutMs: 90_000 });
}

export async function s5CreateOperator(cp: ControlPlane): Promise<void> {
  await ensureNamespace(cp, S5.operatorNamespace);
  await applyObjects(cp, [
    operatorGroupManifest(S5.operatorNamespace, 'og', [S5.operatorNamespace]),
    ...csvRbacManifests(S5.operatorNamespace, S5.csv),
    csvManifest(S5.operatorNamespace, S5.csv),
  ]);
  await waitFor('csv-cleanup on the S5 CSV', 60_000, async () =>
    (await getCsv(cp, S5.operatorNamespace, S5.csv))?.metadata.finalizers?.includes(CSV_CLEANUP) ? true : undefined,
  );
}

export async function s5DeleteOlmNamespace(cp: ControlPlane, t: Transcript, dryRun = false): Promise<{ result: RunResult; olm: NamespaceState }> {
  const args = ['delete', 'namespace', OLM_NAMESPACE, '--wait=false', ...(dryRun ? ['--dry-run=server'] : [])];
  const result = await kubectl(cp, t, args, `delete OLM's own namespace${dryRun ? ' (server dry-run)' : ''}`);
  return { result, olm: await namespaceState(cp, OLM_NAMESPACE) };
}

export async function s5DeleteOperatorNamespace(cp: ControlPlane, t: Transcript): Promise<{ result: RunResult; gone: boolean }> {
  const result = await kubectl(cp, t, ['delete', 'namespace', S5.operatorNamespace, '--timeout=90s'], 'delete the operator namespace while OLM runs');
  const gone = !(await cp.client.get(`/api/v1/namespaces/${S5.operatorNamespace}`));
  return { result, gone };
}
