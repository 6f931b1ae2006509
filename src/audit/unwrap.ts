// Audit events inside other JSON: log shippers (Fluent Bit, Fluentd, Vector, Filebeat, Promtail,
// cloud diagnostic exports) wrap each line of the audit log in their own record, either as a
// string field (`log`, `message`, `properties.log`) holding the event's JSON, or as a decoded
// object (`json`, `_source`). src/audit/README.md ("Formats") lists what is read and what is only
// named. The search is bounded: a few levels deep and a few dozen fields per value.
import { describeNonEvent, isAuditEvent, isAuditEventList } from './event.ts';

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

function searchArray(arr: unknown[], path: string, depth: number, budget: { fields: number }): Unwrapped | undefined {
  const first = arr[0];
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
  return search(v, '', 1, { fields: MAX_FIELDS });
}

/** What a JSON value that holds no audit event is, naming formats users mistake for the audit log. */
export function describeForeign(v: unknown): string {
  if (isObject(v)) {
    const proto = v['protoPayload'];
    if (isObject(proto) && String(proto['@type'] ?? '').includes('google.cloud.audit.AuditLog')) {
      return 'a Google Cloud Logging audit entry (protoPayload AuditLog), not an audit.k8s.io Event; GKE keeps Kubernetes audit logs only in that form, which does not carry what the review needs';
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
