// The block of docs/PERFORMANCE.md a full `npm run bench` rewrites (kept apart from report.ts so the
// documentation test loads nothing of the benchmark itself).

/** Where the benchmark summary lives, relative to the repository root. */
export const SUMMARY_DOC = 'docs/PERFORMANCE.md';
export const SUMMARY_MARKERS = { start: '<!-- bench:start -->', end: '<!-- bench:end -->' } as const;

/** `doc` with the text between SUMMARY_MARKERS replaced; throws when the markers are missing. */
export function replaceBenchSummary(doc: string, summary: string): string {
  const start = doc.indexOf(SUMMARY_MARKERS.start);
  const end = doc.indexOf(SUMMARY_MARKERS.end);
  if (start < 0 || end < start) throw new Error(`${SUMMARY_DOC} has no ${SUMMARY_MARKERS.start} ... ${SUMMARY_MARKERS.end} block for the benchmark summary`);
  return `${doc.slice(0, start + SUMMARY_MARKERS.start.length)}\n${summary}\n${doc.slice(end)}`;
}
