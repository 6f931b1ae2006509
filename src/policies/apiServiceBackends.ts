// Policy `apiservice-backends` (ARCHITECTURE.md §1D): namespace deletions that failing API
// discovery would hold in Terminating. While any aggregated APIService is unavailable, the
// namespace controller records NamespaceDeletionDiscoveryFailure and finalizes no namespace. So:
//   - deleting the namespace that holds an APIService's backend Service, while the APIService stays
//     registered (it is cluster-scoped: the namespace deletion leaves it), strands that namespace and
//     every namespace deleted after it until the APIService is deleted: a violation;
//   - deleting any namespace while an APIService is unavailable makes it wait until that APIService
//     is Available again or deleted: a risk (it does not hang once the backend is back).
import { targetName } from '../k8s/admissionReview.ts';
import type { KubeObject } from '../k8s/types.ts';
import type { ApiServiceReader } from '../cluster/view.ts';
import { confirmedFindings } from './confirmedFindings.ts';
import type { Finding, PolicyInput } from './types.ts';
import { definePolicy } from './declaration.ts';
import { NAMESPACE_DELETE } from './webhooks.ts';

const NAME = 'apiservice-backends';

interface ApiServiceShape {
  spec?: { service?: { namespace?: string; name?: string } | null };
  status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> };
}

function backendOf(a: KubeObject): { namespace: string; name: string } | undefined {
  const service = (a as ApiServiceShape).spec?.service;
  return service?.namespace && service.name ? { namespace: service.namespace, name: service.name } : undefined;
}

/** Undefined when Available; otherwise why not (the condition's reason, or that there is none yet). */
function unavailable(a: KubeObject): string | undefined {
  const c = (a as ApiServiceShape).status?.conditions?.find((x) => x.type === 'Available');
  if (c?.status === 'True') return undefined;
  return c ? `${c.reason ?? 'not Available'}${c.message ? `: ${c.message}` : ''}` : 'no Available condition yet';
}

const ref = (a: KubeObject) => ({ apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', name: a.metadata?.name ?? '' });

function strands(ns: string, apiServices: KubeObject[]): Finding {
  const names = apiServices.map((a) => a.metadata?.name ?? '');
  return {
    policy: NAME,
    severity: 'violation',
    code: 'namespace-deletes-apiservice-backend',
    summary: `deleting namespace ${ns} would leave it Terminating: it holds the backend of APIService ${names.join(', ')}, which stays registered, so API discovery fails and no namespace deletion can finish`,
    detail: [
      `An APIService is cluster-scoped: deleting namespace ${ns} deletes its backend but not the registration. Once the backend is gone the APIService is unavailable, the namespace controller cannot discover every resource (NamespaceDeletionDiscoveryFailure), and ${ns}, and every namespace deleted after it, stays Terminating until the APIService is deleted.`,
      ...apiServices.map((a) => `  - APIService ${a.metadata?.name ?? ''} -> Service ${backendOf(a)?.namespace ?? ''}/${backendOf(a)?.name ?? ''}`),
    ].join('\n'),
    remedy: [
      `Remove the aggregated API first (uninstall what registered it, or: ${names.map((n) => `kubectl delete apiservice ${n}`).join('; ')}), then delete namespace ${ns}.`,
    ],
    objects: apiServices.map(ref),
  };
}

function waits(ns: string, apiServices: KubeObject[]): Finding {
  const names = apiServices.map((a) => a.metadata?.name ?? '');
  return {
    policy: NAME,
    severity: 'risk',
    code: 'namespace-waits-for-apiservice',
    summary: `namespace ${ns} will stay Terminating while APIService ${names.join(', ')} is unavailable (${apiServices.map((a) => unavailable(a)).join('; ')})`,
    detail: [
      'While any APIService is unavailable the namespace controller cannot discover every resource (NamespaceDeletionDiscoveryFailure) and finalizes no namespace:',
      ...apiServices.map(
        (a) => `  - APIService ${a.metadata?.name ?? ''} -> Service ${backendOf(a)?.namespace ?? ''}/${backendOf(a)?.name ?? ''}: ${unavailable(a) ?? ''}`,
      ),
    ].join('\n'),
    remedy: [
      'Bring each backend back (reinstall or scale up what serves it); the deletion then finishes by itself.',
      `Or, if that API is gone for good: ${names.map((n) => `kubectl delete apiservice ${n}`).join('; ')}`,
    ],
    objects: apiServices.map(ref),
  };
}

async function evaluate(input: PolicyInput): Promise<Finding[]> {
  const ns = targetName(input.request);
  return confirmedFindings(input, (v) => check(ns, v));
}

async function check(ns: string, view: ApiServiceReader): Promise<Finding[]> {
  if (!view.liveApiServices) return [];
  const aggregated = (await view.liveApiServices()).filter((a) => backendOf(a) !== undefined && !a.metadata?.deletionTimestamp);
  const findings: Finding[] = [];
  const backedHere = aggregated.filter((a) => backendOf(a)?.namespace === ns);
  if (backedHere.length > 0) findings.push(strands(ns, backedHere));
  const down = aggregated.filter((a) => backendOf(a)?.namespace !== ns && unavailable(a) !== undefined);
  if (down.length > 0) findings.push(waits(ns, down));
  return findings;
}

export const apiServiceBackends = definePolicy({
  name: NAME,
  defaultMode: 'warn',
  summary:
    "Warns, or denies in enforce, deleting the namespace of a registered APIService's backend (API discovery then fails and no namespace deletion finishes); a risk while any APIService is unavailable.",
  judges: () => [NAMESPACE_DELETE],
  whenUndecided: 'undecided',
  evaluate,
});
