// `teardown-guard review FILE...`: audit-log review from the command line.
// Exit code (src/audit/README.md): 0 no findings, 1 findings, 2 bad usage or an input not read to
// its end (the report still shows every finding), 3 nothing analysed.
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import { VERSION } from '../version.ts';
import { DEFAULT_GUARD_NAME, DEFAULT_WINDOW_MS } from './correlator.ts';
import { DEFAULT_MAX_LINE_BYTES } from './reader.ts';
import { buildReport, problemWhere, renderHuman, renderJson, renderMarkdown } from './report.ts';
import type { ReviewReport } from './report.ts';
import { runReview } from './review.ts';
import { escapeControls } from './terminal.ts';

export interface ReviewFlags {
  format: 'human' | 'json' | 'markdown';
  since?: number;
  until?: number;
  namespace?: string;
  user?: string;
  windowSeconds: number;
  strict?: boolean;
  guardName: string;
  /** Longest line (or JSON value) read, MiB; longer ones are skipped and counted. */
  maxLineMib?: number;
  /** The guard's config file: its finalizerGuards are followed like the built-in OLM one. */
  config?: string;
}

const DURATION = /^(\d+(?:\.\d+)?)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** RFC 3339 time, or a duration (`90s`, `30m`, `2h`, `7d`) meaning that long before now. */
export function parseTimeArg(value: string, now: number = Date.now()): number {
  const d = DURATION.exec(value.trim());
  if (d && d[1] !== undefined && d[2] !== undefined) return now - Number(d[1]) * (UNIT_MS[d[2]] ?? 0);
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new InvalidArgumentError(`expected an RFC 3339 time (2026-03-01T09:00:00Z) or a duration before now (30m, 2h, 7d), got "${value}"`);
}

function parseLineMib(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError(`expected MiB between 1 and 1024, got "${value}"`);
  return n;
}

function parseWindow(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new InvalidArgumentError(`expected seconds between 1 and 86400, got "${value}"`);
  return n;
}

const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

function progressPrinter(): { update(p: { rawBytes: number; totalBytes?: number; input: string }): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  let printed = false;
  const started = Date.now();
  return {
    update(p) {
      if (!tty) return;
      const large = (p.totalBytes ?? Number.POSITIVE_INFINITY) >= PROGRESS_MIN_BYTES && p.rawBytes >= 8 * 1024 * 1024;
      const now = Date.now();
      if (!large || now - lastPrint < 250) return;
      lastPrint = now;
      printed = true;
      const mib = (n: number) => (n / 1048576).toFixed(0);
      const rate = p.rawBytes / 1048576 / Math.max(0.001, (now - started) / 1000);
      const pct = p.totalBytes ? ` ${((100 * p.rawBytes) / p.totalBytes).toFixed(1)}% of ${mib(p.totalBytes)} MiB` : '';
      process.stderr.write(`\rreviewing ${p.input}: ${mib(p.rawBytes)} MiB${pct}, ${rate.toFixed(0)} MiB/s\u001b[K`);
    },
    done() {
      if (printed) process.stderr.write('\r\u001b[K');
    },
  };
}

export function registerReviewCommand(program: Command): void {
  program
    .command('review')
    .description(
      "review kube-apiserver audit logs (audit.k8s.io/v1 Event JSON lines, .gz too, - for stdin) for misdirected Helm uninstalls, stranded namespaces and the guard's own verdicts",
    )
    .argument('<file...>', 'audit log files; - reads stdin; gzip is detected')
    .addOption(new Option('-f, --format <format>', 'report format').choices(['human', 'json', 'markdown']).default('human'))
    .option('--since <time>', 'only events at or after this RFC 3339 time, or this long ago (30m, 2h, 7d)', (v) => parseTimeArg(v))
    .option('--until <time>', 'only events before this RFC 3339 time, or this long ago', (v) => parseTimeArg(v))
    .option('-n, --namespace <namespace>', 'only findings that concern this namespace')
    .option('--user <user>', 'only findings that involve this user')
    .option(
      '--window-seconds <seconds>',
      'uninstall session gap, controller-race window and how long a deleted namespace may linger',
      parseWindow,
      DEFAULT_WINDOW_MS / 1000,
    )
    .option('--strict', 'JSON-parse every line (exact malformed-line report; slower)')
    .option(
      '--max-line-mib <n>',
      'longest line (or JSON value) read; longer ones are skipped and counted. Memory: about 100 MiB + 7 x this (src/audit/README.md)',
      parseLineMib,
      DEFAULT_MAX_LINE_BYTES / 1048576,
    )
    .option('--guard-name <text>', "text that marks the guard's webhook name in audit annotations", DEFAULT_GUARD_NAME)
    .option('--config <file>', "the guard's config file: its finalizerGuards are followed like the built-in OLM one")
    .addHelpText(
      'after',
      '\nExit status: 0 no findings, 1 findings, 2 bad usage or an input not read to its end (damaged, not an audit log, unreadable; findings are still reported), 3 nothing analysed (no event inside --since/--until, or none usable).\nJSON report schema: src/audit/report.schema.json (schemaVersion 1).',
    )
    .action(async (files: string[], flags: ReviewFlags) => {
      process.exitCode = await reviewAction(files, flags);
    });
}

