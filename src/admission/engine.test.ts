import { afterEach, describe, expect, it, vi } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { APP_MANIFEST, helmCluster, namespace, olmCluster, releaseSecret } from '../../test/support/clusterState.ts';
import { TEST_SETTINGS, decide } from '../../test/support/decide.ts';
import { createSnapshotView } from '../../test/support/snapshotView.ts';
import { UndecidedError, type ClusterView } from '../cluster/view.ts';
import { builtinPolicies } from '../policies/index.ts';
import { createAdmissionHandler } from './engine.ts';
import type { KubeObject } from '../k8s/types.ts';
import type { Policy } from '../policies/types.ts';

function strandedCluster() {
  const cluster = olmCluster();
  cluster.deployments = [];
  return cluster;
}
const deleteOperatorNs = (annotations?: Record<string, string>) => {
  const ns = namespace('px-operator');
  if (annotations) ns.metadata = { ...ns.metadata, annotations };
  return review('DELETE', ns);
};

describe('modes', () => {
  it('enforce denies a violation', async () => {
    const { response } = await decide(deleteOperatorNs(), strandedCluster());
    expect(response.allowed).toBe(false);
  });

  it('warn allows, with a warning kubectl and helm print, and an audit annotation', async () => {
    const { response, decisions } = await decide(deleteOperatorNs(), strandedCluster(), { modes: { 'olm-orphaned-finalizers': 'warn' } });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toHaveLength(1);
    expect(response.warnings?.[0]).toMatch(/^teardown-guard \[olm-orphaned-finalizers\] deleting namespace px-operator would leave it Terminating forever/);
    expect(response.warnings?.[0]?.length).toBeLessThanOrEqual(256);
    expect(JSON.parse(response.auditAnnotations?.['olm-orphaned-finalizers'] ?? '{}')).toMatchObject({ verdict: 'warn', mode: 'warn' });
    expect(decisions).toContainEqual(expect.objectContaining({ policy: 'olm-orphaned-finalizers', verdict: 'warn' }));
  });

  it('audit allows silently and records the finding only in auditAnnotations', async () => {
    const { response } = await decide(deleteOperatorNs(), strandedCluster(), { modes: { 'olm-orphaned-finalizers': 'audit' } });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    const annotation = JSON.parse(response.auditAnnotations?.['olm-orphaned-finalizers'] ?? '{}');
    expect(annotation.verdict).toBe('audit');
    expect(annotation.findings[0]).toMatchObject({
      code: 'namespace-strands-finalizers',
      objects: expect.arrayContaining(['ClusterServiceVersion px-operator/pixie-operator.v0.1.0']),
    });
  });

  it('off does not evaluate the policy at all', async () => {
    const { response, decisions } = await decide(deleteOperatorNs(), strandedCluster(), { modes: { 'olm-orphaned-finalizers': 'off' } });
    expect(response.allowed).toBe(true);
    expect(response.auditAnnotations).toBeUndefined();
    expect(decisions.map((d) => d.policy)).not.toContain('olm-orphaned-finalizers');
  });
});

describe('undecided', () => {
  it('allows with a warning naming the reason by default when the caches have not synced', async () => {
    const { response, decisions } = await decide(deleteOperatorNs(), strandedCluster(), { synced: false });
    expect(response.allowed).toBe(true);
    expect(response.warnings?.join('\n')).toContain('could not check this request (watch caches have not synced yet); allowed unchecked');
    expect(JSON.parse(response.auditAnnotations?.['olm-orphaned-finalizers'] ?? '{}')).toMatchObject({
      verdict: 'undecided',
      reason: 'watch caches have not synced yet',
    });
    expect(decisions).toContainEqual(
      expect.objectContaining({ policy: 'olm-orphaned-finalizers', verdict: 'undecided', reason: 'watch caches have not synced yet' }),
    );
  });

  it('denies, saying why, when configured to deny when undecided', async () => {
    const { response } = await decide(deleteOperatorNs(), strandedCluster(), { synced: false, undecided: 'deny' });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('could not decide (watch caches have not synced yet) and is configured to deny when undecided');
  });
});

