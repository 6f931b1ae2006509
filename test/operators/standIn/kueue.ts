// Kueue v0.17.0 (sigs.k8s.io/kueue), the finalizer kueue.x-k8s.io/resource-in-use
// (apis/kueue/v1beta2/constants.go ResourceInUseFinalizerName):
//   - ClusterQueue and ResourceFlavor: added on CREATE by the mutating webhooks
//     (pkg/webhooks/clusterqueue_webhook.go ClusterQueueWebhook.Default,
//     resourceflavor_webhook.go ResourceFlavorWebhook.Default) and by the reconcilers as a
//     fallback (Update). Removed on deletion by pkg/controller/core/clusterqueue_controller.go
//     ClusterQueueReconciler.Reconcile once cache.ClusterQueueEmpty (no Workload holds quota in
//     it), and by resourceflavor_controller.go ResourceFlavorReconciler.Reconcile once
//     cache.ClusterQueuesUsingFlavor is empty (no ClusterQueue, deleting ones included, names it);
//     both Update. A ClusterQueue's deletion re-drives the flavors.
//   - Workload: created with it by the job integrations (pkg/controller/jobframework/interface.go
//     NewWorkload); pkg/controller/core/workload_controller.go WorkloadReconciler.Reconcile
//     removes it (pkg/workload/workload.go RemoveFinalizer, Update) from a Workload being deleted
//     that has no ownerReferences; an owned one is released by its job's reconciler once the job
//     is finished or gone (the stand-in: once no owner exists).
// The webhooks: Kueue serves them itself and, with internal certificate management (default),
// makes a CA and serving certificate for <fullname>-webhook-service.<ns>.svc and injects the CA
// into its webhook configurations and the conversion webhooks of its CRDs (pkg/util/cert/cert.go).
// The stand-in does the same on the loopback port the harness pointed them at
// (test/operators/neutralise.ts, which also turns the CRDs' conversion to strategy None): its
// mutating webhooks add the finalizer as above, its validating webhooks allow, its conversion
// webhook (for a CRD left with one) rewrites apiVersion only. Stopped, the webhooks fail closed,
// as the real ones do.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { makeCA, makeLeaf } from '../../cluster/pki.ts';
import type { Behaviour, StandIn } from './context.ts';
import { deleting, hasFinalizer, statusOf, type KubeObject } from './kube.ts';

export const KUEUE_FINALIZER = 'kueue.x-k8s.io/resource-in-use';
const BASE = '/apis/kueue.x-k8s.io/v1beta2';
/** The mutating webhooks whose Default adds the finalizer (the paths controller-gen gave them). */
const FINALIZING_WEBHOOKS = new Set(['/mutate-kueue-x-k8s-io-v1beta2-clusterqueue', '/mutate-kueue-x-k8s-io-v1beta2-resourceflavor']);

type ClusterQueue = KubeObject & { spec?: { resourceGroups?: Array<{ flavors?: Array<{ name: string }> }> } };
type Workload = KubeObject & { status?: { admission?: { clusterQueue?: string } } };

type ServiceNamed = { clientConfig?: { service?: { name?: string; namespace?: string } } };

interface AdmissionReview {
  request?: { uid: string; operation: string; object?: KubeObject };
}
interface ConversionReview {
  request?: { uid: string; desiredAPIVersion: string; objects: KubeObject[] };
}

