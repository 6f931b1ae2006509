// The README block a full `npm run bench` rewrites (test/bench/run.ts); apart from the benchmark
// so that the README's unit test (test/unit/readme.test.ts) loads nothing of it.

export const README_MARKERS = { start: '<!-- bench:start -->', end: '<!-- bench:end -->' } as const;

/** `readme` with the text between README_MARKERS replaced; throws when the markers are missing. */
export function replaceReadmeSummary(readme: string, summary: string): string {
  const start = readme.indexOf(README_MARKERS.start);
  const end = readme.indexOf(README_MARKERS.end);
  if (start < 0 || end < start) throw new Error(`README.md has no ${README_MARKERS.start} ... ${README_MARKERS.end} block for the benchmark summary`);
  return `${readme.slice(0, start + README_MARKERS.start.length)}\n${summary}\n${readme.slice(end)}`;
}