describe('break-glass', () => {
  it('lets an annotated deletion through, says so, and records who and why', async () => {
    const body = deleteOperatorNs({ 'teardown-guard.io/break-glass': 'INC-4711: OLM removed on purpose, finalizers patched next' });
    const { response, decisions } = await decide(body, strandedCluster());
    expect(response.allowed).toBe(true);
    expect(response.warnings?.[0]).toContain('overridden by break-glass');
    expect(JSON.parse(response.auditAnnotations?.['break-glass'] ?? '{}')).toEqual({
      reason: 'INC-4711: OLM removed on purpose, finalizers patched next',
      user: 'kubernetes-admin',
    });
    expect(JSON.parse(response.auditAnnotations?.['olm-orphaned-finalizers'] ?? '{}').verdict).toBe('break-glass');
    expect(decisions).toContainEqual(
      expect.objectContaining({ verdict: 'break-glass', reason: 'break-glass: INC-4711: OLM removed on purpose, finalizers patched next' }),
    );
  });

  it('ignores an empty break-glass annotation (a reason is required)', async () => {
    const { response } = await decide(deleteOperatorNs({ 'teardown-guard.io/break-glass': '  ' }), strandedCluster());
    expect(response.allowed).toBe(false);
  });
});

describe('Secret data never leaves the engine', () => {
  it('puts no release value (password) into the response or the decisions', async () => {
    const password = 'pa55-Sup3r-S3cret-Value-9f8e7d';
    const record = releaseSecret('helm-test', 'web', 2, 'uninstalling', APP_MANIFEST, { db: { password } });
    const live = { objects: new Map([['Service helm-test/web', 'exists' as const]]) };
    for (const mode of ['enforce', 'warn', 'audit'] as const) {
      const out = await decide(review('DELETE', record), helmCluster(), { live, modes: { 'helm-uninstall-namespace': mode } });
      const text = JSON.stringify(out);
      expect(text).toContain('Service helm-test/web');
      expect(text).not.toContain(password);
      expect(text).not.toContain((record['data'] as { release: string }).release.slice(0, 40));
    }
  });
});

describe('bad bodies', () => {
  it('answers an error (never throws) for a body that is not an AdmissionReview', async () => {
    const bad: unknown[] = [
      null,
      'text',
      [],
      { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: {} } },
    ];
    for (const body of bad) {
      await expect(decide(body as never, helmCluster())).rejects.toThrow(/engine rejected the body/);
    }
  });

  it('handles a Helm-owned object without metadata.namespace on a cluster-scoped DELETE', async () => {
    const role: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'r', annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': 'default' } },
    };
    const { response } = await decide(review('DELETE', role), helmCluster());
    expect(response.allowed).toBe(true);
  });
});

