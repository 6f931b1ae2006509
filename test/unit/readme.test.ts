// The README's configuration reference is generated from the config schema; this test keeps the
// two from drifting apart (it prints the table to paste when they differ).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeConfigKeys } from '../../src/config.ts';
import { README_MARKERS, replaceReadmeSummary } from '../support/readmeBlock.ts';

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

function configTable(): string {
  const rows = describeConfigKeys().map(
    (k) => `| \`${k.key}\` | ${k.env ? `\`${k.env}\`` : ''} | ${k.flag ? `\`${k.flag}\`` : ''} | ${k.default} | ${k.doc} |`,
  );
  return ['| key | env | flag | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

describe('README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  it('documents every config key exactly as the schema defines it', () => {
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start, `README.md needs a ${START} ... ${END} section`).toBeGreaterThan(0);
    const documented = readme.slice(start + START.length, end).trim();
    expect(documented, `README config table is stale; replace it with:\n${configTable()}`).toBe(configTable());
  });

  it('has the block `npm run bench` rewrites', () => {
    expect(() => replaceReadmeSummary(readme, 'summary')).not.toThrow();
    expect(replaceReadmeSummary(readme, 'summary')).toContain(`${README_MARKERS.start}\nsummary\n${README_MARKERS.end}`);
  });

  it('starts with the two commands: the demo and all tests, and CI runs that test command', () => {
    const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toContain('bash test/demo/run.sh');
    expect(firstBlock).toContain('bash test/run-all.sh');
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toContain('bash test/run-all.sh');
  });
});
