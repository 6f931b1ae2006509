// Runs one AdmissionReview through the real engine and built-in policies over a snapshot view.
import { createAdmissionHandler, type Decision } from '../../src/admission/engine.ts';
import type { Mode, UndecidedAction } from '../../src/admission/modes.ts';
import type { AdmissionResponse, AdmissionReview } from '../../src/k8s/admissionReview.ts';
import { createSnapshotView, type ClusterSnapshot, type LiveState } from './snapshotView.ts';
import { OLM_CSV_CLEANUP_GUARD } from '../../src/olm/finalizerGuards.ts';
import { builtinPolicies } from '../../src/policies/index.ts';
import type { FinalizerGuard, PolicySettings } from '../../src/policies/settings.ts';
import type { PolicyName } from '../../src/policies/index.ts';
import type { RememberedController } from '../../src/finalizers/memory.ts';

export const TEST_SETTINGS: PolicySettings = {
  exemptNamespaces: ['kube-system', 'teardown-guard'],
  exemptUsers: ['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector'],
  finalizerGuards: [OLM_CSV_CLEANUP_GUARD],
  breakGlassAnnotation: 'teardown-guard.io/break-glass',
};

export interface DecideOptions {
  live?: LiveState;
  synced?: boolean;
  modes?: Partial<Record<PolicyName, Mode>>;
  undecided?: UndecidedAction;
  guards?: FinalizerGuard[];
}

export interface Decided {
  response: AdmissionResponse;
  decisions: Decision[];
  liveCalls: number;
  /** Reads served by the watch-cache pass (LiveState.watchCache). */
  watchCacheCalls: number;
  /** What the policies learned about finalizers' controllers (the finalizer memory's input). */
  learned: RememberedController[];
}

export async function decide(body: AdmissionReview, snapshot: ClusterSnapshot, opts: DecideOptions = {}): Promise<Decided> {
  const view = createSnapshotView(snapshot, opts.live, opts.synced ?? true);
  const learned: RememberedController[] = [];
  const handler = createAdmissionHandler({
    learn: (entry) => learned.push(entry),
    policies: builtinPolicies(),
    view,
    settings: opts.guards ? { ...TEST_SETTINGS, finalizerGuards: opts.guards } : TEST_SETTINGS,
    modes: { 'olm-orphaned-finalizers': 'enforce', 'helm-uninstall-namespace': 'enforce', ...opts.modes },
    undecided: opts.undecided ?? 'allow',
    onInternalError: (err) => {
      throw err;
    },
  });
  const result = await handler(body);
  if (!result.ok) throw new Error(`engine rejected the body: ${result.error}`);
  if (!result.review.response) throw new Error('engine returned no response');
  return { response: result.review.response, decisions: result.decisions, liveCalls: view.calls.live, watchCacheCalls: view.calls.watchCache, learned };
}
