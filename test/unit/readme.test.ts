// The generated parts of the documentation: the README's policy table (from the policies'
// declarations) and docs/CONFIGURATION.md's key table (from the config schema) must be what they are
// generated from (each test prints the table to paste when they differ); docs/PERFORMANCE.md has the
// block `npm run bench` rewrites; and the README starts with the two commands and stays short.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeConfigKeys } from '../../src/config.ts';
import { policyTable } from '../../src/render/policyTable.ts';
import { replaceBenchSummary, SUMMARY_MARKERS } from '../bench/readmeBlock.ts';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

function configTable(): string {
  const rows = describeConfigKeys().map(
    (k) => `| \`${k.key}\` | ${k.env ? `\`${k.env}\`` : ''} | ${k.flag ? `\`${k.flag}\`` : ''} | ${k.default} | ${k.doc} |`,
  );
  return ['| key | env | flag | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The text between `<!-- NAME:start -->` and `<!-- NAME:end -->` of `doc`. */
function block(doc: string, name: string, file: string): string {
  const start = doc.indexOf(`<!-- ${name}:start -->`);
  const end = doc.indexOf(`<!-- ${name}:end -->`);
  expect(start, `${file} needs a <!-- ${name}:start --> ... <!-- ${name}:end --> section`).toBeGreaterThan(0);
  return doc.slice(start + `<!-- ${name}:start -->`.length, end).trim();
}

describe('documentation', () => {
  const readme = read('README.md');

  it("the README's policy table is what the policies declare", () => {
    expect(block(readme, 'policy-table', 'README.md'), `README policy table is stale; replace it with:\n${policyTable()}`).toBe(policyTable());
  });

  it('docs/CONFIGURATION.md documents every config key exactly as the schema defines it', () => {
    const doc = read('docs/CONFIGURATION.md');
    expect(block(doc, 'config-table', 'docs/CONFIGURATION.md'), `config table is stale; replace it with:\n${configTable()}`).toBe(configTable());
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
