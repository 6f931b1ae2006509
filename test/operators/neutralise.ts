// What cannot run here, changed right after an operator's install and annotated
// teardown-guard.test/neutralised with the reason, as test/cluster/olm.ts does for OLM
// (operators.json lists each change under `neutralised`). Only Kueue needs any:
//   - its two visibility APIServices are deleted: the stand-in does not serve that API, and an
//     unavailable aggregated APIService stops every namespace deletion in the cluster
//     (src/ARCHITECTURE.md §1D);
//   - its webhook Service becomes ExternalName localhost and every admission webhook that names
//     it gets the stand-in's loopback port: kube-apiserver resolves an ExternalName Service to
//     that host and the webhook's own port (k8s.io/apiserver pkg/util/proxy ResolveCluster),
//     where the stand-in answers with the CA it injects;
//   - the CRDs' conversion webhooks (v1beta1 <-> v1beta2, storage v1beta2) become strategy None:
//     a stand-in converting only apiVersion is what None does, without the round trip.
// Failure policies and rules of the admission webhooks are untouched: stopped, Kueue's webhooks
// fail closed as they do for users.
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { NEUTRALISED } from '../cluster/olm.ts';

const annotate = (reason: string) => ({ op: 'add', path: `/metadata/annotations/${NEUTRALISED.replace('/', '~1')}`, value: reason });

async function jsonPatch(cp: ControlPlane, path: string, ops: unknown[]): Promise<void> {
  const get = await cp.client.request<{ metadata: { annotations?: Record<string, string> } }>('GET', path);
  if (get.status !== 200) throw new Error(`neutralising ${path}: GET ${get.status}`);
  // JSON patch cannot add under a missing annotations map.
  const prefix = get.body.metadata.annotations ? [] : [{ op: 'add', path: '/metadata/annotations', value: {} }];
  const r = await cp.client.request('PATCH', path, { body: [...prefix, ...ops], contentType: 'application/json-patch+json', timeoutMs: 120_000 });
  if (r.status >= 300) throw new Error(`neutralising ${path}: ${r.status} ${r.text.slice(0, 300)}`);
}

type ServiceRef = { clientConfig?: { service?: { name?: string; namespace?: string } } };

/** Kueue's neutralisation; `fullname` is the chart's fullname (its controller is `<fullname>-controller-manager`). */
export async function neutraliseKueue(cp: ControlPlane, namespace: string, fullname: string, webhookPort: number): Promise<void> {
  for (const v of ['v1beta1', 'v1beta2']) {
    const r = await cp.client.request('DELETE', `/apis/apiregistration.k8s.io/v1/apiservices/${v}.visibility.kueue.x-k8s.io`);
    if (r.status >= 300 && r.status !== 404) throw new Error(`deleting Kueue's visibility APIService ${v}: ${r.status}`);
  }
  const service = `${fullname}-webhook-service`;
  const names = (w: ServiceRef) => w.clientConfig?.service?.name === service && w.clientConfig.service.namespace === namespace;
  const why = `the stand-in serves Kueue's webhooks on 127.0.0.1:${webhookPort} (test/operators/neutralise.ts)`;

  const crds = await cp.client.must<{ items: Array<{ metadata: { name: string }; spec: { conversion?: { webhook?: ServiceRef } } }> }>(
    'GET',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  );
  const stripped =
    'conversion strategy None instead of the webhook: all the stand-in would do is rewrite apiVersion, which is what None does, and every CRD update costs kube-apiserver a storage and OpenAPI rebuild (test/operators/neutralise.ts)';
  await Promise.all(
    crds.items
      .filter((crd) => crd.spec.conversion?.webhook && names(crd.spec.conversion.webhook))
      .map((crd) =>
        jsonPatch(cp, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, [
          { op: 'replace', path: '/spec/conversion', value: { strategy: 'None' } },
          annotate(stripped),
        ]),
      ),
  );

  const svcPath = `/api/v1/namespaces/${namespace}/services/${service}`;
  const svc = await cp.client.request('PATCH', svcPath, {
    body: { metadata: { annotations: { [NEUTRALISED]: why } }, spec: { type: 'ExternalName', externalName: 'localhost', clusterIP: null, clusterIPs: null } },
    contentType: 'application/merge-patch+json',
  });
  if (svc.status >= 300) throw new Error(`neutralising ${svcPath}: ${svc.status} ${svc.text.slice(0, 300)}`);

  // Last: the stand-in starts serving once the webhooks name its port, so everything above is done by then.
  for (const kind of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    const list = await cp.client.must<{ items: Array<{ metadata: { name: string }; webhooks?: ServiceRef[] }> }>(
      'GET',
      `/apis/admissionregistration.k8s.io/v1/${kind}`,
    );
    for (const cfg of list.items) {
      const ops = (cfg.webhooks ?? []).flatMap((w, i) =>
        names(w) ? [{ op: 'add', path: `/webhooks/${i}/clientConfig/service/port`, value: webhookPort }] : [],
      );
      if (ops.length) await jsonPatch(cp, `/apis/admissionregistration.k8s.io/v1/${kind}/${cfg.metadata.name}`, [...ops, annotate(why)]);
    }
  }
}
