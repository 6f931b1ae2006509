// What an input was read as, in words a user recognises (the report's `form`): which managed
// cluster's export or which log shipper wrapped the events, from where the reader found them
// (InputStats.wrapped: field paths, or a named form) and how they were framed.
import { GOOGLE_CLOUD_AUDIT_VIA } from './googleCloudAuditEntry.ts';
import type { InputFormat } from './reader.ts';
import { CLOUDWATCH_EXPORT_VIA } from './reader.ts';

/** Wrapper path (or named form) -> what the input is. First match wins, so the specific ones come first. */
const FORMS: Array<[(via: string) => boolean, string]> = [
  [(v) => v.endsWith(GOOGLE_CLOUD_AUDIT_VIA), 'GKE: Cloud Logging entries (protoPayload AuditLog, serviceName k8s.io)'],
  [(v) => v === '.logEvents[].message', 'EKS: CloudWatch Logs subscription data (DATA_MESSAGE logEvents)'],
  [(v) => v === '.events[].message', 'EKS: CloudWatch Logs filter-log-events / get-log-events output'],
  [(v) => v === CLOUDWATCH_EXPORT_VIA, 'EKS: CloudWatch Logs export to S3 (<time> <event> lines)'],
  [(v) => v === '.properties.log', 'AKS: diagnostic records (kube-audit, properties.log)'],
  [(v) => v === '.log', 'container log records (Docker json-file, Fluent Bit, Fluentd: log)'],
  [(v) => v === '.message', 'log shipper records (Vector, Filebeat: message)'],
  [(v) => v === '._source', 'Elasticsearch/OpenSearch documents (_source)'],
];

const FRAMING: Record<InputFormat, string> = {
  'json-lines': 'kube-apiserver audit events (audit.k8s.io), JSON lines',
  'cri-json-lines': 'kube-apiserver audit events in containerd/CRI-O log lines',
  'pretty-json': 'kube-apiserver audit events (audit.k8s.io), pretty-printed JSON',
  'json-array': 'kube-apiserver audit events (audit.k8s.io), a JSON array',
  empty: 'empty',
};

export function inputForm(format: InputFormat, wrapped: Record<string, number>): string {
  const vias = Object.keys(wrapped);
  for (const [match, form] of FORMS) if (vias.some(match)) return form;
  if (vias.length > 0) return `audit events inside other JSON records (${vias.join(', ')})`;
  return FRAMING[format];
}
