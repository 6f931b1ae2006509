// audit.k8s.io/v1 Event, as kube-apiserver writes it (log backend: one JSON object per line;
// webhook backend: an EventList per request), and the small normalized record the correlator
// works on. Field names and meanings follow the audit.k8s.io/v1 reference; only what the
// review reads is typed, everything else stays unknown.

export type AuditLevel = 'None' | 'Metadata' | 'Request' | 'RequestResponse';
export type AuditStage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';

/** authentication.k8s.io/v1 UserInfo. */
export interface AuditUserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** audit.k8s.io/v1 ObjectReference. */
export interface AuditObjectRef {
  resource?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiGroup?: string;
  apiVersion?: string;
  resourceVersion?: string;
  subresource?: string;
}

/** audit.k8s.io/v1 Event (the fields the review reads). */
export interface AuditEventV1 {
  apiVersion: string;
  kind: 'Event';
  level: AuditLevel;
  auditID: string;
  stage: AuditStage;
  requestURI: string;
  verb: string;
  user: AuditUserInfo;
  impersonatedUser?: AuditUserInfo;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: AuditObjectRef;
  responseStatus?: { code?: number; status?: string; reason?: string; message?: string };
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  /** audit.k8s.io/v1beta1 as Kubernetes 1.8-1.9 wrote it: the only time (seconds), no userAgent. */
  timestamp?: string;
  annotations?: Record<string, string>;
}

/** Helm ownership of a live object, from its meta.helm.sh annotations (Helm >= 3.2). */
export interface HelmOwner {
  releaseName: string;
  releaseNamespace: string;
}

/** What the correlator keeps of one event: small, flat, no request or response bodies. */
export interface AuditRecord {
  auditID: string;
  /** eventTimestamp(): requestReceivedTimestamp, else stageTimestamp, else timestamp; ms since the epoch. */
  time: number;
  /** The timestamp as logged, for evidence lines. */
  timestamp: string;
  verb: string;
  requestURI: string;
  /** Authenticated user name. */
  user: string;
  /** Impersonated user name, when the request was impersonated. */
  impersonatedUser?: string;
  userAgent: string;
  level: string;
  resource?: string;
  subresource?: string;
  apiGroup?: string;
  namespace?: string;
  name?: string;
  /** HTTP status of the response; 0 when the event carries none. */
  code: number;
  annotations?: Record<string, string>;
  /** Helm ownership of the object, when a logged body (request or response) shows it. */
  owner?: HelmOwner;
  /** Label `status` of a release record in a logged body (Request level or higher). */
  recordStatus?: string;
  /** The object's labels, when a logged body shows them (a controller Deployment's selector labels). */
  labels?: Record<string, string>;
  /** `labelSelector` query parameter of list/watch/deletecollection requests. */
  labelSelector?: string;
  /**
   * Objects a logged body shows being deleted (deletionTimestamp set) but held by finalizers:
   * the object itself, or the items of a list response (e.g. the namespace controller's
   * list of CSVs at RequestResponse level). At most 20.
   */
  finalizing?: Array<{ name: string; finalizers: string[] }>;
}

export const AUDIT_API_VERSION = 'audit.k8s.io/v1';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `v` has the shape of an audit.k8s.io Event (required fields present and typed). */
export function isAuditEvent(v: unknown): v is AuditEventV1 {
  if (!isObject(v)) return false;
  return v['kind'] === 'Event' && typeof v['apiVersion'] === 'string' && v['apiVersion'].startsWith('audit.k8s.io/') && hasEventFields(v);
}

const EVENT_FIELDS = [
  ['auditID', 'string'],
  ['verb', 'string'],
  ['stage', 'string'],
  ['requestURI', 'string'],
  ['user', 'object'],
] as const;

/**
 * Why `v` is not an EventList item, or undefined when it is. The reason names types and field
 * names only, never values: an item may carry request bodies (Secrets), so it is safe to log.
 */
export function eventListItemProblem(v: unknown): string | undefined {
  if (!isObject(v)) return `an item is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}, not an object`;
  const kind = v['kind'];
  const apiVersion = v['apiVersion'];
  if (kind !== undefined && kind !== 'Event')
    return typeof kind === 'string' && /^[A-Za-z]{1,63}$/.test(kind) ? `kind ${kind}, not Event` : 'kind is not Event';
  if (apiVersion !== undefined && !(typeof apiVersion === 'string' && apiVersion.startsWith('audit.k8s.io/'))) return 'apiVersion is not audit.k8s.io/*';
  const missing = EVENT_FIELDS.filter(([f, type]) => (type === 'object' ? !isObject(v[f]) : typeof v[f] !== type)).map(([f]) => f);
  return missing.length ? `missing or mistyped: ${missing.join(', ')}` : undefined;
}