function readBody(req: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The answer of Kueue's webhook server for one request path. */
export function webhookAnswer(path: string, body: unknown): unknown {
  if (path === '/convert') {
    const r = (body as ConversionReview).request!;
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: { uid: r.uid, convertedObjects: r.objects.map((o) => ({ ...o, apiVersion: r.desiredAPIVersion })), result: { status: 'Success' } },
    };
  }
  const r = (body as AdmissionReview).request!;
  const response: Record<string, unknown> = { uid: r.uid, allowed: true };
  const obj = r.object;
  if (FINALIZING_WEBHOOKS.has(path) && obj && !hasFinalizer(obj, KUEUE_FINALIZER)) {
    const ops = obj.metadata.finalizers
      ? [{ op: 'add', path: '/metadata/finalizers/-', value: KUEUE_FINALIZER }]
      : [{ op: 'add', path: '/metadata/finalizers', value: [KUEUE_FINALIZER] }];
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(ops)).toString('base64');
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

async function serveWebhooks(s: StandIn, service: string, port: number): Promise<{ server: Server; caPem: string }> {
  const dir = join(s.workDir, 'certs');
  mkdirSync(dir, { recursive: true });
  const host = `${service}.${s.namespace}.svc`;
  // Kueue keeps its certificates in a Secret across restarts; the stand-in keeps them in its work
  // dir, which outlives a scale to 0 and back.
  const leaf = { cert: join(dir, 'serving.crt'), key: join(dir, 'serving.key') };
  let ca: { pem: string };
  if (existsSync(leaf.cert) && existsSync(join(dir, 'ca.crt'))) {
    ca = { pem: readFileSync(join(dir, 'ca.crt'), 'utf8') };
  } else {
    const made = await makeCA(dir, 'kueue-webhook-ca');
    await makeLeaf(dir, 'serving', made, { cn: host, dns: [host, `${host}.cluster.local`], usage: 'server' });
    ca = made;
  }
  const server = createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, (req, res) => {
    void readBody(req).then(
      (text) => {
        const answer = webhookAnswer(new URL(req.url ?? '/', 'https://x').pathname, JSON.parse(text));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer));
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  s.log(`webhooks served on 127.0.0.1:${port} as ${host}`);
  return { server, caPem: ca.pem };
}

/** Internal certificate management's injection: the CA into every webhook and conversion webhook that names the service (Update, as the SA may not patch). */
async function injectCaBundle(s: StandIn, fullname: string, service: string, caPem: string): Promise<void> {
  const caBundle = Buffer.from(caPem).toString('base64');
  const names = (w: ServiceNamed) => w.clientConfig?.service?.name === service && w.clientConfig.service.namespace === s.namespace;
  const targets = [
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${fullname}-mutating-webhook-configuration`,
    `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${fullname}-validating-webhook-configuration`,
  ];
  const crds = await s.client.must<{ items: Array<KubeObject & { spec: { group: string; conversion?: { webhook?: ServiceNamed } } }> }>(
    'GET',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  );
  for (const c of crds.items) {
    if (c.spec.group === 'kueue.x-k8s.io' && c.spec.conversion?.webhook && names(c.spec.conversion.webhook)) {
      targets.push(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c.metadata.name}`);
    }
  }
  const inject = async (path: string): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const o = await s.client.request<Record<string, unknown> & KubeObject>('GET', path);
      if (o.status === 404) break;
      if (o.status !== 200) throw new Error(`GET ${path}: ${o.status}`);
      const obj = o.body;
      let changed = false;
      const hooks = (obj as { webhooks?: Array<{ clientConfig?: { caBundle?: string; service?: { name?: string; namespace?: string } } }> }).webhooks;
      for (const w of hooks ?? []) {
        if (names(w) && w.clientConfig!.caBundle !== caBundle) {
          w.clientConfig!.caBundle = caBundle;
          changed = true;
        }
      }
      const conv = (
        obj.spec as { conversion?: { webhook?: { clientConfig?: { caBundle?: string; service?: { name?: string; namespace?: string } } } } } | undefined
      )?.conversion?.webhook;
      if (conv && names(conv) && conv.clientConfig!.caBundle !== caBundle) {
        conv.clientConfig!.caBundle = caBundle;
        changed = true;
      }
      if (!changed) break;
      const put = await s.client.request('PUT', path, { body: obj });
      if (put.status < 300) break;
      if (put.status !== 409 || attempt > 20) throw new Error(`PUT ${path}: ${put.status} ${put.text.slice(0, 200)}`);
    }
  };
  await Promise.all(targets.map(inject));
  s.log(`CA injected into ${targets.map((t) => t.split('/').pop()).join(', ')}`);
}

/**
 * Waits (bounded) until the harness has pointed Kueue's webhooks at this stand-in's port, which
 * it does last (test/operators/neutralise.ts): injecting the CA earlier would race its changes.
 */
