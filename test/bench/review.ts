// Benchmark of `teardown-guard review` against jq over the same generated audit log.
//
//   npm run bench:review                       # 1 GiB log (the goal's size)
//   npm run bench:review -- --size-mb 200      # quick run
//   npm run bench:review -- --file audit.log   # an existing log instead of a generated one
//
// Options: --size-mb N (default 1024), --seed N (default 42), --dir DIR (where the log is
// written; default the OS temp dir), --keep (keep the generated log), --no-strict (skip the
// `review --strict` run), --no-gzip (skip the gzipped copy of the log), --no-hostile (skip the
// hostile inputs), --bomb-gib N (inflated size of the bombs, default 10), --cli PATH (another
// build's bin/teardown-guard.js, to measure before/after with the same inputs).
//
// Hostile inputs (src/audit/README.md, "Memory bound"; made here, deleted afterwards): a gzip
// bomb of zeros and one of a repeated audit line (N GiB inflated, concatenated 1 GiB members), a
// 60 MiB line (over the limit: skipped) and a line just under the 16 MiB limit (parsed, the worst
// case for memory: a list response of small objects). Goal: each ends within 10 s and under
// 256 MiB peak RSS.
//
// Each tool runs as a child process under /usr/bin/time -v (wall time, peak RSS); without it,
// /proc/PID/status VmHWM is polled. Throughput is input bytes / wall time. The review runs
// through the real CLI (bin/teardown-guard.js review --format json), so its numbers include
// Node start-up and the CLI's module loading; `teardown-guard version` is measured too, to
// show that fixed cost, and the review module alone (imported directly) as a reference. Goals (issue 4): review faster than `jq -c 'select(.verb=="delete")'`,
// peak RSS under 200 MiB whatever the file size.
import { spawn } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateAuditLog } from '../support/auditLogGenerator.ts';
import type { GenerateResult } from '../support/auditLogGenerator.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RSS_GOAL_MIB = 200;
const HOSTILE_RSS_GOAL_MIB = 256;
const HOSTILE_TIME_GOAL_S = 10;
/** Hostile runs are killed after this long (a build without the limits can take minutes). */
const HOSTILE_KILL_S = 600;
const MiB = 1048576;
const LINE_LIMIT = 16 * MiB;

interface Measured {
  name: string;
  wallS: number;
  peakRssMiB: number;
  exitCode: number;
  stdout: string;
}

function which(cmd: string): string | undefined {
  for (const d of (process.env['PATH'] ?? '').split(':')) if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
}

/** Runs cmd, measuring wall time and peak RSS; stdout is kept only when `keepStdout`. */
async function measure(name: string, cmd: string, args: string[], keepStdout: boolean, okCodes: number[] = [0, 1], timeoutS?: number): Promise<Measured> {
  const time = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const started = process.hrtime.bigint();
  // Own process group, so a timeout ends /usr/bin/time and the measured process together.
  const child = time
    ? spawn(time, ['-v', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    if (keepStdout) out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 1 << 20) err = err.slice(-65536);
  });
  let hwm = 0;
  const poll = time
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m && m[1]) hwm = Math.max(hwm, Number(m[1]));
        } catch {
          /* exited */
        }
      }, 20);
  // A run past its time limit is killed and reported as such (exit -1).
  let killed = false;
  const killer =
    timeoutS === undefined
      ? undefined
      : setTimeout(() => {
          killed = true;
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        }, timeoutS * 1000);
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  if (killer) clearTimeout(killer);
  if (poll) clearInterval(poll);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  let exitCode = code;
  if (time) {
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
    if (rss && rss[1]) hwm = Number(rss[1]);
    const st = /Exit status: (\d+)/.exec(err);
    if (st && st[1]) exitCode = Number(st[1]);
  }
  if (killed) exitCode = -1;
  if (!okCodes.includes(exitCode)) throw new Error(`${name} failed (exit ${exitCode}):\n${err.slice(-2000)}`);
  return { name, wallS, peakRssMiB: hwm / 1024, exitCode, stdout: out };
}

