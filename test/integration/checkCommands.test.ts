// `teardown-guard check` and `teardown-guard diagnose` as an operator runs them
// (`node bin/teardown-guard.js ... --kubeconfig K`), against the real control plane with the
// real olm-operator and the real helm CLI, and no guard registered:
//   - check namespace: exit 0 for an operator namespace with a CSV while OLM runs; exit 1, naming
//     the CSV and its finalizer, once the olm-operator Deployment is gone;
//   - check release: exit 1 for the Pixie-shaped chart (names the operator namespace and the CSV),
//     exit 0 for simple-app;
//   - diagnose namespace: on the namespace incident A leaves stuck in Terminating (helm uninstall
//     with OLM already gone), exit 1 and a report naming the CSV, the finalizer, that the
//     controller is gone, the kubectl patch and the olm.owner cleanup; then the printed commands,
//     run as printed, free the namespace and remove the leaked cluster-scoped objects;
//   - diagnose namespace on a namespace held by an APIService whose Service is missing
//     (NamespaceDeletionDiscoveryFailure): exit 1, names the APIService and its Service; the
//     printed `kubectl delete apiservice`, run as printed, lets the namespace go;
//   - bad input (unknown context, malformed NS/NAME, unknown release or namespace): exit 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { CSV_CLEANUP, getCsv } from '../cluster/olm.ts';
import { missingComponents } from '../cluster/paths.ts';
import { run, waitFor, type RunResult } from '../cluster/proc.ts';
import { GUARD_ENTRY } from '../scenarios/guard.ts';
import { namespaceState, olmOwnedClusterObjects, Transcript, waitNamespaceGone } from '../scenarios/harness.ts';
import { helmInstallSimpleApp, S1, s1Install } from '../scenarios/scenarios.ts';

let cp: ControlPlane;
const t = new Transcript();

/** The CLI as a user runs it, with an explicit kubeconfig (and no $KUBECONFIG to fall back on). */
async function cli(args: string[], o: { kubeconfig?: string | false } = {}): Promise<RunResult & { out: string }> {
  const kc = o.kubeconfig === false ? [] : ['--kubeconfig', o.kubeconfig ?? cp.kubeconfigPath];
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig', HOME: cp.env.HOME };
  const r = await run(process.execPath, [GUARD_ENTRY, ...args, ...kc], { env, timeoutMs: 90_000 });
  return { ...r, out: `${r.stdout}${r.stderr}` };
}

const show = (r: RunResult & { out: string }): string => `exit ${r.code}\n${r.out}\n--- transcript ---\n${t.toString()}`;

