// The generated parts of the documentation (src/render/docTables.ts: the README's policy table,
// docs/CONFIGURATION.md's keys, manifests/README.md's webhooks) must be what they are generated
// from; docs/PERFORMANCE.md has the block `npm run bench` rewrites; and the README starts with the
// two commands and stays short.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_TABLES, markedBlock } from '../../src/render/docTables.ts';
import { replaceBenchSummary, SUMMARY_MARKERS } from '../support/readmeBlock.ts';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('documentation', () => {
  const readme = read('README.md');

  it.each(DOC_TABLES.map((t) => [t.file, t.marker, t] as const))('%s: the %s is what it is generated from (npm run docs:tables)', (file, marker, table) => {
    expect(markedBlock(read(file), marker, file), `${file}: the ${marker} is stale; run npm run docs:tables, or paste:\n${table.render()}`).toBe(
      table.render(),
    );
  });

  it('docs/PERFORMANCE.md has the block `npm run bench` rewrites', () => {
    const doc = read('docs/PERFORMANCE.md');
    expect(replaceBenchSummary(doc, 'summary')).toContain(`${SUMMARY_MARKERS.start}\nsummary\n${SUMMARY_MARKERS.end}`);
  });

  it('the README starts with the two commands: the demo and all tests, and CI runs that test command', () => {
    const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toContain('bash test/demo/run.sh');
    expect(firstBlock).toContain('bash test/run-all.sh');
    expect(read('.ci/run')).toContain('bash test/run-all.sh');
  });

  it('the README stays short (about 200 lines), and its links lead to files that exist', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(210);
    for (const [, target] of readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) {
      if (/^https?:/.test(target ?? '')) continue;
      expect(() => read(target ?? ''), `README links to ${target}`).not.toThrow();
    }
  });
});
