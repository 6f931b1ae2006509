// Safe output (src/audit/README.md, "Safe output"): text from the log cannot drive the terminal,
// a reader that goes away ends the review quietly with its own exit status, and permission errors
// are one line.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildReport, renderHuman, renderJson, renderMarkdown } from './report.ts';
import { runReview } from './review.ts';
import { escapeControls } from './terminal.ts';
import { helmUninstall, toJsonLines } from '../../test/support/auditEvents.ts';
import { scratchDir } from '../../test/support/scratchDir.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(repo, 'bin', 'teardown-guard.js');
const fixtures = join(repo, 'test', 'fixtures', 'audit');
const dir = scratchDir('tg-output');
const T0 = Date.parse('2026-03-01T09:00:00Z');
// eslint-disable-next-line no-control-regex
const RAW_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('terminal control characters from the log', () => {
  it('are escaped in human and Markdown output, kept (JSON-escaped) in JSON', async () => {
    const user = 'mallory\u001b[2J\u001b]0;owned\u0007';
    const ua = 'evil/1.0 (linux/amd64) kubernetes/abc\n[2] HIGH forged finding\u202e';
    const events = helmUninstall({ releaseNamespace: 'helm-test', release: 'web', deleteNamespace: 'default', deleteCode: 404, ua, start: T0 });
    for (const e of events) e.user.username = user;
    const p = join(dir, 'evil\u001b[31m.log');
    writeFileSync(p, toJsonLines(events) + 'garbage \u001b[31m red\n');
    const report = buildReport(await runReview({ inputs: [p] }), { version: '0.1.0', filters: {} });
    expect(report.findings).toHaveLength(1);
    for (const text of [renderHuman(report), renderMarkdown(report)]) {
      expect(text).not.toMatch(RAW_CONTROLS);
      expect(text).toContain('mallory\\x1b[2J\\x1b]0;owned\\x07');
      expect(text).toContain('kubernetes/abc\\n[2] HIGH forged finding\\u202e');
      expect(text).toContain('evil\\x1b[31m.log');
      expect(text.split('\n').some((l) => l.startsWith('[2] HIGH'))).toBe(false);
    }
    expect(renderHuman(report)).toMatch(/evil\\x1b\[31m\.log:\d+: not valid JSON/);
    const json = JSON.parse(renderJson(report)) as { findings: Array<{ actor: { user: string } }> };
    expect(json.findings[0]?.actor.user).toBe(user);
  });

  it('escapeControls shows every C0/C1 control, DEL and bidi override, and nothing else', () => {
    expect(escapeControls('a\tb\rc\u0000d\u007fe\u009bf\u2066g')).toBe('a\\tb\\rc\\x00d\\x7fe\\x9bf\\u2066g');
    expect(escapeControls('plain ü 日本 – ok')).toBe('plain ü 日本 – ok');
  });
});

/** Runs `review ... | head -c 100` through a real pipe; the review's own exit status and stderr. */
function reviewIntoHead(args: string[]): { status: number; stderr: string } {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `"${process.execPath}" "${cli}" review ${args.map((a) => `"${a}"`).join(' ')} 2>"${dir}/stderr" | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "${dir}/stderr"`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  const [status, ...err] = r.stdout.split('\n');
  return { status: Number(status), stderr: err.join('\n') };
}

describe('a closed pipe', () => {
  // 100 misdirected uninstalls: a report far larger than head reads and than a pipe holds (64 KiB).
  const many = join(dir, 'many.log');
  writeFileSync(
    many,
    Array.from({ length: 100 }, (_, i) =>
      toJsonLines(helmUninstall({ releaseNamespace: 'helm-test', release: `web${i}`, deleteNamespace: 'default', deleteCode: 404, start: T0 + i * 600_000 })),
    ).join(''),
  );

  it('ends quietly with the intended exit status (findings: 1)', () => {
    for (const format of ['json', 'markdown', 'human']) {
      const r = reviewIntoHead(['--format', format, many]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(1);
    }
  });

  it('keeps the other exit statuses too (an input not read: 2)', () => {
    const r = reviewIntoHead(['--format', 'json', many, join(dir, 'missing.log')]);
    expect(r.stderr).toBe(`teardown-guard review: ${join(dir, 'missing.log')}: no such file\n`);
    expect(r.status).toBe(2);
  });
});

describe('permission errors', () => {
  // As root every file is readable: the CLI runs as an unprivileged user to meet a real EACCES.
  const root = process.getuid?.() === 0;
  it.skipIf(!root)('are one clear line, and the other inputs are still reviewed', () => {
    const locked = join(dir, 'locked.log');
    writeFileSync(locked, '{}\n');
    chmodSync(locked, 0o000);
    chmodSync(dir, 0o755);
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        cli,
        'review',
        '--format',
        'json',
        locked,
        join(fixtures, 'sdk-cross-release.jsonl'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe(`teardown-guard review: ${locked}: permission denied\n`);
    expect(r.status).toBe(2);
    const report = JSON.parse(r.stdout) as { findings: unknown[]; inputs: Array<{ status: string }> };
    expect(report.findings).toHaveLength(2);
    expect(report.inputs.map((i) => i.status).sort()).toEqual(['ok', 'unreadable']);
  });
});
