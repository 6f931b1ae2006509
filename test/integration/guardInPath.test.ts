// The check every scenario "with the guard" ends with (test/scenarios/guardInPath.ts) fails when
// the guard was not in the path. The scenario here is S4's first correct teardown (helm 3 install
// and uninstall) plus deleting its namespace, with S4's own assertions (no denial, no warning):
// those pass whether the guard answered or not, since the shipped webhooks fail open. The check
// passes with the guard alive, and fails when the guard is killed mid-scenario (the API server
// fails open: its annotation, and no decision line) or is not registered (no decision line).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { markGuardPath } from '../scenarios/guardInPath.ts';
import { chartPath, DENIED_TEXT, ensureNamespace, GUARD_TEXT, helm, kubectl, output, Transcript } from '../scenarios/harness.ts';

let cp: ControlPlane;
const guards: Guard[] = [];

beforeAll(async () => {
  cp = await controlPlaneForFile({ olm: 'none' });
});

afterAll(async () => {
  for (const g of guards) await g.stop();
  await cp?.stop();
});

async function guard(): Promise<Guard> {
  const g = await startGuard(cp, { modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' }, log: () => {} });
  guards.push(g);
  return g;
}

/**
 * The scenario (S4's `helm 3 CLI install + uninstall -n`, then its namespace deleted) with S4's
 * assertions: every step succeeds, nothing denied, nothing warned. `midway` runs between install
 * and uninstall.
 */
async function correctTeardown(ns: string, midway: () => Promise<void> = async () => undefined): Promise<void> {
  const t = new Transcript();
  await ensureNamespace(cp, ns);
  const results = [await helm(cp, t, 3, ['install', 'app', chartPath('simple-app'), '-n', ns], 'install')];
  await midway();
  results.push(await helm(cp, t, 3, ['uninstall', 'app', '-n', ns], 'uninstall'));
  results.push(await kubectl(cp, t, ['delete', 'namespace', ns, '--wait=false'], 'delete the namespace'));
  for (const r of results) {
    expect(r.code, output(r)).toBe(0);
    expect(output(r)).not.toMatch(DENIED_TEXT);
    expect(output(r)).not.toMatch(GUARD_TEXT);
    expect(output(r)).not.toMatch(/warning/i);
  }
}

describe('the guard-in-path check of the scenarios with the guard', () => {
  let answering: Guard;

  it('passes with the guard answering every request', async () => {
    answering = await guard();
    await answering.register();
    const inPath = await markGuardPath(cp, answering);
    await correctTeardown('in-path-alive');
    const report = await inPath.verify();
    expect(report.intercepted).toBeGreaterThan(0);
    await answering.unregister();
  });

  it('fails when the guard is killed mid-scenario, although the scenario saw nothing wrong', async () => {
    const g = await guard();
    await g.register();
    const inPath = await markGuardPath(cp, g);
    await correctTeardown('in-path-killed', async () => {
      g.daemon.child.kill('SIGKILL');
      await g.daemon.exited;
    });
    await expect(inPath.verify({ timeoutMs: 3000 })).rejects.toThrow(/failed open \(the API server could not call the guard\)[\s\S]*no decision of the guard/);
    await g.unregister().catch(() => undefined);
  });

  it('fails when the guard is running but not registered', async () => {
    const inPath = await markGuardPath(cp, answering);
    await correctTeardown('in-path-unregistered');
    await expect(inPath.verify({ timeoutMs: 3000 })).rejects.toThrow(
      /no decision of the guard for 1 of 1 request\(s\) DELETE admin Namespace in-path-unregistered/,
    );
  });
});
