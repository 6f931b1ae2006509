// GKE's Kubernetes audit log: Cloud Logging entries (LogEntry) whose protoPayload is a
// google.cloud.audit.AuditLog with serviceName "k8s.io". GKE writes each kube-apiserver audit
// event as one such entry (src/audit/README.md, "Managed clusters"); this reads one back into the
// audit.k8s.io/v1 Event the rest of the review takes. The mapping:
//   methodName   io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>  -> verb, subresource
//   resourceName <group|core>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
//                -> objectRef (apiGroup "" for core), requestURI
//   authenticationInfo.principalEmail -> user.username; requestMetadata.callerSuppliedUserAgent
//   -> userAgent; callerIp -> sourceIPs; timestamp -> requestReceivedTimestamp and stageTimestamp;
//   operation.id -> auditID; labels -> annotations (GKE puts the event's annotations there:
//   authorization.k8s.io/decision, the guard's verdicts, failed-open.validating...);
//   request / response -> requestObject / responseObject (their "@type" dropped);
//   response.code of a Status, else status.code (a google.rpc.Code) -> responseStatus.code by the
//   HTTP mapping google/rpc/code.proto documents for each code.
import type { AuditEventV1, AuditLevel } from './event.ts';

/** google.rpc.Code -> HTTP status, as google/rpc/code.proto documents each code's "HTTP Mapping". */
const RPC_TO_HTTP: Record<number, number> = {
  0: 200,
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};

export const GOOGLE_CLOUD_AUDIT_VIA = 'protoPayload (Google Cloud audit entry)';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The AuditLog payload of a Cloud Logging entry, when it is one. */
export function auditLogPayload(v: unknown): Record<string, unknown> | undefined {
  if (!isObject(v)) return undefined;
  const p = v['protoPayload'];
  return isObject(p) && String(p['@type'] ?? '').endsWith('google.cloud.audit.AuditLog') ? p : undefined;
}

/** A body without the "@type" Cloud Logging adds (core.k8s.io/v1.Pod, ...). */
function body(v: unknown): Record<string, unknown> | undefined {
  if (!isObject(v)) return undefined;
  const { ['@type']: _type, ...rest } = v;
  return rest;
}

interface ParsedResource {
  apiGroup: string;
  apiVersion: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  requestURI: string;
  verb: string;
}

/**
 * Reads methodName and resourceName together: resourceName alone is ambiguous for namespaces
 * (`core/v1/namespaces/a/finalize` is namespace a's subresource, `core/v1/namespaces/a/pods` a
 * collection in it); methodName names the resource and subresource after the version.
 */
export function parseKubernetesOperation(methodName: string, resourceName: string): ParsedResource | undefined {
  const segs = resourceName.split('/');
  if (segs.length < 3 || segs.some((s) => s === '')) return undefined;
  const group = segs[0] as string;
  const version = segs[1] as string;
  const rest = segs.slice(2);
  const marker = `.${version}.`;
  const at = methodName.lastIndexOf(marker);
  if (at < 0) return undefined;
  const tail = methodName.slice(at + marker.length).split('.');
  const verb = tail.pop();
  const resource = tail[0];
  if (!verb || !resource) return undefined;
  const out: ParsedResource = {
    apiGroup: group === 'core' ? '' : group,
    apiVersion: version,
    resource,
    requestURI: `${group === 'core' ? '/api' : `/apis/${group}`}/${version}/${rest.join('/')}`,
    verb,
  };
  if (tail[1]) out.subresource = tail[1];
  if (resource === 'namespaces' && rest[0] === 'namespaces') {
    if (rest[1]) out.name = rest[1];
  } else if (rest[0] === 'namespaces' && rest[2] === resource) {
    out.namespace = rest[1] as string;
    if (rest[3]) out.name = rest[3];
  } else if (rest[0] === resource) {
    if (rest[1]) out.name = rest[1];
  } else return undefined;
  return out;
}

function responseCode(payload: Record<string, unknown>): number {
  const response = payload['response'];
  if (isObject(response) && response['kind'] === 'Status' && typeof response['code'] === 'number') return response['code'];
  const status = payload['status'];
  const rpc = isObject(status) && typeof status['code'] === 'number' ? status['code'] : 0;
  return RPC_TO_HTTP[rpc] ?? 500;
}

/**
 * The audit.k8s.io/v1 Event a GKE Kubernetes audit entry records, or undefined when the entry is
 * not one (another Google Cloud service, a malformed method or resource name).
 */
export function fromGoogleCloudAuditEntry(entry: unknown): AuditEventV1 | undefined {
  const payload = auditLogPayload(entry);
  if (!payload || !isObject(entry) || payload['serviceName'] !== 'k8s.io') return undefined;
  const methodName = str(payload['methodName']);
  const resourceName = str(payload['resourceName']);
  const timestamp = str(entry['timestamp']);
  if (!methodName || !resourceName || !timestamp) return undefined;
  const op = parseKubernetesOperation(methodName, resourceName);
  if (!op) return undefined;
  const auth = isObject(payload['authenticationInfo']) ? payload['authenticationInfo'] : {};
  const meta = isObject(payload['requestMetadata']) ? payload['requestMetadata'] : {};
  const operation = isObject(entry['operation']) ? entry['operation'] : {};
  const request = body(payload['request']);
  const response = body(payload['response']);
  const level: AuditLevel = response ? 'RequestResponse' : request ? 'Request' : 'Metadata';
  const annotations: Record<string, string> = {};
  if (isObject(entry['labels'])) for (const [k, v] of Object.entries(entry['labels'])) if (typeof v === 'string') annotations[k] = v;
  const objectRef: NonNullable<AuditEventV1['objectRef']> = { resource: op.resource, apiGroup: op.apiGroup, apiVersion: op.apiVersion };
  if (op.namespace) objectRef.namespace = op.namespace;
  if (op.name) objectRef.name = op.name;
  if (op.subresource) objectRef.subresource = op.subresource;
  const ev: AuditEventV1 = {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Event',
    level,
    auditID: str(operation['id']) ?? str(entry['insertId']) ?? '',
    // A long-running request (watch, exec) is logged as a first and a last entry; only the last
    // has the outcome, as an event's ResponseComplete stage does.
    stage: operation['last'] === false ? 'ResponseStarted' : 'ResponseComplete',
    requestURI: op.requestURI,
    verb: op.verb,
    user: { username: str(auth['principalEmail']) ?? '' },
    objectRef,
    responseStatus: { code: responseCode(payload) },
    requestReceivedTimestamp: timestamp,
    stageTimestamp: timestamp,
  };
  const ua = str(meta['callerSuppliedUserAgent']);
  if (ua) ev.userAgent = ua;
  const ip = str(meta['callerIp']);
  if (ip) ev.sourceIPs = [ip];
  if (request) ev.requestObject = request;
  if (response) ev.responseObject = response;
  if (Object.keys(annotations).length > 0) ev.annotations = annotations;
  return ev;
}
