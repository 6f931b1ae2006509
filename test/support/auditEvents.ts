// Builders for audit.k8s.io/v1 Events in unit tests, for the cases no captured fixture covers.
// The shapes follow the captured fixtures in test/fixtures/audit/ field for field (compact Go
// encoding, field order of the Event struct, objectRef as the API server fills it: a namespace's
// own name is its objectRef.namespace too), so the reader's fast path treats them like real lines.
import type { AuditEventV1 } from '../../src/audit/event.ts';

export interface EventSpec {
  verb: string;
  uri: string;
  user?: string;
  groups?: string[];
  ua?: string;
  code?: number;
  /** ms since the epoch, or an RFC 3339 string */
  at: number | string;
  level?: 'Metadata' | 'Request' | 'RequestResponse';
  stage?: 'RequestReceived' | 'ResponseComplete';
  requestObject?: unknown;
  responseObject?: unknown;
  annotations?: Record<string, string>;
  impersonate?: string;
}

export const HELM3_UA = 'Helm/3.21.4';
export const HELM4_UA = 'Helm/4.3.1';
/** A Go program with its own REST client config: client-go's default user agent. */
export const SDK_UA = 'helm-sdk-uninstall-0123456789ab/v0.0.0 (linux/amd64) kubernetes/$Format';
/** A Go program using the SDK's cli.New().RESTClientGetter(): Helm's kube client, built-in version. */
export const HELM_SDK_UA = 'Helm/3.21';
export const KUBECTL_UA = 'kubectl/v1.36.3 (linux/amd64) kubernetes/0123456';
export const NS_CONTROLLER = 'system:serviceaccount:kube-system:namespace-controller';
export const NS_CONTROLLER_UA = 'kube-controller-manager/v1.36.3 (linux/amd64) kubernetes/0123456/system:serviceaccount:kube-system:namespace-controller';

let counter = 0;

/** The objectRef kube-apiserver derives from a request path (RequestInfo), for the paths tests use. */
export function objectRefOf(uri: string): Record<string, string> | undefined {
  const path = uri.split('?')[0] ?? '';
  const parts = path.split('/').filter((p) => p !== '');
  let apiGroup = '';
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === 'api') {
    apiVersion = parts[1] ?? 'v1';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    apiGroup = parts[1] ?? '';
    apiVersion = parts[2] ?? 'v1';
    rest = parts.slice(3);
  } else return undefined;
  const ref: Record<string, string> = {};
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    ref['namespace'] = rest[1] as string;
    if (rest.length === 2 || rest[2] === 'finalize' || rest[2] === 'status') {
      ref['resource'] = 'namespaces';
      ref['name'] = rest[1] as string;
      if (rest[2]) ref['subresource'] = rest[2];
    } else {
      ref['resource'] = rest[2] as string;
      if (rest[3]) ref['name'] = rest[3];
      if (rest[4]) ref['subresource'] = rest[4];
    }
  } else {
    ref['resource'] = rest[0] ?? '';
    if (rest[1]) ref['name'] = rest[1];
    if (rest[2]) ref['subresource'] = rest[2];
  }
  const out: Record<string, string> = { resource: ref['resource'] as string };
  if (ref['namespace']) out['namespace'] = ref['namespace'];
  if (ref['name']) out['name'] = ref['name'];
  if (apiGroup) out['apiGroup'] = apiGroup;
  out['apiVersion'] = apiVersion;
  if (ref['subresource']) out['subresource'] = ref['subresource'];
  return out;
}

function micro(at: number | string): string {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  return new Date(ms).toISOString().replace('Z', '000Z');
}

