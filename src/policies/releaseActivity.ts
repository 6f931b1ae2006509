// What a release's latest record says is happening to it, shared by both policies (and the same
// reading as the audit reviewer's). Helm writes `uninstalling` *before* the pre-delete hooks run,
// and a failed uninstall leaves it there for days: "uninstalling" alone neither means the
// release's objects are going away yet nor that an uninstall is running now.
import type { ReleaseRecordMeta } from '../cluster/view.ts';

/** How long after Helm last wrote an `uninstalling` record it stops meaning "an uninstall is running". */
export const DEFAULT_STALE_UNINSTALLING_AFTER_MS = 60 * 60 * 1000;

/** Statuses of a release whose own install, upgrade or rollback is in progress. */
const OWN_OPERATION = new Set(['pending-install', 'pending-upgrade', 'pending-rollback']);

export type ReleaseActivity =
  | { kind: 'uninstalling'; record: ReleaseRecordMeta }
  /** `uninstalling` written longer ago than the stale age: a failed uninstall, not a running one. */
  | { kind: 'stale-uninstalling'; record: ReleaseRecordMeta; ageMs: number }
  /** pending-install, pending-upgrade or pending-rollback: the release's own operation. */
  | { kind: 'own-operation'; record: ReleaseRecordMeta }
  | { kind: 'settled'; record: ReleaseRecordMeta };

export function activityOf(record: ReleaseRecordMeta, nowMs: number, staleAfterMs: number): ReleaseActivity {
  if (record.status === 'uninstalling') {
    const ageMs = record.modifiedAtMs === undefined ? undefined : nowMs - record.modifiedAtMs;
    if (ageMs !== undefined && ageMs > staleAfterMs) return { kind: 'stale-uninstalling', record, ageMs };
    return { kind: 'uninstalling', record };
  }
  if (OWN_OPERATION.has(record.status)) return { kind: 'own-operation', record };
  return { kind: 'settled', record };
}

/** `3h 12m`, `2d 4h`: the age of a stale record in a message. */
export function formatAge(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes % 60}m`;
  return `${minutes}m`;
}
