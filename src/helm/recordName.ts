// Helm's storage drivers name release records `sh.helm.release.v1.<release>.v<version>`.
const RECORD_NAME = /^sh\.helm\.release\.v1\.(.+)\.v(\d+)$/;

/** Splits a record name; undefined for any other name. Release names may contain dots. */
export function parseReleaseRecordName(objectName: string): { release: string; version: number } | undefined {
  const match = RECORD_NAME.exec(objectName);
  if (!match?.[1] || !match[2]) return undefined;
  const version = Number(match[2]);
  if (!Number.isSafeInteger(version) || version < 1) return undefined;
  return { release: match[1], version };
}
