// Builds the AdmissionReview response from per-policy verdicts: the denial text a user reads in
// kubectl/helm output, the warnings, and the audit annotations audit-log review reads back.
import { targetName, type AdmissionRequest, type AdmissionResponse } from '../k8s/admissionReview.ts';
import type { PolicyVerdict } from './modes.ts';
import { formatRef, type ObjectRef } from '../k8s/types.ts';
import { formatRemedy, type Finding } from '../policies/types.ts';

/** The API server may truncate warnings over 256 characters. */
export const MAX_WARNING_CHARS = 256;
/** Keep each audit annotation value small: audit logs are shipped and indexed. */
export const MAX_AUDIT_VALUE_CHARS = 2000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function requestTarget(req: AdmissionRequest): ObjectRef {
  const apiVersion = req.kind.group ? `${req.kind.group}/${req.kind.version}` : req.kind.version;
  const ref: ObjectRef = { apiVersion, kind: req.kind.kind, name: targetName(req) };
  // A Namespace request carries its own name in request.namespace; the object is cluster-scoped.
  if (req.namespace && !(req.kind.group === '' && req.kind.kind === 'Namespace')) ref.namespace = req.namespace;
  return ref;
}

function breakGlassHint(req: AdmissionRequest, annotation: string): string {
  const t = requestTarget(req);
  const nsFlag = t.namespace ? ` -n ${t.namespace}` : '';
  return `To override (admins, recorded in the audit log): kubectl annotate ${t.kind.toLowerCase()} ${t.name}${nsFlag} ${annotation}="<reason>" and retry.`;
}

export function denialMessage(req: AdmissionRequest, denying: Array<{ policy: string; finding: Finding }>, breakGlassAnnotation: string): string {
  const blocks = denying.map(({ policy, finding }) =>
    [`teardown-guard [${policy}] ${finding.summary}`, finding.detail, 'Fix:', ...formatRemedy(finding.remedy)].join('\n'),
  );
  return [...blocks, breakGlassHint(req, breakGlassAnnotation)].join('\n\n');
}

/** How to read a denial in full: a server-side dry run of the same DELETE gets the same answer. */
export function fullReasonCommand(req: AdmissionRequest): string {
  const t = requestTarget(req);
  const nsFlag = t.namespace ? ` -n ${t.namespace}` : '';
  const group = req.resource.group ? `.${req.resource.group}` : '';
  return `kubectl delete ${req.resource.resource}${group} ${t.name}${nsFlag} --dry-run=server`;
}

/** One warning per denying finding, then where to read the whole reason and the fix. */
export function denialWarnings(req: AdmissionRequest, denying: Array<{ policy: string; finding: Finding }>): string[] {
  const lines = denying.map(({ policy, finding }) => `teardown-guard [${policy}] DENIED: ${finding.summary}`);
  const t = requestTarget(req);
  const check = t.kind === 'Namespace' && req.resource.group === '' ? ` or \`teardown-guard check namespace ${t.name}\`` : '';
  const how = req.operation === 'DELETE' ? `run \`${fullReasonCommand(req)}\`${check}` : 'see the audit log';
  lines.push(`teardown-guard: for the whole reason and the fix, ${how}`);
  return lines;
}

export function undecidedMessage(policy: string, reason: string, action: 'allow' | 'deny'): string {
  return action === 'deny'
    ? `teardown-guard [${policy}] could not decide (${reason}) and is configured to deny when undecided; retry shortly`
    : `teardown-guard [${policy}] could not check this request (${reason}); allowed unchecked`;
}

function findingDigest(f: Finding): Record<string, unknown> {
  return { code: f.code, severity: f.severity, summary: clip(f.summary, 300), objects: f.objects.slice(0, 10).map(formatRef) };
}

export function auditAnnotationValue(v: PolicyVerdict): string {
  const findings = [...v.denying, ...v.warning, ...v.recorded].map(findingDigest);
  const value: Record<string, unknown> = { verdict: v.verdict, mode: v.mode, findings };
  if (v.undecidedReason) value['reason'] = v.undecidedReason;
  let text = JSON.stringify(value);
  while (text.length > MAX_AUDIT_VALUE_CHARS && findings.length > 1) {
    findings.pop();
    value['truncated'] = true;
    text = JSON.stringify(value);
  }
  return clip(text, MAX_AUDIT_VALUE_CHARS);
}

export interface ResponseParts {
  allowed: boolean;
  denyMessage?: string;
  warnings: string[];
  auditAnnotations: Record<string, string>;
}

export function buildResponse(uid: string, parts: ResponseParts): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: parts.allowed };
  if (!parts.allowed) response.status = { code: 403, reason: 'Forbidden', message: parts.denyMessage ?? 'denied by teardown-guard' };
  if (parts.warnings.length > 0) response.warnings = parts.warnings.map((w) => clip(w, MAX_WARNING_CHARS));
  if (Object.keys(parts.auditAnnotations).length > 0) response.auditAnnotations = parts.auditAnnotations;
  return response;
}
