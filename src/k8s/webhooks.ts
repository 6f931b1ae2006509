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
 * The types (group, plural) on whose UPDATE some webhook of `configurations` that calls a Service
 * would fail closed in a namespace labelled `namespaceLabels`, whatever its Service's state; none
 * (undefined) when no webhook could. failClosedWebhooks can name a webhook only for these types,
 * so a namespace sweep for it lists no others.
 */
export function failClosedUpdateTypes(
  configurations: readonly KubeObject[],
  namespaceLabels: Record<string, string>,
): ((type: { group: string; resource: string }) => boolean) | undefined {
  const candidates = failClosedWebhooksMatching(configurations, namespaceLabels);
  if (candidates.length === 0) return undefined;
  return ({ group, resource }) => candidates.some(({ webhook }) => interceptsUpdate(webhook, group, resource));
}

/** Webhooks calling a Service that fail closed, see every object and select a namespace so labelled. */
function failClosedWebhooksMatching(configurations: readonly KubeObject[], namespaceLabels: Record<string, string>): ReturnType<typeof serviceWebhooks> {
  return serviceWebhooks(configurations).filter(({ webhook: w }) => {
    if (w.failurePolicy === 'Ignore' || !empty(w.objectSelector)) return false;
    const nsRequirements = requirementsOf(w.namespaceSelector);
    return nsRequirements !== undefined && matchesLabelSelector(nsRequirements, namespaceLabels);
  });
}

const interceptsUpdate = (w: WebhookShape, group: string, resource: string) =>
  (w.rules ?? []).some((r) => matches(r.operations, 'UPDATE') && matches(r.apiGroups, group) && matches(r.resources, resource));

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
  for (const { configuration, webhook: w, service } of failClosedWebhooksMatching(configurations, namespaceLabels)) {
    if (!serviceGone(service.namespace, service.name)) continue;
    const hit = resources.filter((t) => {
      const dot = t.indexOf('.');
      const [resource, group] = dot < 0 ? [t, ''] : [t.slice(0, dot), t.slice(dot + 1)];
      return interceptsUpdate(w, group, resource);
    });
    if (hit.length === 0) continue;
    const kind = configuration.kind === 'MutatingWebhookConfiguration' ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration';
    out.push({ kind, configuration: configuration.metadata?.name ?? '', webhook: w.name ?? '', service, resources: hit });
  }
  return out;
}
