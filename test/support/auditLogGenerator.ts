// Generates a synthetic kube-apiserver audit log (audit.k8s.io/v1 Event JSON lines) for the
// review benchmark (test/bench/review.ts, and by hand: test/bench/generate-audit-log.ts) and the
// prefilter's unit test. Deterministic: the same seed and size give the same bytes.
//
// The mix (weights per background event; shapes follow what kube-apiserver writes under a
// common policy: Secrets/ConfigMaps/leases/events at Metadata, workloads at RequestResponse,
// pod status patches at Request; about 30% of requests also get a RequestReceived event):
//   27  lease renewals (update, Metadata) by kubelets, controller-manager, scheduler
//   18  get (pods, configmaps, secrets, nodes) by kubelets and controllers
//   12  list/watch by controllers and informers
//   10  pod status patches by kubelets (Request level, ~1.5 KiB body)
//   10  event creations (Request level, ~0.8 KiB body)
//    6  SubjectAccessReview/TokenReview creates (RequestResponse)
//    8  Deployment/ReplicaSet updates by controllers (RequestResponse, 3-6 KiB bodies)
//    4  deletes of pods/replicasets by GC and controllers (10% answer 404)
//    5  kubectl get/list by people
// Planted incidents (counted and printed, so the benchmark can check the review found them):
// every ~2000 background events one Helm activity: a correct `helm uninstall` by the Helm CLI
// (records listed, updated, resources deleted in the release namespace, records purged), or
// (1 in 8) an SDK uninstall whose DELETEs go to `default` and get 404 before the purge — a
// misdirected uninstall; plus namespace deletions that complete (namespace controller).
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export interface GenerateOptions {
  out: string;
  sizeMb: number;
  seed: number;
  /** One planted Helm or namespace activity per this many background events (default 2000). */
  helmEvery?: number;
}
export interface GenerateResult {
  bytes: number;
  lines: number;
  events: number;
  misdirected: number;
  correctUninstalls: number;
  namespaceDeletions: number;
}

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KUBE_UA = (c: string) => `${c}/v1.36.3 (linux/amd64) kubernetes/6a7c1b2`;
const NODES = Array.from({ length: 40 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
const NAMESPACES = ['default', 'kube-system', 'monitoring', 'payments', 'checkout', 'search', 'ingress', 'logging', 'cert-manager', 'ml'];
const PEOPLE = ['alice@example.com', 'bob@example.com', 'carol@example.com', 'ci-bot'];

export async function generateAuditLog(o: GenerateOptions): Promise<GenerateResult> {
  const rnd = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rnd() * 16)];
    return s;
  };
  const uid = () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
  const target = o.sizeMb * 1024 * 1024;
  const out = createWriteStream(o.out);
  let t = Date.parse('2026-03-01T09:00:00Z');
  let bytes = 0;
  let lines = 0;
  let events = 0;
  let buf: string[] = [];
  let bufLen = 0;
  const res: GenerateResult = { bytes: 0, lines: 0, events: 0, misdirected: 0, correctUninstalls: 0, namespaceDeletions: 0 };

  const ts = (ms: number) => new Date(ms).toISOString().replace('Z', '') + String(Math.floor(rnd() * 1000)).padStart(3, '0') + 'Z';
  const write = async (line: string) => {
    buf.push(line);
    bufLen += line.length + 1;
    bytes += Buffer.byteLength(line) + 1;
    lines++;
    if (bufLen > 1 << 20) {
      if (!out.write(buf.join('\n') + '\n')) await once(out, 'drain');
      buf = [];
      bufLen = 0;
    }
  };

  interface Ev {
    level: string;
    verb: string;
    uri: string;
    user: string;
    groups?: string[];
    ua: string;
    ref?: Record<string, string>;
    code: number;
    req?: unknown;
    resp?: unknown;
    ann?: Record<string, string>;
  }
  const emit = async (e: Ev) => {
    events++;
    const id = uid();
    const received = ts(t);
    const base = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: e.level,
      auditID: id,
      stage: 'ResponseComplete',
      requestURI: e.uri,
      verb: e.verb,
      user: { username: e.user, groups: e.groups ?? ['system:authenticated'] },
      sourceIPs: [`10.0.${Math.floor(rnd() * 255)}.${Math.floor(rnd() * 255)}`],
      userAgent: e.ua,
    };
    if (rnd() < 0.3) {
      await write(
        JSON.stringify({
          ...base,
          stage: 'RequestReceived',
          ...(e.ref ? { objectRef: e.ref } : {}),
          requestReceivedTimestamp: received,
          stageTimestamp: received,
        }),
      );
    }
    t += Math.floor(rnd() * 3) + 1;
    const full: Record<string, unknown> = { ...base };
    if (e.ref) full['objectRef'] = e.ref;
    full['responseStatus'] =
      e.code >= 400
        ? {
            metadata: {},
            status: 'Failure',
            message: `${e.ref?.['resource'] ?? 'object'} "${e.ref?.['name'] ?? ''}" not found`,
            reason: 'NotFound',
            details: { name: e.ref?.['name'], kind: e.ref?.['resource'] },
            code: e.code,
          }
        : { metadata: {}, code: e.code };
    if (e.req !== undefined) full['requestObject'] = e.req;
    if (e.resp !== undefined) full['responseObject'] = e.resp;
    full['requestReceivedTimestamp'] = received;
    full['stageTimestamp'] = ts(t);
    full['annotations'] = e.ann ?? {
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:controller" of ClusterRole "system:controller" to ServiceAccount',
    };
    await write(JSON.stringify(full));
  };

  const podStatus = (ns: string, name: string) => ({
    metadata: { uid: uid() },
    status: {
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: ts(t - 100000),
      })),
      containerStatuses: [
        {
          name: 'app',
          state: { running: { startedAt: ts(t - 90000) } },
          lastState: {},
          ready: true,
          restartCount: Math.floor(rnd() * 3),
          image: `registry.example/${ns}/${name.split('-')[0]}:1.${Math.floor(rnd() * 30)}`,
          imageID: `registry.example/${ns}/app@sha256:${hex(64)}`,
          containerID: `containerd://${hex(64)}`,
          started: true,
        },
      ],
      podIP: `10.244.${Math.floor(rnd() * 255)}.${Math.floor(rnd() * 255)}`,
      hostIP: `10.0.0.${Math.floor(rnd() * 255)}`,
      qosClass: 'Burstable',
    },
  });
  const deployment = (ns: string, name: string) => ({
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    metadata: {
      name,
      namespace: ns,
      uid: uid(),
      resourceVersion: String(Math.floor(rnd() * 1e7)),
      generation: Math.floor(rnd() * 20) + 1,
      creationTimestamp: ts(t - 8.64e7),
      labels: { app: name, 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': ns },
      annotations: { 'deployment.kubernetes.io/revision': String(Math.floor(rnd() * 9) + 1) },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: `registry.example/${ns}/${name}:1.4.2`,
              ports: [{ containerPort: 8080, protocol: 'TCP' }],
              env: Array.from({ length: 8 }, (_, i) => ({ name: `SETTING_${i}`, value: hex(16) })),
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              readinessProbe: {
                httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' },
                periodSeconds: 10,
                timeoutSeconds: 1,
                successThreshold: 1,
                failureThreshold: 3,
              },
            },
          ],
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          serviceAccountName: name,
          schedulerName: 'default-scheduler',
        },
      },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: {
      observedGeneration: 3,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [
        {
          type: 'Available',
          status: 'True',
          lastUpdateTime: ts(t - 5e6),
          lastTransitionTime: ts(t - 5e6),
          reason: 'MinimumReplicasAvailable',
          message: 'Deployment has minimum availability.',
        },
        {
          type: 'Progressing',
          status: 'True',
          lastUpdateTime: ts(t - 5e6),
          lastTransitionTime: ts(t - 8e7),
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${name}-${hex(10)}" has successfully progressed.`,
        },
      ],
    },
  });

  const background = async () => {
    const r = rnd() * 100;
    const ns = pick(NAMESPACES);
    const app = pick(['api', 'web', 'worker', 'cache', 'db', 'gateway', 'scheduler', 'indexer']);
    const pod = `${app}-${hex(10)}-${hex(5)}`;
    if (r < 27) {
      const node = pick(NODES);
      const who =
        rnd() < 0.8
          ? { user: `system:node:${node}`, groups: ['system:nodes', 'system:authenticated'], ua: KUBE_UA('kubelet'), ns: 'kube-node-lease', name: node }
          : rnd() < 0.5
            ? {
                user: 'system:kube-controller-manager',
                groups: ['system:authenticated'],
                ua: `${KUBE_UA('kube-controller-manager')}/leader-election`,
                ns: 'kube-system',
                name: 'kube-controller-manager',
              }
            : {
                user: 'system:kube-scheduler',
                groups: ['system:authenticated'],
                ua: `${KUBE_UA('kube-scheduler')}/leader-election`,
                ns: 'kube-system',
                name: 'kube-scheduler',
              };
      await emit({
        level: 'Metadata',
        verb: 'update',
        uri: `/apis/coordination.k8s.io/v1/namespaces/${who.ns}/leases/${who.name}?timeout=10s`,
        user: who.user,
        groups: who.groups,
        ua: who.ua,
        ref: { resource: 'leases', namespace: who.ns, name: who.name, apiGroup: 'coordination.k8s.io', apiVersion: 'v1' },
        code: 200,
      });
    } else if (r < 45) {
      const res = pick(['pods', 'configmaps', 'secrets', 'serviceaccounts']);
      const node = pick(NODES);
      await emit({
        level: 'Metadata',
        verb: 'get',
        uri: `/api/v1/namespaces/${ns}/${res}/${res === 'pods' ? pod : `${app}-config`}`,
        user: `system:node:${node}`,
        groups: ['system:nodes', 'system:authenticated'],
        ua: KUBE_UA('kubelet'),
        ref: { resource: res, namespace: ns, name: res === 'pods' ? pod : `${app}-config`, apiVersion: 'v1' },
        code: rnd() < 0.97 ? 200 : 404,
      });
    } else if (r < 57) {
      const res = pick(['pods', 'endpointslices', 'configmaps', 'services', 'nodes']);
      const watch = rnd() < 0.5;
      const path = res === 'endpointslices' ? '/apis/discovery.k8s.io/v1' : '/api/v1';
      await emit({
        level: 'Metadata',
        verb: watch ? 'watch' : 'list',
        uri: `${path}/${res}?allowWatchBookmarks=true&resourceVersion=${Math.floor(rnd() * 1e7)}&timeout=7m${Math.floor(rnd() * 59)}s&timeoutSeconds=${400 + Math.floor(rnd() * 200)}${watch ? '&watch=true' : ''}`,
        user: 'system:kube-controller-manager',
        ua: KUBE_UA('kube-controller-manager') + '/system:serviceaccount:kube-system:endpointslice-controller',
        ref: { resource: res, apiVersion: 'v1', ...(res === 'endpointslices' ? { apiGroup: 'discovery.k8s.io' } : {}) },
        code: 200,
      });
    } else if (r < 67) {
      const node = pick(NODES);
      await emit({
        level: 'Request',
        verb: 'patch',
        uri: `/api/v1/namespaces/${ns}/pods/${pod}/status`,
        user: `system:node:${node}`,
        groups: ['system:nodes', 'system:authenticated'],
        ua: KUBE_UA('kubelet'),
        ref: { resource: 'pods', namespace: ns, name: pod, apiVersion: 'v1', subresource: 'status' },
        code: 200,
        req: podStatus(ns, pod),
      });
    } else if (r < 77) {
      const reason = pick(['Pulled', 'Created', 'Started', 'Scheduled', 'SuccessfulCreate', 'ScalingReplicaSet', 'Unhealthy']);
      await emit({
        level: 'Request',
        verb: 'create',
        uri: `/api/v1/namespaces/${ns}/events`,
        user: `system:node:${pick(NODES)}`,
        ua: KUBE_UA('kubelet'),
        ref: { resource: 'events', namespace: ns, name: `${pod}.${hex(16)}`, apiVersion: 'v1' },
        code: 201,
        req: {
          kind: 'Event',
          apiVersion: 'v1',
          metadata: { name: `${pod}.${hex(16)}`, namespace: ns },
          involvedObject: {
            kind: 'Pod',
            namespace: ns,
            name: pod,
            uid: uid(),
            apiVersion: 'v1',
            resourceVersion: String(Math.floor(rnd() * 1e7)),
            fieldPath: 'spec.containers{app}',
          },
          reason,
          message: `${reason}: container app in pod ${pod} (image registry.example/${ns}/${app}:1.4.2)`,
          source: { component: 'kubelet', host: pick(NODES) },
          firstTimestamp: ts(t),
          lastTimestamp: ts(t),
          count: 1,
          type: reason === 'Unhealthy' ? 'Warning' : 'Normal',
          reportingComponent: 'kubelet',
          reportingInstance: pick(NODES),
        },
      });
    } else if (r < 83) {
      const sar = rnd() < 0.5;
      const spec = sar
        ? {
            resourceAttributes: {
              namespace: ns,
              verb: pick(['get', 'list', 'delete', 'update']),
              group: '',
              resource: pick(['pods', 'secrets', 'configmaps']),
            },
            user: `system:serviceaccount:${ns}:${app}`,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
            uid: uid(),
          }
        : { token: '(redacted)', audiences: ['https://kubernetes.default.svc'] };
      const kind = sar ? 'SubjectAccessReview' : 'TokenReview';
      const res = sar ? 'subjectaccessreviews' : 'tokenreviews';
      const group = sar ? 'authorization.k8s.io' : 'authentication.k8s.io';
      await emit({
        level: 'RequestResponse',
        verb: 'create',
        uri: `/apis/${group}/v1/${res}`,
        user: 'system:serviceaccount:monitoring:kube-rbac-proxy',
        ua: 'kube-rbac-proxy/v0.18.1 (linux/amd64) kubernetes/$Format',
        ref: { resource: res, apiGroup: group, apiVersion: 'v1' },
        code: 201,
        req: { kind, apiVersion: `${group}/v1`, metadata: { creationTimestamp: null }, spec, status: {} },
        resp: {
          kind,
          apiVersion: `${group}/v1`,
          metadata: {
            creationTimestamp: null,
            managedFields: [
              {
                manager: 'kube-rbac-proxy',
                operation: 'Update',
                apiVersion: `${group}/v1`,
                time: ts(t),
                fieldsType: 'FieldsV1',
                fieldsV1: { 'f:spec': { 'f:resourceAttributes': { '.': {}, 'f:namespace': {}, 'f:resource': {}, 'f:verb': {} }, 'f:user': {} } },
              },
            ],
          },
          spec,
          status: sar
            ? { allowed: true, reason: 'RBAC: allowed by RoleBinding' }
            : {
                authenticated: true,
                user: { username: `system:serviceaccount:${ns}:${app}`, uid: uid(), groups: ['system:serviceaccounts', 'system:authenticated'] },
                audiences: ['https://kubernetes.default.svc'],
              },
        },
      });
    } else if (r < 91) {
      const d = deployment(ns, app);
      await emit({
        level: 'RequestResponse',
        verb: 'update',
        uri: `/apis/apps/v1/namespaces/${ns}/deployments/${app}/status`,
        user: 'system:serviceaccount:kube-system:deployment-controller',
        ua: KUBE_UA('kube-controller-manager') + '/system:serviceaccount:kube-system:deployment-controller',
        ref: { resource: 'deployments', namespace: ns, name: app, apiGroup: 'apps', apiVersion: 'v1', subresource: 'status' },
        code: 200,
        req: d,
        resp: d,
      });
    } else if (r < 95) {
      const code = rnd() < 0.9 ? 200 : 404;
      await emit({
        level: 'RequestResponse',
        verb: 'delete',
        uri: `/api/v1/namespaces/${ns}/pods/${pod}`,
        user: 'system:serviceaccount:kube-system:replicaset-controller',
        ua: KUBE_UA('kube-controller-manager') + '/system:serviceaccount:kube-system:replicaset-controller',
        ref: { resource: 'pods', namespace: ns, name: pod, apiVersion: 'v1' },
        code,
        req: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
        resp:
          code === 200
            ? {
                kind: 'Pod',
                apiVersion: 'v1',
                metadata: { name: pod, namespace: ns, uid: uid(), deletionTimestamp: ts(t + 30000), deletionGracePeriodSeconds: 30, labels: { app } },
              }
            : undefined,
      });
    } else {
      const who = pick(PEOPLE);
      await emit({
        level: 'Metadata',
        verb: rnd() < 0.5 ? 'get' : 'list',
        uri: `/api/v1/namespaces/${ns}/pods?limit=500`,
        user: who,
        groups: ['developers', 'system:authenticated'],
        ua: 'kubectl/v1.36.3 (linux/amd64) kubernetes/6a7c1b2',
        ref: { resource: 'pods', namespace: ns, apiVersion: 'v1' },
        code: 200,
      });
    }
  };

  const helmActivity = async (n: number) => {
    if (n % 5 === 4) {
      // A namespace deletion that completes: user DELETE, namespace controller cleans up, finalizes, deletes.
      const ns = `tmp-${hex(6)}`;
      res.namespaceDeletions++;
      await emit({
        level: 'RequestResponse',
        verb: 'delete',
        uri: `/api/v1/namespaces/${ns}`,
        user: pick(PEOPLE),
        ua: 'kubectl/v1.36.3 (linux/amd64) kubernetes/6a7c1b2',
        ref: { resource: 'namespaces', namespace: ns, name: ns, apiVersion: 'v1' },
        code: 200,
        resp: {
          kind: 'Namespace',
          apiVersion: 'v1',
          metadata: { name: ns, uid: uid(), deletionTimestamp: ts(t) },
          spec: { finalizers: ['kubernetes'] },
          status: { phase: 'Terminating' },
        },
      });
      const nc = {
        user: 'system:serviceaccount:kube-system:namespace-controller',
        ua: KUBE_UA('kube-controller-manager') + '/system:serviceaccount:kube-system:namespace-controller',
      };
      for (const res2 of ['configmaps', 'secrets', 'serviceaccounts']) {
        await emit({
          level: 'Metadata',
          verb: 'deletecollection',
          uri: `/api/v1/namespaces/${ns}/${res2}`,
          ...nc,
          ref: { resource: res2, namespace: ns, apiVersion: 'v1' },
          code: 200,
        });
      }
      await emit({
        level: 'Metadata',
        verb: 'update',
        uri: `/api/v1/namespaces/${ns}/finalize`,
        ...nc,
        ref: { resource: 'namespaces', namespace: ns, name: ns, apiVersion: 'v1', subresource: 'finalize' },
        code: 200,
      });
      await emit({
        level: 'Metadata',
        verb: 'delete',
        uri: `/api/v1/namespaces/${ns}`,
        ...nc,
        ref: { resource: 'namespaces', namespace: ns, name: ns, apiVersion: 'v1' },
        code: 200,
      });
      return;
    }
    const misdirected = n % 8 === 7;
    const ns = misdirected ? `apps-${hex(4)}` : pick(NAMESPACES.slice(2));
    const rel = `${pick(['redis', 'nginx', 'kafka', 'grafana', 'loki'])}-${hex(4)}`;
    const actor = misdirected
      ? { user: 'system:serviceaccount:platform:release-bot', ua: 'release-bot/v0.0.0 (linux/amd64) kubernetes/$Format' }
      : { user: pick(PEOPLE), ua: 'Helm/3.21.4' };
    const target = misdirected ? 'default' : ns;
    const rec = (v: number) => `sh.helm.release.v1.${rel}.v${v}`;
    await emit({
      level: 'Metadata',
      verb: 'list',
      uri: `/api/v1/namespaces/${ns}/secrets?labelSelector=name%3D${rel}%2Cowner%3Dhelm`,
      ...actor,
      ref: { resource: 'secrets', namespace: ns, apiVersion: 'v1' },
      code: 200,
    });
    await emit({
      level: 'Metadata',
      verb: 'update',
      uri: `/api/v1/namespaces/${ns}/secrets/${rec(2)}`,
      ...actor,
      ref: { resource: 'secrets', namespace: ns, name: rec(2), apiVersion: 'v1' },
      code: 200,
    });
    for (const [res2, group, path] of [
      ['services', '', '/api/v1'],
      ['deployments', 'apps', '/apis/apps/v1'],
      ['configmaps', '', '/api/v1'],
    ] as const) {
      await emit({
        level: 'RequestResponse',
        verb: 'delete',
        uri: `${path}/namespaces/${target}/${res2}/${rel}`,
        ...actor,
        ref: { resource: res2, namespace: target, name: rel, apiVersion: 'v1', ...(group ? { apiGroup: group } : {}) },
        code: misdirected ? 404 : 200,
        req: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
      });
      for (let i = 0; i < 3; i++) await background();
    }
    for (const v of [1, 2]) {
      await emit({
        level: 'Metadata',
        verb: 'get',
        uri: `/api/v1/namespaces/${ns}/secrets/${rec(v)}`,
        ...actor,
        ref: { resource: 'secrets', namespace: ns, name: rec(v), apiVersion: 'v1' },
        code: 200,
      });
      await emit({
        level: 'Metadata',
        verb: 'delete',
        uri: `/api/v1/namespaces/${ns}/secrets/${rec(v)}`,
        ...actor,
        ref: { resource: 'secrets', namespace: ns, name: rec(v), apiVersion: 'v1' },
        code: 200,
      });
    }
    if (misdirected) res.misdirected++;
    else res.correctUninstalls++;
  };

  const helmEvery = o.helmEvery ?? 2000;
  let n = 0;
  let helm = 0;
  while (bytes < target) {
    await background();
    if (++n % helmEvery === 0) await helmActivity(helm++);
    t += Math.floor(rnd() * 4);
  }
  if (buf.length > 0) out.write(buf.join('\n') + '\n');
  out.end();
  await once(out, 'finish');
  return { ...res, bytes, lines, events };
}