/** One line on stderr; text from the log or the file system is escaped (see terminal.ts). */
function say(line: string): void {
  process.stderr.write(`teardown-guard review: ${escapeControls(line)}\n`);
}

const quietStreams = new WeakSet<NodeJS.WriteStream>();

/**
 * A reader that went away (`review ... | head`) is not an error: EPIPE on stdout or stderr is
 * ignored and the review ends with its own exit status, without a stack trace.
 */
function ignoreClosedPipes(): void {
  for (const s of [process.stdout, process.stderr]) {
    if (quietStreams.has(s)) continue;
    quietStreams.add(s);
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') process.exitCode = 2;
    });
  }
}

/** Writes the report; resolves to an error message when it could not be written (EPIPE is not one). */
function writeReport(text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    try {
      process.stdout.write(text, (err?: Error | null) => {
        const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
        resolve(err && code !== 'EPIPE' ? `cannot write the report: ${code ?? err.message}` : undefined);
      });
    } catch (err) {
      resolve(`cannot write the report: ${(err as Error).message}`);
    }
  });
}

/** What stderr says besides the report: damaged inputs, nothing analysed, skipped lines. */
function notes(report: ReviewReport, format: ReviewFlags['format']): void {
  for (const i of report.inputs) {
    if (!i.problem) continue;
    const at = problemWhere(i);
    say(`${i.name}: ${i.problem.message}${at ? ` (${at})` : ''}${i.events > 0 ? `; its ${i.events} events before that are in the report` : ''}`);
  }
  const s = report.summary;
  if (s.outcome === 'nothing-analysed') say(`nothing analysed: ${s.events} events read, none used`);
  if (s.malformedLines > 0 && format !== 'human') say(`${s.malformedLines} malformed line(s) skipped (listed in the report)`);
}

export async function reviewAction(files: string[], flags: ReviewFlags): Promise<number> {
  ignoreClosedPipes();
  if (flags.since !== undefined && flags.until !== undefined && flags.since >= flags.until) {
    say('--since must be before --until');
    return 2;
  }
  if (files.filter((f) => f === '-').length > 1) {
    say('stdin (-) can be given once');
    return 2;
  }
  let finalizerGuards: FinalizerGuard[] | undefined;
  if (flags.config !== undefined) {
    // Loaded only when asked: review's start-up does not pay for the config machinery otherwise.
    const { ConfigError, loadPolicySettings } = await import('../config.ts');
    try {
      finalizerGuards = loadPolicySettings(flags.config).finalizerGuards;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const problem of err.problems) say(problem);
      return 2;
    }
  }
  const progress = progressPrinter();
  let result;
  try {
    result = await runReview({
      ...(finalizerGuards ? { finalizerGuards } : {}),
      inputs: files,
      windowMs: flags.windowSeconds * 1000,
      strict: flags.strict === true,
      guardName: flags.guardName,
      ...(flags.maxLineMib !== undefined ? { maxLineBytes: flags.maxLineMib * 1048576 } : {}),
      onProgress: (p) => progress.update(p),
      ...(flags.since !== undefined ? { since: flags.since } : {}),
      ...(flags.until !== undefined ? { until: flags.until } : {}),
      ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
      ...(flags.user !== undefined ? { user: flags.user } : {}),
    });
  } finally {
    progress.done();
  }
  const filters: Record<string, string> = {};
  if (flags.since !== undefined) filters['since'] = new Date(flags.since).toISOString();
  if (flags.until !== undefined) filters['until'] = new Date(flags.until).toISOString();
  if (flags.namespace !== undefined) filters['namespace'] = flags.namespace;
  if (flags.user !== undefined) filters['user'] = flags.user;
  const report = buildReport(result, { version: VERSION, filters });
  const text = flags.format === 'json' ? renderJson(report) : flags.format === 'markdown' ? renderMarkdown(report) : renderHuman(report);
  const failed = await writeReport(text);
  // The human report on a terminal already says all of it.
  if (flags.format !== 'human' || process.stdout.isTTY !== true) notes(report, flags.format);
  if (failed) {
    say(failed);
    return 2;
  }
  return report.summary.exitCode;
}
