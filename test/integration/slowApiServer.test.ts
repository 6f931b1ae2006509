// One deadline per review (ARCHITECTURE.md §4, invariant 4) against a slow API server: the real
// loopback control plane behind a delaying TCP proxy (test/cluster/delayProxy.ts), the guard as a
// host process reading the cluster through the proxy, kube-apiserver calling the guard directly.
// The review: a hand DELETE of a Helm-owned ConfigMap while a release of the same name elsewhere is
// uninstalling (incident B's shape). It needs three live reads in sequence: the owner's release
// records (liveReleaseRecords), the uninstalling release's payload (liveReleaseRecord, via
// policies/releasePayload.ts), and that release's own copy of the object (liveObjects). Each read
// alone fits in liveLookup.timeoutMs; together they do not. The review must answer undecided (kind
// timeout, cut by the review's deadline, not a per-read one), and kube-apiserver must never time
// the webhook out (no failed-open annotation, no fail-open count).
// Timing is not asserted here: `npm run bench` reports it (slow API server figures).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { waitFor } from '../cluster/proc.ts';
import { logSettled } from '../scenarios/guard.ts';
import {
  auditEventsOf,
  decisionLines,
  FAILED_OPEN_PREFIX,
  guardMetric,
  SLOW,
  SLOW_NS,
  startSlowApiSetup,
  type SlowApiSetup,
} from '../support/slowApiServer.ts';

let setup: SlowApiSetup;

/**
 * kube-apiserver's count of calls to the guard's webhooks that failed open, over every guard this
 * API server has seen (a lane's shared control plane has seen others: compare before and after).
 */
async function guardFailOpens(): Promise<number> {
  const metrics = (await setup.cp.client.request('GET', '/metrics')).text;
  let sum = 0;
  for (const m of metrics.matchAll(/^apiserver_admission_webhook_fail_open_count\{[^}]*teardown-guard[^}]*\} (\S+)$/gm)) sum += Number(m[1]);
  return sum;
}

beforeAll(async () => {
  setup = await startSlowApiSetup(undefined, controlPlaneForFile);
});

afterAll(async () => {
  await setup?.stop();
});

describe('a slow API server', () => {
  it('a review needing several live reads answers undecided (timeout) within its budget; kube-apiserver never fails open', async () => {
    const { cp, proxy, guard } = setup;
    const deleteConfigMap = () => setup.deleteNeedingThreeReads();
    // Fast API server first: the same request is decided (denied: it looks like the other release's
    // uninstall deleting in the wrong namespace) after its three live reads, and the guard's
    // connections to the API server are open and warm.
    const failOpensBefore = await guardFailOpens();
    const readsBefore = await guardMetric(guard, 'teardown_guard_live_reads_total', {});
    const fast = await deleteConfigMap();
    expect(fast.code, fast.stderr).toBe(1);
    expect(fast.stderr).toMatch(/teardown-guard \[helm-uninstall-namespace\]/);
    expect(fast.stderr).not.toMatch(/could not (check|decide)/);
    expect((await guardMetric(guard, 'teardown_guard_live_reads_total', {})) - readsBefore).toBe(3);
    const timeoutsBefore = await guardMetric(guard, 'teardown_guard_undecided_total', { policy: 'helm-uninstall-namespace', reason: 'timeout' });

    proxy.setDelayMs(SLOW.delayMs);
    let slow: Awaited<ReturnType<typeof deleteConfigMap>>;
    try {
      slow = await deleteConfigMap();
    } finally {
      proxy.setDelayMs(0);
    }
    // Answered by the guard (undecided: allow, the default), with the reason in the warning.
    expect(slow.code, slow.stderr).toBe(0);
    expect(slow.stderr).toMatch(
      /Warning: teardown-guard \[helm-uninstall-namespace\] could not check this request \(the review's live-lookup budget ran out during the live .+\); allowed unchecked/,
    );

    // The decision log is written off the review's path (within 100 ms): read it once flushed.
    await logSettled(guard.logPath);
    const decision = decisionLines(guard.logPath)
      .filter((d) => d.policy === 'helm-uninstall-namespace')
      .at(-1);
    expect(decision).toMatchObject({ verdict: 'undecided', reason: expect.stringMatching(/^the review's live-lookup budget ran out/) });
    // The kind is the metric's label: timeout, not lookup-failed.
    expect(await guardMetric(guard, 'teardown_guard_undecided_total', { policy: 'helm-uninstall-namespace', reason: 'timeout' })).toBe(timeoutsBefore + 1);

    // kube-apiserver's own record of the request: the guard's verdict, no fail-open.
    const event = await waitFor('the audit event of the slow DELETE', 10_000, () =>
      auditEventsOf(cp.auditLogPath, { verb: 'delete', resource: 'configmaps', name: 'web-config', namespace: SLOW_NS }).at(-1),
    );
    const annotations = event.annotations ?? {};
    expect(JSON.parse(annotations['helm-owned.teardown-guard.io/helm-uninstall-namespace'] ?? '{}')).toMatchObject({
      verdict: 'undecided',
      reason: expect.stringMatching(/^the review's live-lookup budget ran out during the live /),
    });
    expect(Object.keys(annotations).filter((k) => k.startsWith(FAILED_OPEN_PREFIX))).toEqual([]);
    const metrics = (await cp.client.request('GET', '/metrics')).text;
    expect(metrics).toMatch(/^apiserver_admission_webhook_admission_duration_seconds_count\{[^}]*teardown-guard/m);
    expect(await guardFailOpens()).toBe(failOpensBefore);
  });
});