function hasEventFields(v: Record<string, unknown>): boolean {
  return EVENT_FIELDS.every(([f, type]) => (type === 'object' ? isObject(v[f]) : typeof v[f] === type));
}

export function isAuditEventList(v: unknown): v is { kind: 'EventList'; apiVersion: string; items: unknown[] } {
  return (
    isObject(v) && v['kind'] === 'EventList' && typeof v['apiVersion'] === 'string' && v['apiVersion'].startsWith('audit.k8s.io/') && Array.isArray(v['items'])
  );
}

/** A short description of a JSON value that is not an audit event, for error messages. */
export function describeNonEvent(v: unknown): string {
  if (Array.isArray(v)) return 'a JSON array';
  if (!isObject(v)) return `a JSON ${v === null ? 'null' : typeof v}`;
  const kind = typeof v['kind'] === 'string' ? v['kind'] : undefined;
  const apiVersion = typeof v['apiVersion'] === 'string' ? v['apiVersion'] : undefined;
  if (kind || apiVersion) return `a JSON object of kind ${kind ?? '?'} (${apiVersion ?? 'no apiVersion'})`;
  return 'a JSON object that is not an audit.k8s.io Event';
}

/** Parses an RFC 3339 (micro)timestamp; NaN when absent, not a string, or invalid. */
export function parseTime(ts: unknown): number {
  if (typeof ts !== 'string' || ts === '') return Number.NaN;
  return Date.parse(ts);
}

