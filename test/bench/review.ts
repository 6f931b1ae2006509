// Benchmark of `teardown-guard review` against jq over the same generated audit log.
//
//   npm run bench:review                       # 1 GiB log (the goal's size)
//   npm run bench:review -- --size-mb 200      # quick run
//   npm run bench:review -- --file audit.log   # an existing log instead of a generated one
//
// Options: --size-mb N (default 1024), --seed N (default 42), --dir DIR (where the log is
// written; default the OS temp dir), --keep (keep the generated log), --no-strict (skip the
// `review --strict` run).
//
// Each tool runs as a child process under /usr/bin/time -v (wall time, peak RSS); without it,
// /proc/PID/status VmHWM is polled. Throughput is input bytes / wall time. The review runs
// through the real CLI (bin/teardown-guard.js review --format json), so its numbers include
// Node start-up and the CLI's module loading; `teardown-guard version` is measured too, to
// show that fixed cost, and the review module alone (imported directly) as a reference. Goals (issue 4): review faster than `jq -c 'select(.verb=="delete")'`,
// peak RSS under 200 MiB whatever the file size.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateAuditLog } from './generate-audit-log.ts';
import type { GenerateResult } from './generate-audit-log.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(repo, 'bin', 'teardown-guard.js');
const RSS_GOAL_MIB = 200;

interface Measured { name: string; wallS: number; peakRssMiB: number; exitCode: number; stdout: string }

function which(cmd: string): string | undefined {
  for (const d of (process.env['PATH'] ?? '').split(':')) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}

/** Runs cmd, measuring wall time and peak RSS; stdout is kept only when `keepStdout`. */
async function measure(name: string, cmd: string, args: string[], keepStdout: boolean): Promise<Measured> {
  const time = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const started = process.hrtime.bigint();
  const child = time ? spawn(time, ['-v', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { if (keepStdout) out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.length > 1 << 20) err = err.slice(-65536); });
  let hwm = 0;
  const poll = time ? undefined : setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m && m[1]) hwm = Math.max(hwm, Number(m[1]));
    } catch { /* exited */ }
  }, 20);
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  if (poll) clearInterval(poll);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  let exitCode = code;
  if (time) {
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
    if (rss && rss[1]) hwm = Number(rss[1]);
    const st = /Exit status: (\d+)/.exec(err);
    if (st && st[1]) exitCode = Number(st[1]);
  }
  if (exitCode !== 0 && exitCode !== 1) throw new Error(`${name} failed (exit ${exitCode}):\n${err.slice(-2000)}`);
  return { name, wallS, peakRssMiB: hwm / 1024, exitCode, stdout: out };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1024' },
      seed: { type: 'string', default: '42' },
      dir: { type: 'string' },
      file: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-strict': { type: 'boolean', default: false },
    },
  });
  let file = values.file;
  let planted: GenerateResult | undefined;
  let cleanup = () => {};
  if (!file) {
    const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'tg-bench-review-'));
    file = join(dir, 'audit.log');
    const sizeMb = Number(values['size-mb']);
    const seed = Number(values.seed);
    process.stderr.write(`generating ${sizeMb} MiB audit log (seed ${seed}) ...\n`);
    const t0 = Date.now();
    planted = await generateAuditLog({ out: file, sizeMb, seed });
    process.stderr.write(`generated ${planted.lines} lines in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${JSON.stringify(planted)}\n`);
    if (!values.keep) cleanup = () => rmSync(dir, { recursive: true, force: true });
  }
  try {
    const bytes = statSync(file).size;
    const mib = bytes / 1048576;
    const rows: Array<Measured & { mbps: number }> = [];
    const add = (m: Measured) => { rows.push({ ...m, mbps: mib / m.wallS }); process.stderr.write(`  ${m.name}: ${m.wallS.toFixed(2)}s, peak RSS ${m.peakRssMiB.toFixed(0)} MiB\n`); return m; };

    process.stderr.write(`measuring on ${file} (${mib.toFixed(0)} MiB)\n`);
    const startup = add(await measure('teardown-guard version (start-up only)', process.execPath, [CLI, 'version'], false));
    const review = add(await measure('teardown-guard review', process.execPath, [CLI, 'review', '--format', 'json', file], true));
    // Reference: the review module alone, without the CLI's other commands' module loading.
    const direct = `const { reviewAction } = await import(${JSON.stringify(pathToFileURL(join(repo, 'src', 'audit', 'command.ts')).href)});` +
      `process.exitCode = await reviewAction([${JSON.stringify(file)}], { format: 'json', windowSeconds: 120, guardName: 'teardown-guard' });`;
    add(await measure('review module alone (no CLI wiring)', process.execPath, ['--input-type=module', '-e', direct], false));
    if (!values['no-strict']) add(await measure('teardown-guard review --strict', process.execPath, [CLI, 'review', '--strict', '--format', 'json', file], false));
    const jqPath = which('jq');
    let jq: Measured | undefined;
    if (jqPath) jq = add(await measure(`jq -c 'select(.verb=="delete")'`, jqPath, ['-c', 'select(.verb=="delete")', file], false));
    else process.stderr.write('jq not found: install it (apt-get install jq) for the comparison\n');

    const report = JSON.parse(review.stdout) as { summary: { findings: number; byCode: Record<string, number>; events: number; malformedLines: number } };
    const rowsOut = rows.map((r) => `| ${r.name} | ${r.wallS.toFixed(2)} | ${r === rows[0] ? '-' : r.mbps.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} |`);
    console.log([
      `Input: ${mib.toFixed(0)} MiB, ${report.summary.events} audit events${planted ? `, seed ${values.seed}` : ''}`,
      '',
      '| command | wall s | MiB/s | peak RSS MiB |',
      '|---|---|---|---|',
      ...rowsOut,
      '',
      `review vs jq: ${jq ? `${(jq.wallS / review.wallS).toFixed(2)}x faster` : 'n/a (no jq)'}; review peak RSS ${review.peakRssMiB.toFixed(0)} MiB (goal < ${RSS_GOAL_MIB}; start-up alone ${startup.peakRssMiB.toFixed(0)} MiB)`,
      `review throughput without start-up: ${(mib / Math.max(0.001, review.wallS - startup.wallS)).toFixed(1)} MiB/s`,
      `findings: ${report.summary.findings} ${JSON.stringify(Object.fromEntries(Object.entries(report.summary.byCode).filter(([, n]) => n > 0)))}` +
        (planted ? `; planted misdirected uninstalls: ${planted.misdirected}` : ''),
    ].join('\n'));
    const ok = (!jq || review.wallS < jq.wallS) && review.peakRssMiB < RSS_GOAL_MIB && (!planted || report.summary.byCode['misdirected-uninstall'] === planted.misdirected);
    console.log(ok ? 'goals: met' : 'goals: NOT met');
    if (!ok) process.exitCode = 1;
  } finally {
    cleanup();
  }
}

await main();
