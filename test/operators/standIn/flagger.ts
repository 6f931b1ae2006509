// Flagger v1.41.0, the Canary finalizer (github.com/fluxcd/flagger pkg/controller):
//   - controller.go Controller.syncHandler: a Canary without status conditions gets the
//     Initializing phase (scheduler.go setPhaseInitializing: UpdateStatus, one Promoted condition
//     Unknown, reason Initializing); with spec.revertOnDeletion and no finalizer.flagger.app,
//     finalizer.go addFinalizer appends it (Update). The informer's UpdateFunc removes it when
//     revertOnDeletion is turned off.
//   - On deletion with revertOnDeletion, unless status.phase is Terminated, finalizer.go finalize:
//     phase Terminating (UpdateStatus); an autoscalerRef's scaler resumed; the target reverted
//     (canary/deployment_controller.go DeploymentController.Finalize: GET the target Deployment,
//     error if missing; no <target>-primary: ScaleFromZero, else the target's replicas set to the
//     primary's, by merge patch); a bounded wait for readiness whose result is ignored; the apex
//     Service reverted (router/kubernetes_default.go KubernetesDefaultRouter.Finalize: GET it,
//     error if missing; unless the Canary controls it, its selector restored from kubectl's
//     last-applied annotation or set to the target's selector label); the mesh reverted (a no-op
//     for provider kubernetes). Any error keeps the finalizer and the Canary is retried; success:
//     finalizer.go removeFinalizer (Update).
// The stand-in runs no canary analysis (no -primary Deployment, no generated Services), does not
// reproduce the readiness wait, and treats an autoscalerRef as an error (not reproduced).
import type { Behaviour } from './context.ts';
import { deleting, hasFinalizer, type KubeObject } from './kube.ts';

const FINALIZER = 'finalizer.flagger.app';
const CANARIES = '/apis/flagger.app/v1beta1/canaries';
/** cmd/flagger/main.go, the -selector-labels default. */
const SELECTOR_LABELS = ['app', 'name', 'app.kubernetes.io/name'];
const KUBECTL_LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Canary = KubeObject & {
  spec?: {
    revertOnDeletion?: boolean;
    targetRef?: { kind?: string; name?: string };
    service?: { name?: string };
    autoscalerRef?: unknown;
  };
  status?: { phase?: string; conditions?: unknown[] };
};
type Deployment = KubeObject & { spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } } };
type Service = KubeObject & { spec?: { selector?: Record<string, string> } };

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export const flaggerController: Behaviour = async (s) => {
  const canaries = s.informer<Canary>(CANARIES);
  const path = (c: Canary, sub = '') => `/apis/flagger.app/v1beta1/namespaces/${c.metadata.namespace}/canaries/${c.metadata.name}${sub}`;
  const deployment = (ns: string, name: string) => s.client.must<Deployment>('GET', `/apis/apps/v1/namespaces/${ns}/deployments/${name}`);

  const setFinalizers = (c: Canary, finalizers: string[]) =>
    s.client.must('PUT', path(c), { body: { ...c, metadata: { ...c.metadata, finalizers: finalizers.length ? finalizers : null } } });

  const setPhase = async (c: Canary, phase: string): Promise<Canary> => {
    const kind = c.spec?.targetRef?.kind ?? 'Deployment';
    const condition = {
      type: 'Promoted',
      status: 'Unknown',
      lastUpdateTime: now(),
      lastTransitionTime: now(),
      message: `New ${kind} detected, starting initialization.`,
      reason: phase,
    };
    const status = { ...c.status, phase, lastTransitionTime: now(), conditions: [condition] };
    return s.client.must<Canary>('PUT', path(c, '/status'), { body: { ...c, status } });
  };

  async function finalize(c: Canary): Promise<void> {
    const ns = c.metadata.namespace!;
    let cd = await s.client.must<Canary>('GET', path(c));
    if (cd.status?.phase !== 'Terminating') cd = await setPhase(cd, 'Terminating');
    if (cd.spec?.autoscalerRef) throw new Error('autoscalerRef: resuming the target scaler is not reproduced by this stand-in');
    const targetName = cd.spec?.targetRef?.name ?? '';
    const target = await deployment(ns, targetName);
    const primary = await s.client.request<Deployment>('GET', `/apis/apps/v1/namespaces/${ns}/deployments/${targetName}-primary`);
    const scale = (replicas: number) =>
      s.client.must('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${targetName}`, {
        body: { spec: { replicas } },
        contentType: 'application/merge-patch+json',
      });
    if (primary.status === 404) {
      // ScaleFromZero: the target's own replica count, or 1.
      await scale(target.spec?.replicas && target.spec.replicas > 0 ? target.spec.replicas : 1);
    } else if (primary.status >= 300) {
      throw new Error(`deployment ${targetName}-primary.${ns} get query error: ${primary.status}`);
    } else if (target.spec?.replicas !== primary.body.spec?.replicas) {
      await scale(primary.body.spec?.replicas ?? 1);
    }
    // GetMetadata reads the target again for its selector label.
    const again = await deployment(ns, targetName);
    const label = SELECTOR_LABELS.find((l) => again.spec?.selector?.matchLabels?.[l] !== undefined);
    if (!label) throw new Error(`getSelectorLabel failed: deployment ${targetName} has none of ${SELECTOR_LABELS.join(', ')}`);
    const labelValue = again.spec!.selector!.matchLabels![label]!;
    const apex = cd.spec?.service?.name || targetName;
    const svc = await s.client.must<Service>('GET', `/api/v1/namespaces/${ns}/services/${apex}`);
    const owner = svc.metadata.ownerReferences?.find((r) => r.controller);
    if (!(owner?.kind === 'Canary' && owner.name === cd.metadata.name)) {
      const stored = svc.metadata.annotations?.[KUBECTL_LAST_APPLIED];
      const selector = stored ? ((JSON.parse(stored) as Service).spec?.selector ?? {}) : { [label]: labelValue };
      if (JSON.stringify(svc.spec?.selector ?? {}) !== JSON.stringify(selector)) {
        await s.client.must('PUT', `/api/v1/namespaces/${ns}/services/${apex}`, { body: { ...svc, spec: { ...svc.spec, selector } } });
      }
    }
  }

  s.loop('canary', canaries, async (c) => {
    const revert = c.spec?.revertOnDeletion === true;
    if (deleting(c)) {
      if (!revert || !hasFinalizer(c, FINALIZER)) return 'done';
      // An error keeps the finalizer; the loop logs it once and retries, as the work queue does.
      if (c.status?.phase !== 'Terminated') await finalize(c);
      const fresh = await s.client.must<Canary>('GET', path(c));
      await setFinalizers(
        fresh,
        (fresh.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      );
      s.log(`canary ${c.metadata.namespace}/${c.metadata.name}: finalized, removed ${FINALIZER}`);
      return 'done';
    }
    if (!revert) {
      if (hasFinalizer(c, FINALIZER))
        await setFinalizers(
          c,
          (c.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
        );
      return 'done';
    }
    let cd = c;
    if (!cd.status?.conditions) cd = await setPhase(cd, 'Initializing');
    if (!hasFinalizer(cd, FINALIZER)) {
      await setFinalizers(cd, [...(cd.metadata.finalizers ?? []), FINALIZER]);
      s.log(`canary ${c.metadata.namespace}/${c.metadata.name}: added ${FINALIZER}`);
    }
    return 'done';
  });
};