beforeAll(async () => {
  const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'olm', 'helm3']);
  if (missing.length) throw new Error(`pinned binaries missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
  // OLM CRDs only: the Pixie-shaped chart ships OLM itself (as Pixie's does).
  cp = await controlPlaneForFile({ olm: 'crds' });
  await s1Install(cp, t);
  await helmInstallSimpleApp(cp, t, 'cc-simple', 'web');
});

afterAll(async () => {
  await cp?.stop();
});

describe('check namespace / check release while OLM runs', () => {
  it('check namespace: exit 0 for the operator namespace with a csv-cleanup CSV while olm-operator runs', async () => {
    expect((await getCsv(cp, S1.operatorNamespace, S1.csv))?.metadata.finalizers).toContain(CSV_CLEANUP);
    const r = await cli(['check', 'namespace', S1.operatorNamespace]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^SAFE: namespace px-operator/);
  });

  it('check namespace --format json: the same verdict, machine-readable', async () => {
    const r = await cli(['check', 'namespace', S1.operatorNamespace, '--format', 'json']);
    expect(r.code, show(r)).toBe(0);
    const report = JSON.parse(r.stdout) as { target: string; safe: boolean };
    expect(report).toMatchObject({ target: `namespace ${S1.operatorNamespace}`, safe: true });
  });

  it('check release: exit 1 for the Pixie-shaped chart, naming the operator namespace and the CSV', async () => {
    const r = await cli(['check', 'release', `${S1.releaseNamespace}/${S1.release}`]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^UNSAFE: release pl\/pixie/);
    expect(r.stdout).toContain(S1.operatorNamespace);
    expect(r.stdout).toContain(S1.csv);
    expect(r.stdout).toContain(CSV_CLEANUP);
    // It says where the uninstall would hang: on the operator namespace's deletion.
    expect(r.stdout).toMatch(/would hang on: .*px-operator/);
  });

  it('check release: exit 0 for simple-app', async () => {
    const r = await cli(['check', 'release', 'cc-simple/web']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^SAFE: release cc-simple\/web/);
  });

  it('check namespace: exit 0 for a namespace without guarded finalizers', async () => {
    const r = await cli(['check', 'namespace', 'cc-simple']);
    expect(r.code, show(r)).toBe(0);
  });
});

describe('once the olm-operator Deployment is gone', () => {
  beforeAll(async () => {
    const del = await cp.kubectl(['delete', 'deployment', 'olm-operator', '-n', S1.olmNamespace, '--wait=true', '--timeout=60s']);
    if (del.code !== 0) throw new Error(`deleting olm-operator: ${del.stderr}`);
    await cp.olm?.waitStopped(S1.olmNamespace, 'olm-operator', 30_000);
  });

  it('check namespace: exit 1, naming the CSV and its finalizer', async () => {
    const r = await cli(['check', 'namespace', S1.operatorNamespace]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^UNSAFE: namespace px-operator/);
    expect(r.stdout).toContain(S1.csv);
    expect(r.stdout).toContain(CSV_CLEANUP);
    expect(r.stdout).toMatch(/olm-operator/);
  });

  it('diagnose namespace on the namespace incident A leaves stuck: exit 1, names CSV, finalizer, dead controller and the exact remedy', async () => {
    // Incident A without the guard: helm uninstall deletes the operator namespace while nobody can
    // remove csv-cleanup from its CSV.
    const u = await cp.helm(3, ['uninstall', S1.release, '-n', S1.releaseNamespace], { timeoutMs: 180_000 });
    expect(u.code, u.stderr).toBe(0);
    await waitFor(
      'px-operator Terminating, its CSV being deleted and held by csv-cleanup',
      60_000,
      async () => {
        const s = await namespaceState(cp, S1.operatorNamespace);
        const held = s.phase === 'Terminating' && s.csvs.some((c) => c.deleting && c.finalizers.includes(CSV_CLEANUP));
        const reported = s.conditions.some((c) => c.type === 'NamespaceContentRemaining' && c.status === 'True');
        return held && reported ? true : undefined;
      },
      500,
    );
    const leaked = await olmOwnedClusterObjects(cp, S1.operatorNamespace);
    expect(leaked.length).toBeGreaterThanOrEqual(2);

    const r = await cli(['diagnose', 'namespace', S1.operatorNamespace]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^namespace px-operator: Terminating/);
    expect(r.stdout).toContain(`finalizer ${CSV_CLEANUP}`);
    expect(r.stdout).toContain(S1.csv);
    expect(r.stdout).toMatch(/controller .*GONE/);
    expect(r.stdout).toMatch(/kubectl patch clusterserviceversions\S* pixie-operator\.v0\.1\.0 -n px-operator/);
    expect(r.stdout).toMatch(/olm\.owner=pixie-operator\.v0\.1\.0/);
    expect(r.stdout).toMatch(/olm\.owner\.namespace=px-operator/);

    // The remedy, run exactly as printed (every line that is a kubectl command), frees the
    // namespace and removes what csv-cleanup would have deleted.
    const commands = r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('kubectl '));
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const c of commands) {
      const x = await run('bash', ['-c', c], { env: cp.env, timeoutMs: 60_000 });
      expect(x.code, `${c}\n${x.stdout}${x.stderr}`).toBe(0);
    }
    await waitNamespaceGone(cp, S1.operatorNamespace, 60_000);
    expect(await olmOwnedClusterObjects(cp, S1.operatorNamespace)).toEqual([]);
  });

  it('diagnose namespace: exit 0 for a namespace that is not Terminating', async () => {
    const r = await cli(['diagnose', 'namespace', 'cc-simple']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/not Terminating/);
  });
});

describe('a namespace held by an unavailable aggregated API', () => {
  const API = 'v1.tg-missing.example.com';
  const NS = 'cc-discovery';

  it('diagnose namespace: exit 1, names the NamespaceDeletionDiscoveryFailure, the APIService and its missing Service; the printed remedy frees the namespace', async () => {
    // An APIService whose Service does not exist: kube-aggregator marks it unavailable and the
    // namespace controller's discovery of its group fails, so no namespace can be finalized.
    const apiService = {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: API },
      spec: {
        group: 'tg-missing.example.com',
        version: 'v1',
        service: { namespace: 'cc-nowhere', name: 'missing-api', port: 443 },
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 1000,
        versionPriority: 15,
      },
    };
    const applied = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(apiService) });
    expect(applied.code, applied.stderr).toBe(0);
    expect((await cp.kubectl(['create', 'namespace', NS])).code).toBe(0);
    expect((await cp.kubectl(['delete', 'namespace', NS, '--wait=false'])).code).toBe(0);
    await waitFor(
      `${NS} Terminating with NamespaceDeletionDiscoveryFailure`,
      90_000,
      async () => {
        const s = await namespaceState(cp, NS);
        return s.phase === 'Terminating' && s.conditions.some((c) => c.type === 'NamespaceDeletionDiscoveryFailure' && c.status === 'True') ? true : undefined;
      },
      500,
    );

    const r = await cli(['diagnose', 'namespace', NS]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toContain('API discovery fails (NamespaceDeletionDiscoveryFailure)');
    expect(r.stdout).toContain(`APIService ${API} -> Service cc-nowhere/missing-api`);
    expect(r.stdout).toContain(`${NS} cannot finish while API discovery fails: 1 APIService(s) unavailable (${API})`);
    expect(r.stdout).not.toContain('should finish shortly');

    const commands = r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('kubectl '));
    expect(commands).toEqual([`kubectl delete apiservice ${API}`]);
    for (const c of commands) {
      const x = await run('bash', ['-c', c], { env: cp.env, timeoutMs: 60_000 });
      expect(x.code, `${c}\n${x.stdout}${x.stderr}`).toBe(0);
    }
    await waitNamespaceGone(cp, NS, 120_000);
  });
});

describe('bad input: exit 2 with a message', () => {
  it('unknown --context', async () => {
    const r = await cli(['check', 'namespace', 'default', '--context', 'no-such-context']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/no-such-context/);
  });

  it('release not in NAMESPACE/NAME form', async () => {
    for (const bad of ['pixie', 'pl/', '/pixie', 'a/b/c', 'Bad_NS/x']) {
      const r = await cli(['check', 'release', bad]);
      expect(r.code, `${bad}: ${show(r)}`).toBe(2);
      expect(r.stderr, bad).toMatch(/NAMESPACE\/NAME/);
    }
  });

  it('unknown release and unknown namespace', async () => {
    const rel = await cli(['check', 'release', 'cc-simple/nope']);
    expect(rel.code, show(rel)).toBe(2);
    expect(rel.stderr).toMatch(/cc-simple\/nope not found/);
    const ns = await cli(['check', 'namespace', 'no-such-namespace']);
    expect(ns.code, show(ns)).toBe(2);
    expect(ns.stderr).toMatch(/no-such-namespace not found/);
    const diag = await cli(['diagnose', 'namespace', 'no-such-namespace']);
    expect(diag.code, show(diag)).toBe(2);
  });

  it('unreadable kubeconfig, and a missing argument', async () => {
    const r = await cli(['check', 'namespace', 'default'], { kubeconfig: '/nonexistent/kubeconfig' });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/kubeconfig/);
    const usage = await cli(['check', 'release']);
    expect(usage.code, show(usage)).toBe(2);
  });
});