async function webhooksPointingHere(s: StandIn, fullname: string, service: string, port: number): Promise<void> {
  const configs = [
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${fullname}-mutating-webhook-configuration`,
    `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${fullname}-validating-webhook-configuration`,
  ];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    let ready = true;
    for (const path of configs) {
      const r = await s.client.request<{ webhooks?: Array<{ clientConfig?: { service?: { name?: string; namespace?: string; port?: number } } }> }>(
        'GET',
        path,
      );
      const ours = (r.status === 200 ? (r.body.webhooks ?? []) : []).filter((w) => w.clientConfig?.service?.name === service);
      if (!ours.length || ours.some((w) => w.clientConfig?.service?.port !== port)) ready = false;
    }
    if (ready) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  s.log(`webhooks of ${fullname} do not name port ${port} after 60 s; injecting the CA anyway`);
}

export const kueueController: Behaviour = async (s) => {
  const fullname = s.workloadName.replace(/-controller-manager$/, '');
  const service = `${fullname}-webhook-service`;
  const port = Number(s.args['webhook-port']);
  if (!port) throw new Error('--tg-webhook-port missing: the harness points the webhooks at that port when it installs Kueue');
  const { caPem } = await serveWebhooks(s, service, port);
  await webhooksPointingHere(s, fullname, service, port);
  await injectCaBundle(s, fullname, service, caPem);

  const queues = s.informer<ClusterQueue>(`${BASE}/clusterqueues`);
  const flavors = s.informer(`${BASE}/resourceflavors`);
  const workloads = s.informer<Workload>(`${BASE}/workloads`);
  const put = (path: string, o: KubeObject, finalizers: string[]) =>
    s.client.must('PUT', path, { body: { ...o, metadata: { ...o.metadata, finalizers: finalizers.length ? finalizers : null } } });
  const without = (o: KubeObject) => (o.metadata.finalizers ?? []).filter((f) => f !== KUEUE_FINALIZER);

  /** Shared by ClusterQueue and ResourceFlavor: the fallback add, and removal once `inUse` says no. */
  const resourceInUse =
    (plural: string, inUse: (o: KubeObject) => string[]) =>
    async (o: KubeObject): Promise<'done' | 'retry'> => {
      const path = `${BASE}/${plural}/${o.metadata.name}`;
      if (!deleting(o)) {
        if (!hasFinalizer(o, KUEUE_FINALIZER)) {
          await put(path, o, [...(o.metadata.finalizers ?? []), KUEUE_FINALIZER]);
          s.log(`${plural} ${o.metadata.name}: added ${KUEUE_FINALIZER}`);
        }
        return 'done';
      }
      if (!hasFinalizer(o, KUEUE_FINALIZER)) return 'done';
      const users = inUse(o);
      // Kueue does not requeue on its own here: related objects' events drive it again.
      if (users.length) return 'done';
      await put(path, o, without(o));
      s.log(`${plural} ${o.metadata.name}: removed ${KUEUE_FINALIZER}`);
      return 'done';
    };

  const cqLoop = s.loop(
    'clusterqueue',
    queues,
    resourceInUse('clusterqueues', (cq) =>
      workloads
        .list()
        .filter((w) => w.status?.admission?.clusterQueue === cq.metadata.name)
        .map((w) => w.metadata.name),
    ),
  );
  const rfLoop = s.loop(
    'resourceflavor',
    flavors,
    resourceInUse('resourceflavors', (rf) =>
      queues
        .list()
        .filter((cq) => (cq.spec?.resourceGroups ?? []).some((g) => (g.flavors ?? []).some((f) => f.name === rf.metadata.name)))
        .map((cq) => cq.metadata.name),
    ),
  );
  queues.onChange(() => rfLoop.enqueueAll(deleting));
  workloads.onChange(() => cqLoop.enqueueAll(deleting));

  s.loop('workload', workloads, async (wl) => {
    if (!deleting(wl) || !hasFinalizer(wl, KUEUE_FINALIZER)) return 'done';
    for (const ref of wl.metadata.ownerReferences ?? []) {
      // An owner still there keeps the Workload for its job reconciler (not reproduced).
      const [group, version] = ref.apiVersion.includes('/') ? ref.apiVersion.split('/') : ['', ref.apiVersion];
      if (group === 'batch' && ref.kind === 'Job') {
        const r = await s.client.request('GET', `/apis/batch/${version}/namespaces/${wl.metadata.namespace}/jobs/${ref.name}`);
        if (r.status !== 404) return 'retry';
      } else {
        return 'done';
      }
    }
    try {
      await put(`${BASE}/namespaces/${wl.metadata.namespace}/workloads/${wl.metadata.name}`, wl, without(wl));
    } catch (e) {
      if (statusOf(e) === 404) return 'done';
      throw e;
    }
    s.log(`workload ${wl.metadata.namespace}/${wl.metadata.name}: removed ${KUEUE_FINALIZER}`);
    return 'done';
  });
};
