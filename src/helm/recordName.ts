// Helm's storage drivers name release records `sh.helm.release.v1.<release>.v<version>`.
const RECORD_NAME = /^sh\.helm\.release\.v1\.(.+)\.v(\d+)$/;

export interface RecordName { release: string; version: number }

export function parseRecordName(objectName: string): RecordName | undefined {
  const m = RECORD_NAME.exec(objectName);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const version = Number(m[2]);
  return Number.isSafeInteger(version) && version > 0 ? { release: m[1], version } : undefined;
}

/** Helm's status values, from helm.sh/helm pkg/release/status.go. */
export const RELEASE_STATUSES = [
  'unknown', 'deployed', 'uninstalled', 'superseded', 'failed',
  'uninstalling', 'pending-install', 'pending-upgrade', 'pending-rollback',
] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];