/** Writes `total` bytes made of `unit` repeated, gzipped, as concatenated members of at most 1 GiB. */
async function writeGzipBomb(path: string, unit: Buffer, totalGiB: number): Promise<void> {
  const out = createWriteStream(path);
  const block = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(MiB / unit.length)) }, () => unit));
  const member = await new Promise<Buffer>((resolve) => {
    const gz = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gz.on('data', (b: Buffer) => parts.push(b));
    gz.on('end', () => resolve(Buffer.concat(parts)));
    (async () => {
      for (let n = 0; n < 1024 * MiB; n += block.length) if (!gz.write(block)) await once(gz, 'drain');
      gz.end();
    })().catch((e: unknown) => {
      throw e;
    });
  });
  for (let g = 0; g < totalGiB; g++) if (!out.write(member)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

/** One audit event line of `bytes` bytes: a delete (always parsed) with a list response of small objects. */
function longLine(bytes: number): string {
  const head = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: '00000000-0000-0000-0000-000000000001',
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/big/pods',
    verb: 'delete',
    user: { username: 'admin' },
    userAgent: 'kubectl/v1.36.3 (linux/amd64) kubernetes/6a7c1b2',
    objectRef: { resource: 'pods', namespace: 'big', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
  };
  const tail = { requestReceivedTimestamp: '2026-03-01T09:00:00.000000Z', stageTimestamp: '2026-03-01T09:00:00.001000Z' };
  const item = (i: number) => JSON.stringify({ metadata: { name: `pod-${i}`, namespace: 'big', labels: { app: 'x' } }, spec: { nodeName: 'n1' } });
  const items: string[] = [];
  let size = JSON.stringify({ ...head, responseObject: { kind: 'PodList', apiVersion: 'v1', items: [] }, ...tail }).length;
  for (let i = 0; size + item(i).length + 1 < bytes; i++) {
    const it = item(i);
    items.push(it);
    size += it.length + 1;
  }
  const body = `{"kind":"PodList","apiVersion":"v1","items":[${items.join(',')}]}`;
  return JSON.stringify(head).slice(0, -1) + `,"responseObject":${body},` + JSON.stringify(tail).slice(1);
}

interface HostileRow {
  name: string;
  what: string;
  wallS: number;
  peakRssMiB: number;
  exitCode: number;
  status: string;
}

/** The hostile inputs, each reviewed by `cli`: time, peak RSS and what the review said. */
async function hostile(cli: string, dir: string, bombGiB: number, sampleLine: string): Promise<HostileRow[]> {
  const rows: HostileRow[] = [];
  const inputs: Array<{ name: string; make(path: string): Promise<void> }> = [
    { name: `gzip bomb: ${bombGiB} GiB of zeros`, make: (p) => writeGzipBomb(p, Buffer.alloc(MiB), bombGiB) },
    { name: `gzip bomb: ${bombGiB} GiB of one audit line repeated`, make: (p) => writeGzipBomb(p, Buffer.from(`${sampleLine}\n`), bombGiB) },
    {
      name: '60 MiB line (over the limit)',
      make: async (p) => {
        writeFileSync(p, `${sampleLine}\n${longLine(60 * MiB)}\n${sampleLine}\n`);
      },
    },
    {
      name: 'line just under the 16 MiB limit (parsed)',
      make: async (p) => {
        writeFileSync(p, `${sampleLine}\n${longLine(LINE_LIMIT - 4096)}\n${sampleLine}\n`);
      },
    },
  ];
  for (const [k, inp] of inputs.entries()) {
    const path = join(dir, `hostile-${k}`);
    const t0 = Date.now();
    await inp.make(path);
    process.stderr.write(`  made ${inp.name} (${(statSync(path).size / MiB).toFixed(1)} MiB on disk) in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
    const m = await measure(inp.name, process.execPath, [cli, 'review', '--format', 'json', path], true, [0, 1, 2, 3, -1], HOSTILE_KILL_S);
    let status = m.exitCode === -1 ? `killed after ${HOSTILE_KILL_S} s` : `exit ${m.exitCode}`;
    try {
      const r = JSON.parse(m.stdout) as { inputs: Array<{ status?: string; problem?: { message: string }; malformedLines: number; events: number }> };
      const i = r.inputs[0];
      status = `exit ${m.exitCode}, ${i?.status ?? 'ok'}: ${i?.problem?.message.slice(0, 70) ?? `${i?.events ?? 0} events, ${i?.malformedLines ?? 0} lines skipped`}`;
    } catch {
      /* no report */
    }
    rows.push({ name: inp.name, what: status, wallS: m.wallS, peakRssMiB: m.peakRssMiB, exitCode: m.exitCode, status });
    process.stderr.write(`  ${inp.name}: ${m.wallS.toFixed(2)}s, peak RSS ${m.peakRssMiB.toFixed(0)} MiB (${status})\n`);
    rmSync(path, { force: true });
  }
  return rows;
}

/** The first `bytes` bytes of a file, as text. */
function headOf(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** The log gzipped (level 1, as logrotate's default gzip does fast enough for a bench). */
async function gzipFile(from: string, to: string): Promise<void> {
  await pipeline(createReadStream(from), createGzip({ level: 1 }), createWriteStream(to));
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
      'no-gzip': { type: 'boolean', default: false },
      'no-hostile': { type: 'boolean', default: false },
      'bomb-gib': { type: 'string', default: '10' },
      cli: { type: 'string' },
    },
  });
  const CLI = values.cli ?? join(repo, 'bin', 'teardown-guard.js');
  const cliRepo = join(dirname(CLI), '..');
  let file = values.file;
  let planted: GenerateResult | undefined;
  let cleanup = () => {};
  const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'tg-bench-review-'));
  if (!file) {
    file = join(dir, 'audit.log');
    const sizeMb = Number(values['size-mb']);
    const seed = Number(values.seed);
    process.stderr.write(`generating ${sizeMb} MiB audit log (seed ${seed}) ...\n`);
    const t0 = Date.now();
    planted = await generateAuditLog({ out: file, sizeMb, seed });
    process.stderr.write(`generated ${planted.lines} lines in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${JSON.stringify(planted)}\n`);
  }
  if (!values.keep) cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const bytes = statSync(file).size;
    const mib = bytes / 1048576;
    const rows: Array<Measured & { mbps: number }> = [];
    const add = (m: Measured) => {
      rows.push({ ...m, mbps: mib / m.wallS });
      process.stderr.write(`  ${m.name}: ${m.wallS.toFixed(2)}s, peak RSS ${m.peakRssMiB.toFixed(0)} MiB\n`);
      return m;
    };

    process.stderr.write(`measuring on ${file} (${mib.toFixed(0)} MiB)\n`);
    const startup = add(await measure('teardown-guard version (start-up only)', process.execPath, [CLI, 'version'], false));
    const review = add(await measure('teardown-guard review', process.execPath, [CLI, 'review', '--format', 'json', file], true));
    // Reference: the review module alone, without the CLI's other commands' module loading.
    const direct =
      `const { reviewAction } = await import(${JSON.stringify(pathToFileURL(join(cliRepo, 'src', 'audit', 'command.ts')).href)});` +
      `process.exitCode = await reviewAction([${JSON.stringify(file)}], { format: 'json', windowSeconds: 120, guardName: 'teardown-guard' });`;
    add(await measure('review module alone (no CLI wiring)', process.execPath, ['--input-type=module', '-e', direct], false));
    if (!values['no-strict'])
      add(await measure('teardown-guard review --strict', process.execPath, [CLI, 'review', '--strict', '--format', 'json', file], false));
    const jqPath = which('jq');
    let jq: Measured | undefined;
    if (jqPath) jq = add(await measure(`jq -c 'select(.verb=="delete")'`, jqPath, ['-c', 'select(.verb=="delete")', file], false));
    else process.stderr.write('jq not found: install it (apt-get install jq) for the comparison\n');

    type Summary = { summary: { findings: number; byCode: Record<string, number>; events: number; malformedLines: number }; timeRange: unknown };
    const report = JSON.parse(review.stdout) as Summary;
    let sameGzip: boolean | undefined;
    if (!values['no-gzip']) {
      const gz = join(dir, 'audit.log.gz');
      const t0 = Date.now();
      await gzipFile(file, gz);
      process.stderr.write(`  gzipped the log to ${(statSync(gz).size / MiB).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
      const g = add(await measure('teardown-guard review (the log gzipped)', process.execPath, [CLI, 'review', '--format', 'json', gz], true));
      const gr = JSON.parse(g.stdout) as Summary;
      // Same answer every way: same counts, same time range, same findings.
      sameGzip = JSON.stringify([gr.summary, gr.timeRange]) === JSON.stringify([report.summary, report.timeRange]);
      rmSync(gz, { force: true });
    }
    const sample =
      headOf(file, 1 << 16)
        .split('\n')
        .find((l) => l.includes('"stage":"ResponseComplete"')) ?? '';
    const hostileRows = values['no-hostile'] ? [] : await hostile(CLI, dir, Number(values['bomb-gib']), sample);
    const rowsOut = rows.map((r) => `| ${r.name} | ${r.wallS.toFixed(2)} | ${r === rows[0] ? '-' : r.mbps.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} |`);
    console.log(
      [
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
        ...(sameGzip === undefined ? [] : [`gzipped log: ${sameGzip ? 'same' : 'DIFFERENT'} counts, time range and findings as the plain log`]),
        ...(hostileRows.length === 0
          ? []
          : [
              '',
              `Hostile input (goal: each ends within ${HOSTILE_TIME_GOAL_S} s, peak RSS < ${HOSTILE_RSS_GOAL_MIB} MiB):`,
              '',
              '| input | wall s | peak RSS MiB | review says |',
              '|---|---|---|---|',
              ...hostileRows.map((h) => `| ${h.name} | ${h.wallS.toFixed(2)} | ${h.peakRssMiB.toFixed(0)} | ${h.what.replace(/\|/g, '\\|')} |`),
            ]),
      ].join('\n'),
    );
    const hostileOk = hostileRows.every((h) => h.wallS < HOSTILE_TIME_GOAL_S && h.peakRssMiB < HOSTILE_RSS_GOAL_MIB);
    const ok =
      (!jq || review.wallS < jq.wallS) &&
      review.peakRssMiB < RSS_GOAL_MIB &&
      (!planted || report.summary.byCode['misdirected-uninstall'] === planted.misdirected) &&
      sameGzip !== false &&
      hostileOk;
    console.log(ok ? 'goals: met' : 'goals: NOT met');
    if (!ok) process.exitCode = 1;
  } finally {
    cleanup();
  }
}

await main();
