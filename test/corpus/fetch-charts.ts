// `node test/corpus/fetch-charts.ts`: copies every chart of test/corpus/charts.yaml out of its Go
// module into the cache (chartCache.ts); build-binaries.sh runs it. Charts already there are kept
// (the cache is keyed by module version). Prints one line per chart fetched and exits non-zero
// naming every chart that could not be fetched.
import { chartsCacheDir, fetchChart, missingCharts } from './chartCache.ts';
import { loadManifest } from './manifest.ts';

const started = Date.now();
const { charts } = loadManifest();
const missing = missingCharts(charts);
const failed: string[] = [];
for (const c of missing) {
  const t0 = Date.now();
  try {
    await fetchChart(c);
    console.log(`[build] corpus chart ${c.id} (${c.module}@${c.version} ${c.chart}): fetched in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  } catch (e) {
    console.error(`[build] corpus chart ${c.id}: FAILED: ${e instanceof Error ? e.message : String(e)}`);
    failed.push(c.id);
  }
}
if (failed.length) {
  console.error(`[build] corpus charts FAILED: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(
  missing.length
    ? `[build] corpus charts: ${missing.length} fetched in ${((Date.now() - started) / 1000).toFixed(1)}s (${charts.length} in ${chartsCacheDir()})`
    : `[build] corpus charts: cached (${charts.length})`,
);
