// Audit events inside other JSON: log shippers (Fluent Bit, Fluentd, Vector, Filebeat, Promtail,
// cloud diagnostic exports) wrap each line of the audit log in their own record, either as a
// string field (`log`, `message`, `properties.log`) holding the event's JSON, or as a decoded
// object (`json`, `_source`). GKE's Cloud Logging entries carry the event re-encoded as an
// AuditLog (googleCloudAuditEntry.ts). src/audit/README.md ("Formats") lists what is read and
// what is only named. The search is bounded: a few levels deep and a few dozen fields per value.
import { describeNonEvent, isAuditEvent, isAuditEventList } from './event.ts';
import { auditLogPayload, fromGoogleCloudAuditEntry, GOOGLE_CLOUD_AUDIT_VIA } from './googleCloudAuditEntry.ts';

export interface Unwrapped {
  /** Audit events (and, for lists, items that claimed to be events). */
  events: unknown[];
  /** Where they were: `.log`, `.properties.log`, `.events[].message`, ... */
  via: string;
}

const MAX_DEPTH = 3;
const MAX_FIELDS = 64;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string field that may hold an event's JSON: cheap checks before JSON.parse. */
function parseEmbedded(s: string): unknown {
  const t = s.trimStart();
  if (t[0] !== '{' || !t.includes('audit.k8s.io/')) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}

/** Events directly in `v` (an Event, an EventList, or a string holding either). */
function direct(v: unknown): unknown[] | undefined {
  const value = typeof v === 'string' ? parseEmbedded(v) : v;
  if (isAuditEvent(value)) return [value];
  if (isAuditEventList(value)) return value.items;
  return undefined;
}

/** A GKE audit entry read as its event (entries in a list: the Logging API's `entries`). */
function googleEntry(v: unknown): unknown[] | undefined {
  const ev = fromGoogleCloudAuditEntry(v);
  return ev ? [ev] : undefined;
}

function searchArray(arr: unknown[], path: string, depth: number, budget: { fields: number }): Unwrapped | undefined {
  const first = arr[0];
  if (googleEntry(first)) return { events: arr.flatMap((x) => googleEntry(x) ?? [x]), via: `${path}[] ${GOOGLE_CLOUD_AUDIT_VIA}` };
  const d = direct(first);
  if (d) return { events: arr.flatMap((x) => direct(x) ?? [x]), via: `${path}[]` };
  if (!isObject(first)) return undefined;
  const inner = search(first, `${path}[]`, depth + 1, budget);
  if (!inner) return undefined;
  const events: unknown[] = [];
  for (const item of arr) events.push(...(isObject(item) ? (search(item, `${path}[]`, depth + 1, { fields: MAX_FIELDS })?.events ?? [item]) : [item]));
  return { events, via: inner.via };
}

function search(o: Record<string, unknown>, path: string, depth: number, budget: { fields: number }): Unwrapped | undefined {
  if (depth > MAX_DEPTH) return undefined;
  const nested: Array<[string, Record<string, unknown> | unknown[]]> = [];
  for (const [k, v] of Object.entries(o)) {
    if (--budget.fields < 0) return undefined;
    const here = `${path}.${k}`;
    const d = direct(v);
    if (d) return { events: d, via: here };
    if (isObject(v) || Array.isArray(v)) nested.push([here, v]);
  }
  for (const [here, v] of nested) {
    const found = Array.isArray(v) ? searchArray(v, here, depth, budget) : search(v, here, depth + 1, budget);
    if (found) return found;
  }
  return undefined;
}

/** The audit events a log shipper's record carries, or undefined when it carries none. */
export function unwrapEvents(v: unknown): Unwrapped | undefined {
  if (Array.isArray(v)) return searchArray(v, '', 0, { fields: MAX_FIELDS });
  if (!isObject(v)) return undefined;
  const gke = googleEntry(v);
  if (gke) return { events: gke, via: GOOGLE_CLOUD_AUDIT_VIA };
  // CloudWatch Logs checks a subscription's destination with a record that holds no log event.
  if (v['messageType'] === 'CONTROL_MESSAGE' && Array.isArray(v['logEvents'])) return { events: [], via: '.logEvents[].message' };
  return search(v, '', 1, { fields: MAX_FIELDS });
}

/** What a JSON value that holds no audit event is, naming formats users mistake for the audit log. */
export function describeForeign(v: unknown): string {
  if (isObject(v)) {
    const proto = auditLogPayload(v);
    if (proto) {
      const service = typeof proto['serviceName'] === 'string' ? proto['serviceName'].slice(0, 64) : '?';
      const method = typeof proto['methodName'] === 'string' ? proto['methodName'].slice(0, 100) : '?';
      return service === 'k8s.io'
        ? `a GKE Kubernetes audit entry whose methodName (${method}) and resourceName could not be read as a Kubernetes request`
        : `a Google Cloud audit entry of service ${service} (${method}), not a Kubernetes API request; GKE's Kubernetes audit entries have protoPayload.serviceName k8s.io`;
    }
    if (v['kind'] === 'Event' && (v['apiVersion'] === 'v1' || v['apiVersion'] === 'events.k8s.io/v1')) {
      return `a Kubernetes Event object (${String(v['apiVersion'])}, as \`kubectl get events -o json\` prints), not an audit event; review the API server's --audit-log-path file`;
    }
    if (v['kind'] === 'Policy' && typeof v['apiVersion'] === 'string' && v['apiVersion'].startsWith('audit.k8s.io/')) {
      return 'an audit policy (kind Policy), not an audit log; review the file the API server writes to --audit-log-path';
    }
  }
  return describeNonEvent(v);
}

/** What a line that is not JSON is, when it is something recognisable. */
export function describeText(line: string): string | undefined {
  if (/^[IWEF]\d{4} \d\d:\d\d:\d\d/.test(line)) return "a klog line (the API server's own log), not an audit event; review the file named by --audit-log-path";
  if (/^(apiVersion|kind):\s*\S/.test(line) || line === '---')
    return "YAML, not JSON; audit events are JSON (convert with yq -o=json -I=0 '.items[] // .' FILE)";
  return undefined;
}
