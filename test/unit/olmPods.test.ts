// node/olmPods.ts reads which olm-operators run from Pod lists captured on a real node
// (test/fixtures/node/capture.ts): a Pod whose container is still being created, one running,
// and one being deleted after its Deployment was.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deploymentOf, runningOlm } from '../cluster/node/olmPods.ts';
import { repoRoot } from '../cluster/paths.ts';

type Pods = Parameters<typeof runningOlm>[0];
const fixture = (name: string): Pods =>
  (JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'node', name), 'utf8')) as { pods: { items: Pods } }).pods.items;

describe('olm-operator Pods on the node', () => {
  it('names the Deployment of each Pod from its ReplicaSet and pod-template-hash', () => {
    const pods = fixture('olm-pods-running.json');
    expect(pods.map(deploymentOf)).toEqual(pods.map(() => 'olm-operator'));
  });

  it('counts a running container as olm-operator running, with its Pod and start time', () => {
    const [p, ...rest] = runningOlm(fixture('olm-pods-running.json'));
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ namespace: 'olm', name: 'olm-operator', pid: undefined, restarts: 0 });
    expect(p!.startedAt).toBeGreaterThan(Date.parse('2026-01-01T00:00:00Z'));
  });

  it('does not count a container still being created, nor a Pod being deleted', () => {
    expect(runningOlm(fixture('olm-pods-creating.json'))).toEqual([]);
    const deleting = fixture('olm-pods-deleting.json');
    expect(deleting.some((p) => p.metadata.deletionTimestamp)).toBe(true);
    expect(runningOlm(deleting)).toEqual([]);
  });
});