export function auditEvent(s: EventSpec): AuditEventV1 {
  counter++;
  const ts = micro(s.at);
  const code = s.code ?? 200;
  const ev: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: s.level ?? 'Metadata',
    auditID: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    stage: s.stage ?? 'ResponseComplete',
    requestURI: s.uri,
    verb: s.verb,
    user: { username: s.user ?? 'admin', groups: s.groups ?? ['system:masters', 'system:authenticated'] },
  };
  if (s.impersonate) ev['impersonatedUser'] = { username: s.impersonate, groups: ['system:authenticated'] };
  ev['sourceIPs'] = ['127.0.0.1'];
  ev['userAgent'] = s.ua ?? KUBECTL_UA;
  const ref = objectRefOf(s.uri);
  if (ref) ev['objectRef'] = ref;
  if (s.stage !== 'RequestReceived') {
    ev['responseStatus'] =
      code >= 300
        ? {
            metadata: {},
            status: 'Failure',
            message: `request failed (${code})`,
            reason: code === 404 ? 'NotFound' : code === 409 ? 'Conflict' : code === 403 ? 'Forbidden' : 'Unknown',
            code,
          }
        : { metadata: {}, code };
  }
  if (s.requestObject !== undefined) ev['requestObject'] = s.requestObject;
  if (s.responseObject !== undefined) ev['responseObject'] = s.responseObject;
  ev['requestReceivedTimestamp'] = ts;
  ev['stageTimestamp'] = ts;
  ev['annotations'] = { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '', ...s.annotations };
  return ev as unknown as AuditEventV1;
}

export function toJsonLines(events: AuditEventV1[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** A Helm uninstall as the storage driver and kube client issue it (src/ARCHITECTURE.md §1B). */
export function helmUninstall(o: {
  releaseNamespace: string;
  release: string;
  /** Namespace the DELETEs go to (the release namespace unless misdirected). */
  deleteNamespace?: string;
  ua?: string;
  user?: string;
  start: number;
  versions?: number[];
  /** HTTP code of each resource DELETE. */
  deleteCode?: number;
  keepHistory?: boolean;
  resources?: Array<{ path: string; resource: string; name: string }>;
  driver?: 'secrets' | 'configmaps';
}): AuditEventV1[] {
  const ua = o.ua ?? HELM3_UA;
  const user = o.user ?? 'admin';
  const driver = o.driver ?? 'secrets';
  const ns = o.releaseNamespace;
  const target = o.deleteNamespace ?? ns;
  const versions = o.versions ?? [1];
  const latest = versions[versions.length - 1] ?? 1;
  const rec = (v: number) => `sh.helm.release.v1.${o.release}.v${v}`;
  const resources = o.resources ?? [
    { path: '/api/v1', resource: 'services', name: `${o.release}-web` },
    { path: '/apis/apps/v1', resource: 'deployments', name: `${o.release}-web` },
    { path: '/api/v1', resource: 'configmaps', name: `${o.release}-config` },
  ];
  let t = o.start;
  const next = () => (t += 7);
  const out: AuditEventV1[] = [];
  out.push(auditEvent({ verb: 'list', uri: `/api/v1/namespaces/${ns}/${driver}?labelSelector=name%3D${o.release}%2Cowner%3Dhelm`, ua, user, at: next() }));
  out.push(auditEvent({ verb: 'update', uri: `/api/v1/namespaces/${ns}/${driver}/${rec(latest)}`, ua, user, at: next() }));
  for (const r of resources) {
    out.push(
      auditEvent({
        verb: 'delete',
        uri: `${r.path}/namespaces/${target}/${r.resource}/${r.name}`,
        ua,
        user,
        at: next(),
        code: o.deleteCode ?? 200,
        level: 'RequestResponse',
        requestObject: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
      }),
    );
  }
  if (o.keepHistory) {
    out.push(auditEvent({ verb: 'update', uri: `/api/v1/namespaces/${ns}/${driver}/${rec(latest)}`, ua, user, at: next() }));
  } else {
    for (const v of versions) {
      out.push(auditEvent({ verb: 'get', uri: `/api/v1/namespaces/${ns}/${driver}/${rec(v)}`, ua, user, at: next() }));
      out.push(auditEvent({ verb: 'delete', uri: `/api/v1/namespaces/${ns}/${driver}/${rec(v)}`, ua, user, at: next() }));
    }
  }
  return out;
}
