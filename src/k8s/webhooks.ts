// Admission webhooks that fail closed (failurePolicy Fail, the v1 default) on updates of objects
// carrying finalizers while their backend Service is gone: every update of those objects is refused,
// so no finalizer can be removed, by its controller (or the control plane) or by hand, until the
// webhook configuration is deleted (VictoriaMetrics/helm-charts#2726: the operator's webhook left
// behind). Pure: the caller says which Services are gone.
import { matchesLabelSelector, requirementsOf, type StructuredLabelSelector } from './labelSelector.ts';
import type { KubeObject } from './types.ts';

export interface FailClosedWebhook {
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
  configuration: string;
  webhook: string;
  service: { namespace: string; name: string };
  /** `plural.group` of the given resources it intercepts. */
  resources: string[];
}

interface WebhookShape {
  name?: string;
  failurePolicy?: string;
  clientConfig?: { service?: { namespace?: string; name?: string } };
  rules?: Array<{ apiGroups?: string[]; resources?: string[]; operations?: string[] }>;
  namespaceSelector?: StructuredLabelSelector;
  objectSelector?: StructuredLabelSelector;
}

const matches = (list: string[] | undefined, value: string) => (list ?? []).some((v) => v === '*' || v === value);
const empty = (s: StructuredLabelSelector | undefined) => !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

/** Every webhook (with its configuration's kind and name) that calls a Service. */
export function serviceWebhooks(
  configurations: readonly KubeObject[],
): Array<{ configuration: KubeObject; webhook: WebhookShape; service: { namespace: string; name: string } }> {
  return configurations.flatMap((configuration) =>
    ((configuration as { webhooks?: WebhookShape[] }).webhooks ?? []).flatMap((webhook) => {
      const s = webhook.clientConfig?.service;
      return s?.namespace && s.name ? [{ configuration, webhook, service: { namespace: s.namespace, name: s.name } }] : [];
    }),
  );
}

/**
 * Webhooks of `configurations` that fail closed on UPDATE of one of `resources` (`plural.group`) in
 * a namespace labelled `namespaceLabels`, and whose Service `serviceGone` says is gone. A webhook
 * with an objectSelector, or a namespaceSelector that cannot be read, may skip the objects: it is
 * left out rather than named wrongly.
 */
export function failClosedWebhooks(
  configurations: readonly KubeObject[],
  resources: readonly string[],
  namespaceLabels: Record<string, string>,
  serviceGone: (namespace: string, name: string) => boolean,
): FailClosedWebhook[] {
  const out: FailClosedWebhook[] = [];
  for (const { configuration, webhook: w, service } of serviceWebhooks(configurations)) {
    if (w.failurePolicy === 'Ignore' || !empty(w.objectSelector)) continue;
    const nsRequirements = requirementsOf(w.namespaceSelector);
    if (!nsRequirements || !matchesLabelSelector(nsRequirements, namespaceLabels)) continue;
    if (!serviceGone(service.namespace, service.name)) continue;
    const hit = resources.filter((t) => {
      const dot = t.indexOf('.');
      const [resource, group] = dot < 0 ? [t, ''] : [t.slice(0, dot), t.slice(dot + 1)];
      return (w.rules ?? []).some((r) => matches(r.operations, 'UPDATE') && matches(r.apiGroups, group) && matches(r.resources, resource));
    });
    if (hit.length === 0) continue;
    const kind = configuration.kind === 'MutatingWebhookConfiguration' ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration';
    out.push({ kind, configuration: configuration.metadata?.name ?? '', webhook: w.name ?? '', service, resources: hit });
  }
  return out;
}