describe('one deadline per review', () => {
  it('hands every policy of a review the same view bounded by one deadline of reviewBudgetMs, and reports a timeout as its kind', async () => {
    const base = createSnapshotView(olmCluster());
    const deadlines: AbortSignal[] = [];
    const view: ClusterView = {
      ...base,
      forReview(review) {
        if (review.deadline) deadlines.push(review.deadline);
        const deadline = review.deadline ?? new AbortController().signal;
        // A live read that outlasts the budget, as a slow API server would make it.
        return {
          ...base,
          liveDeployment: () =>
            new Promise((_, reject) =>
              deadline.addEventListener('abort', () => reject(new UndecidedError('timeout', "the review's live-lookup budget ran out")), { once: true }),
            ),
        };
      },
    };
    const handler = createAdmissionHandler({
      policies: builtinPolicies(),
      view,
      settings: TEST_SETTINGS,
      undecided: 'allow',
      reviewBudgetMs: 50,
      modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce' },
    });
    const result = await handler(review('DELETE', namespace('px-operator')));
    if (!result.ok) throw new Error(result.error);
    expect(deadlines).toHaveLength(1); // both policies, one budget
    expect(deadlines[0]?.aborted).toBe(true);
    const olm = result.decisions.find((d) => d.policy === 'olm-orphaned-finalizers');
    expect(olm).toMatchObject({ verdict: 'undecided', undecidedKind: 'timeout' });
    expect(result.review.response?.allowed).toBe(true);
  });

  /** An OLM policy's handler over a view that records each review's deadline. */
  function recordingDeadlines(reviewBudgetMs?: number) {
    const base = createSnapshotView(olmCluster());
    const deadlines: AbortSignal[] = [];
    const view: ClusterView = {
      ...base,
      forReview(review) {
        if (review.deadline) deadlines.push(review.deadline);
        return base;
      },
    };
    const handler = createAdmissionHandler({
      policies: builtinPolicies(),
      view,
      settings: TEST_SETTINGS,
      undecided: 'allow',
      ...(reviewBudgetMs !== undefined ? { reviewBudgetMs } : {}),
      modes: { 'olm-orphaned-finalizers': 'enforce' },
    });
    return { handler, deadlines };
  }

  it("ends the review's live reads when the API server's request is gone, budget or not", async () => {
    const { handler, deadlines } = recordingDeadlines();
    const gone = new AbortController();
    const answering = handler(review('DELETE', namespace('px-operator')), { gone: gone.signal });
    gone.abort();
    await answering;
    expect(deadlines).toHaveLength(1);
    expect(deadlines[0]?.aborted).toBe(true);
  });

  /** One policy that applies to everything and reads its review's deadline when `read` says, as a live read would. */
  function deadlineReader(read: (deadline: () => AbortSignal | undefined) => Promise<void>): Policy {
    return {
      name: 'reader',
      appliesTo: () => true,
      async evaluate({ review: terms }) {
        await read(() => terms?.deadline);
        return [];
      },
    };
  }
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('makes no deadline for a review that reads nothing live, and one with what is left of the budget for a review that does', async () => {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const budgetTimers = (): number[] => timers.mock.calls.map((c) => Number(c[1])).filter((ms) => ms > 0 && ms <= 1000);
    const run = (policy: Policy, transport = {}) =>
      createAdmissionHandler({
        policies: [policy],
        view: createSnapshotView(olmCluster()),
        settings: TEST_SETTINGS,
        undecided: 'allow',
        reviewBudgetMs: 1000,
        modes: { reader: 'enforce' },
      })(review('DELETE', namespace('px-operator')), transport);

    let kept: (() => AbortSignal | undefined) | undefined;
    await run(
      deadlineReader(async (deadline) => {
        kept = deadline;
      }),
    );
    expect(budgetTimers()).toEqual([]);
    // Asked for only after its review has answered: already over, and no timer starts.
    expect(kept?.()?.aborted).toBe(true);
    expect(budgetTimers()).toEqual([]);

    let signal: AbortSignal | undefined;
    await run(
      deadlineReader(async (deadline) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        signal = deadline();
      }),
    );
    const [leftMs] = budgetTimers().filter((ms) => ms !== 300);
    expect(leftMs).toBeGreaterThan(0);
    expect(leftMs).toBeLessThanOrEqual(700 + 1);
    expect(signal?.aborted).toBe(false);

    // The API server hung up before the first live read: that read's deadline has already fired.
    const gone = new AbortController();
    gone.abort();
    let late: AbortSignal | undefined;
    await run(
      deadlineReader(async (deadline) => {
        late = deadline();
      }),
      { gone: gone.signal },
    );
    expect(late?.aborted).toBe(true);
  });

  it('lets go of a finished review: its deadline never fires afterwards, and the request going away later is not heard', async () => {
    const { handler, deadlines } = recordingDeadlines(20);
    const gone = new AbortController();
    const result = await handler(review('DELETE', namespace('px-operator')), { gone: gone.signal });
    expect(result.ok).toBe(true);
    gone.abort();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(deadlines).toHaveLength(1);
    // A timer per review left running (AbortSignal.timeout) would fire here, for every review ever answered.
    expect(deadlines[0]?.aborted).toBe(false);
  });
});
