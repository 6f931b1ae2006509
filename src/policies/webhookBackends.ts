// Policy `webhook-backends` (ARCHITECTURE.md §1D): a namespace DELETE whose objects carry finalizers
// that a webhook failing closed on their updates would keep in place (k8s/webhooks.ts). Removing a
// finalizer is an update; with the webhook's Service gone, the API server refuses it, whoever sends
// it (the controller, the control plane, a person), and the namespace stays Terminating until the
// webhook configuration is deleted.
//   - the Service is gone now: a violation (certain: every update of those objects is refused);
//   - the Service is in the namespace being deleted: a risk (it may go before the finalizers do).
// A read that fails leaves the policy silent, as inference (it needs the same namespace sweep).
import { targetName } from '../k8s/admissionReview.ts';
import type { FinalizedObject, WebhookReader } from '../cluster/view.ts';
import { apiVersionOf, formatRef } from '../k8s/types.ts';
import { failClosedUpdateTypes, failClosedWebhooks, serviceWebhooks, type FailClosedWebhook } from '../k8s/webhooks.ts';
import { confirmedFindings } from './confirmedFindings.ts';
import type { Finding, PolicyInput } from './types.ts';
import { definePolicy } from './declaration.ts';
import { NAMESPACE_DELETE } from './webhooks.ts';

const NAME = 'webhook-backends';
const LISTED = 5;

const typeOf = (o: Pick<FinalizedObject, 'group' | 'resource'>) => (o.group === '' ? o.resource : `${o.resource}.${o.group}`);

function held(objects: FinalizedObject[], w: FailClosedWebhook): FinalizedObject[] {
  return objects.filter((o) => w.resources.includes(typeOf(o)));
}

function listing(objects: FinalizedObject[]): string[] {
  const shown = objects.slice(0, LISTED).map((o) => `  - ${o.kind} ${o.namespace}/${o.name} (finalizers ${o.finalizers.join(', ')})`);
  return objects.length > LISTED ? [...shown, `  - and ${objects.length - LISTED} more`] : shown;
}

function finding(ns: string, w: FailClosedWebhook, objects: FinalizedObject[], gone: boolean): Finding {
  const hook = `${w.kind} ${w.configuration} (webhook ${w.webhook}, failurePolicy Fail)`;
  const service = `Service ${w.service.namespace}/${w.service.name}`;
  const refs = objects.map((o) => ({ apiVersion: apiVersionOf(o.group, o.version), kind: o.kind, namespace: o.namespace, name: o.name }));
  const what = objects.length === 1 ? formatRef(refs[0]!) : `${objects.length} objects`;
  const deleteHook = `kubectl delete ${w.kind.toLowerCase()} ${w.configuration}`;
  return gone
    ? {
        policy: NAME,
        severity: 'violation',
        code: 'namespace-finalizers-behind-dead-webhook',
        summary: `deleting namespace ${ns} would leave it Terminating: ${what} carry finalizers, and ${hook} refuses every update of them because ${service} is gone, so no finalizer can be removed`,
        detail: [`Removing a finalizer is an update; the API server sends it to the webhook, whose backend is gone, and refuses it:`, ...listing(objects)].join(
          '\n',
        ),
        remedy: [`Delete the webhook configuration (or bring ${service} back) first: ${deleteHook}; then delete namespace ${ns}.`],
        objects: refs,
      }
    : {
        policy: NAME,
        severity: 'risk',
        code: 'namespace-deletes-webhook-backend',
        summary: `deleting namespace ${ns} deletes ${service}, the backend of ${hook}, which intercepts updates of ${what} carrying finalizers in ${ns}: once it is gone they cannot be removed, and ${ns} would hang`,
        detail: [
          `The namespace controller deletes the Service and these objects together; any finalizer still on them when the Service is gone stays:`,
          ...listing(objects),
        ].join('\n'),
        remedy: [
          `Delete the objects first while the webhook still answers (kubectl delete ${[...new Set(objects.map(typeOf))].join(',')} --all -n ${ns} --wait), then the namespace.`,
          `Or delete the webhook configuration first if nothing else needs it: ${deleteHook}`,
        ],
        objects: refs,
      };
}

async function check(ns: string, view: WebhookReader): Promise<Finding[]> {
  if (!view.liveFinalizedObjects || !view.liveWebhookConfigurations) return [];
  const configurations = await view.liveWebhookConfigurations();
  const labels = view.getNamespace(ns)?.labels ?? {};
  // Only objects a fail-closed webhook intercepts can be held by one: no such webhook, no sweep.
  const intercepted = failClosedUpdateTypes(configurations, labels);
  if (!intercepted) return [];
  const { objects } = await view.liveFinalizedObjects(ns, { key: 'fail-closed-webhook-updates', wanted: intercepted });
  if (objects.length === 0) return [];
  const services = [...new Map(serviceWebhooks(configurations).map((w) => [`${w.service.namespace}/${w.service.name}`, w.service])).values()];
  const states = await view.liveObjectsState(services.map((s) => ({ apiVersion: 'v1', kind: 'Service', namespace: s.namespace, name: s.name })));
  const goneNow = new Set(services.filter((_, i) => states[i] !== 'exists').map((s) => `${s.namespace}/${s.name}`));
  const types = [...new Set(objects.map(typeOf))];
  const webhooks = failClosedWebhooks(configurations, types, labels, (sns, name) => goneNow.has(`${sns}/${name}`) || sns === ns);
  return webhooks.map((w) => finding(ns, w, held(objects, w), goneNow.has(`${w.service.namespace}/${w.service.name}`)));
}

async function evaluate(input: PolicyInput): Promise<Finding[]> {
  const ns = targetName(input.request);
  return confirmedFindings(input, (v) => check(ns, v));
}

export const webhookBackends = definePolicy({
  name: NAME,
  defaultMode: 'warn',
  summary:
    'Warns, or denies in enforce, deleting a namespace whose objects carry finalizers that a fail-closed webhook with its Service gone keeps anyone from removing; a risk when that Service is in the namespace.',
  judges: () => [NAMESPACE_DELETE],
  // A read that fails leaves it silent, as inference (it needs the same namespace sweep).
  whenUndecided: 'silent',
  evaluate,
});