/** The value when it is a string: event fields are unvalidated JSON whatever their declared type. */
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Only the string-valued entries of an object (annotations, labels). */
function stringEntries(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/**
 * Stages the review reads. An event is logged once per stage; ResponseComplete (or Panic)
 * carries the response code, RequestReceived and ResponseStarted would count a request twice.
 */
export function isFinalStage(stage: string): boolean {
  return stage === 'ResponseComplete' || stage === 'Panic';
}

function metaOf(body: unknown): Record<string, unknown> | undefined {
  if (!isObject(body)) return undefined;
  const m = body['metadata'];
  return isObject(m) ? m : undefined;
}

function stringMap(v: unknown): Record<string, string> | undefined {
  return isObject(v) ? (v as Record<string, string>) : undefined;
}

const RELEASE_NAME_ANNOTATION = 'meta.helm.sh/release-name';
const RELEASE_NAMESPACE_ANNOTATION = 'meta.helm.sh/release-namespace';

function ownerOf(meta: Record<string, unknown> | undefined): HelmOwner | undefined {
  const ann = stringMap(meta?.['annotations']);
  const releaseName = ann?.[RELEASE_NAME_ANNOTATION];
  const releaseNamespace = ann?.[RELEASE_NAMESPACE_ANNOTATION];
  if (typeof releaseName === 'string' && typeof releaseNamespace === 'string') return { releaseName, releaseNamespace };
  return undefined;
}

/** The `labelSelector` query parameter of a request URI, decoded. */
export function labelSelectorOf(requestURI: string): string | undefined {
  const q = requestURI.indexOf('?');
  if (q < 0) return undefined;
  const params = new URLSearchParams(requestURI.slice(q + 1));
  return params.get('labelSelector') ?? undefined;
}

/** The time an event was received, as logged: requestReceivedTimestamp, else stageTimestamp, else v1beta1's timestamp. */
export function eventTimestamp(ev: AuditEventV1): string {
  return str(ev.requestReceivedTimestamp) ?? str(ev.stageTimestamp) ?? str(ev.timestamp) ?? '';
}

/**
 * Normalizes one event. Returns undefined for stages the review does not read (see
 * isFinalStage) and for events without a usable timestamp.
 */
export function toRecord(ev: AuditEventV1): AuditRecord | undefined {
  if (!isFinalStage(ev.stage)) return undefined;
  const timestamp = eventTimestamp(ev);
  const time = parseTime(timestamp);
  if (Number.isNaN(time)) return undefined;
  const ref: Record<string, unknown> | undefined = isObject(ev.objectRef) ? (ev.objectRef as unknown as Record<string, unknown>) : undefined;
  const status: Record<string, unknown> | undefined = isObject(ev.responseStatus) ? (ev.responseStatus as unknown as Record<string, unknown>) : undefined;
  const rec: AuditRecord = {
    auditID: ev.auditID,
    time,
    timestamp,
    verb: ev.verb,
    requestURI: ev.requestURI,
    user: str(ev.user.username) ?? '',
    userAgent: str(ev.userAgent) ?? '',
    level: (str(ev.level) ?? 'Metadata') as AuditLevel,
    code: typeof status?.['code'] === 'number' ? status['code'] : 0,
  };
  const impersonated = isObject(ev.impersonatedUser) ? str((ev.impersonatedUser as unknown as Record<string, unknown>)['username']) : undefined;
  if (impersonated) rec.impersonatedUser = impersonated;
  if (ref) {
    const resource = str(ref['resource']);
    const subresource = str(ref['subresource']);
    const apiGroup = str(ref['apiGroup']);
    const namespace = str(ref['namespace']);
    const name = str(ref['name']);
    if (resource) rec.resource = resource;
    if (subresource) rec.subresource = subresource;
    if (apiGroup) rec.apiGroup = apiGroup;
    if (namespace) rec.namespace = namespace;
    if (name) rec.name = name;
  }
  const annotations = stringEntries(ev.annotations);
  if (annotations && Object.keys(annotations).length > 0) rec.annotations = annotations;
  // Bodies: only at Request/RequestResponse level, never for Secrets logged at Metadata level.
  const respMeta = metaOf(ev.responseObject);
  const reqMeta = metaOf(ev.requestObject);
  const owner = ownerOf(respMeta) ?? ownerOf(reqMeta);
  if (owner) rec.owner = owner;
  const labels = stringMap(respMeta?.['labels']) ?? stringMap(reqMeta?.['labels']);
  if (labels && labels['owner'] === 'helm' && typeof labels['status'] === 'string') rec.recordStatus = labels['status'];
  if (labels && rec.resource === 'deployments') rec.labels = { ...labels };
  const finalizing = finalizingObjects(ev.responseObject);
  if (finalizing.length > 0) rec.finalizing = finalizing;
  if (ev.verb === 'list' || ev.verb === 'watch' || ev.verb === 'deletecollection') {
    const sel = labelSelectorOf(ev.requestURI);
    if (sel) rec.labelSelector = sel;
  }
  return rec;
}

const MAX_FINALIZING = 20;

function finalizingObjects(body: unknown): Array<{ name: string; finalizers: string[] }> {
  if (!isObject(body)) return [];
  const items = Array.isArray(body['items']) ? (body['items'] as unknown[]) : [body];
  const out: Array<{ name: string; finalizers: string[] }> = [];
  for (const item of items) {
    const m = metaOf(item);
    if (!m || typeof m['deletionTimestamp'] !== 'string' || typeof m['name'] !== 'string') continue;
    const fin = Array.isArray(m['finalizers']) ? m['finalizers'].filter((f): f is string => typeof f === 'string') : [];
    if (fin.length === 0) continue;
    out.push({ name: m['name'], finalizers: fin });
    if (out.length >= MAX_FINALIZING) break;
  }
  return out;
}

/** The user a request acted as: the impersonated user when there is one. */
export function actingUser(r: AuditRecord): string {
  return r.impersonatedUser ?? r.user;
}

export type ClientKind = 'helm-cli' | 'helm-sdk' | 'client-go' | 'kubectl' | 'other';

/**
 * `Helm/<version>` is set by Helm's own kube client, so both the CLI and Go programs using the
 * SDK's `cli.New().RESTClientGetter()` send it. A release-built CLI reports its full version
 * (`Helm/3.21.4`); an SDK program reports the library's built-in default, major.minor only
 * (`Helm/3.21`), as the captured fixtures show.
 */
const HELM_UA = /^Helm\/v?\d+\.\d+(\.\d+)?(?:[-+\s]|$)/;
/** client-go's default: `<command>/<version> (<os>/<arch>) kubernetes/<commit>`. */
const CLIENT_GO_UA = /^([^/\s]+)\/(\S+) \(([^/\s)]+)\/([^)\s]+)\) kubernetes\/(\S+)/;

export function classifyUserAgent(ua: string): { kind: ClientKind; program?: string } {
  const h = HELM_UA.exec(ua);
  if (h) return h[1] !== undefined ? { kind: 'helm-cli', program: 'helm' } : { kind: 'helm-sdk' };
  const m = CLIENT_GO_UA.exec(ua);
  if (m && m[1] !== undefined) {
    // kube-controller-manager and friends append "/<controller>" to the default; kubectl names itself.
    if (m[1] === 'kubectl' || m[1].startsWith('kubectl-')) return { kind: 'kubectl', program: 'kubectl' };
    return { kind: 'client-go', program: m[1] };
  }
  return { kind: 'other' };
}
