// What the audit review reports. This shape is the `findings[]` item of `review --format json`
// (schema: src/audit/report.schema.json, documented in src/audit/README.md) and what
// createAuditIngest hands to onFinding. Changing a field's meaning needs a schemaVersion bump.
import type { AuditRecord } from './event.ts';

export type AuditFindingCode =
  | 'misdirected-uninstall'
  | 'cross-release-delete'
  | 'namespace-finalizer-race'
  | 'namespace-deletion-incomplete'
  | 'guard-denied'
  | 'guard-warned'
  | 'guard-undecided'
  | 'guard-break-glass'
  | 'guard-bypassed';

export const FINDING_CODES: readonly AuditFindingCode[] = [
  'misdirected-uninstall',
  'cross-release-delete',
  'namespace-finalizer-race',
  'namespace-deletion-incomplete',
  'guard-denied',
  'guard-warned',
  'guard-undecided',
  'guard-break-glass',
  'guard-bypassed',
];

export type AuditSeverity = 'high' | 'medium' | 'low';

/** One API request, as evidence. */
export interface Evidence {
  /** requestReceivedTimestamp as logged. */
  time: string;
  user: string;
  impersonatedUser?: string;
  userAgent: string;
  verb: string;
  requestURI: string;
  /** HTTP response code; 0 when the event had none. */
  code: number;
  auditID: string;
  /** Why this request is evidence. */
  note?: string;
}

export interface FindingObject {
  /** API resource (plural), e.g. `deployments`. */
  resource: string;
  /** API group; "" for the core group. */
  apiGroup: string;
  namespace?: string;
  name: string;
  /** What the review concludes about the object. */
  state: 'likely-still-present' | 'deleted' | 'deletion-stuck' | 'denied' | 'admitted';
}

export interface AuditFinding {
  /** Stable id: the same incident gets the same id on every run over the same log. */
  id: string;
  code: AuditFindingCode;
  severity: AuditSeverity;
  /** One line. */
  title: string;
  /** What happened, in sentences. */
  detail: string;
  /** First and last timestamp of the evidence. */
  firstSeen: string;
  lastSeen: string;
  /** Namespaces the finding is about (release namespace, where DELETEs went, the stuck namespace). */
  namespaces: string[];
  /** The Helm release concerned, when there is one. */
  release?: { namespace: string; name: string };
  /** Who did it. */
  actor?: { user: string; userAgent: string; client: string };
  objects: FindingObject[];
  evidence: Evidence[];
  /** Commands and steps, in order. */
  remedy: string[];
}

/** Cap on evidence lines per finding, so one runaway session cannot bloat the report. */
export const MAX_EVIDENCE = 200;

export function evidenceOf(r: AuditRecord, note?: string): Evidence {
  const e: Evidence = {
    time: r.timestamp,
    user: r.user,
    userAgent: r.userAgent,
    verb: r.verb,
    requestURI: r.requestURI,
    code: r.code,
    auditID: r.auditID,
  };
  if (r.impersonatedUser) e.impersonatedUser = r.impersonatedUser;
  if (note) e.note = note;
  return e;
}

export function findingUsers(f: AuditFinding): string[] {
  const users = new Set<string>();
  if (f.actor) users.add(f.actor.user);
  for (const e of f.evidence) {
    users.add(e.user);
    if (e.impersonatedUser) users.add(e.impersonatedUser);
  }
  return [...users];
}
