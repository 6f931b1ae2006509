// Child-process plumbing for the loopback cluster: long-running daemons in their own process
// groups with output to log files, short commands with a hard timeout, and cleanup that runs
// on normal exit, on SIGINT/SIGTERM, and (through a detached watchdog) even when this process
// is killed outright.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { clusterDir } from './paths.ts';

/** Whether a process exists (EPERM: it exists, but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Daemon {
  name: string;
  child: ChildProcess;
  logPath: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  isRunning(): boolean;
  /** SIGTERM to the whole process group, SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

interface Registry {
  dirs: Set<string>;
  groups: Set<number>;
}
const registry: Registry = { dirs: new Set(), groups: new Set() };
let handlersInstalled = false;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
}

/** Synchronous last-resort cleanup: every registered process group gets SIGKILL, dirs removed. */
function cleanupSync(): void {
  for (const g of registry.groups) killGroup(g, 'SIGKILL');
  registry.groups.clear();
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  exitCleanups.clear();
  for (const d of registry.dirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  registry.dirs.clear();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      const code = sig === 'SIGINT' ? 130 : 143;
      const hooks = [...shutdownHooks];
      if (!hooks.length) {
        cleanupSync();
        process.exit(code);
      }
      // Graceful first (bounded), then the synchronous sweep.
      const hard = setTimeout(() => {
        cleanupSync();
        process.exit(code);
      }, 15_000);
      void Promise.allSettled(hooks.map((h) => h())).then(() => {
        clearTimeout(hard);
        cleanupSync();
        process.exit(code);
      });
    });
  }
}

const exitCleanups = new Set<() => void>();
/**
 * Registers a synchronous step of the last-resort cleanup, run after the process groups are
 * killed and before the registered dirs are removed (the node mode's host restore).
 */
export function onExitCleanup(fn: () => void): () => void {
  installHandlers();
  exitCleanups.add(fn);
  return () => {
    exitCleanups.delete(fn);
  };
}

const shutdownHooks = new Set<() => Promise<void>>();
/** Registers an async stop to run (bounded to 15s) on SIGINT/SIGTERM/SIGHUP before the hard sweep. */
export function onSignalShutdown(hook: () => Promise<void>): () => void {
  installHandlers();
  shutdownHooks.add(hook);
  return () => {
    shutdownHooks.delete(hook);
  };
}

/** A directory whose contents are removed on exit unless unregistered. */
export function registerDir(dir: string): void {
  installHandlers();
  registry.dirs.add(dir);
}
export function unregisterDir(dir: string): void {
  registry.dirs.delete(dir);
}

/**
 * Starts a detached watchdog that kills the process groups listed in `groupsFile` and removes
 * `dir` as soon as process `ownerPid` is gone (covers SIGKILL of a test worker). With
 * `nodeLockDir` it first runs the node's restore script (node/lock.ts) if the owner still holds it. It exits by
 * itself when `dir` disappears (normal stop) or its owner dies.
 */
export function startWatchdog(ownerPid: number, dir: string, groupsFile: string, nodeLockDir?: string): void {
  const args = [join(clusterDir, 'watchdog.ts'), String(ownerPid), dir, groupsFile, ...(nodeLockDir ? [nodeLockDir] : [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

export interface StartOptions {
  name: string;
  cmd: string;
  args: string[];
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** File listing process-group ids for the watchdog (one per line). */
  groupsFile?: string;
}

export function startDaemon(o: StartOptions): Daemon {
  installHandlers();
  const logPath = join(o.logDir, `${o.name}.log`);
  const fd = openSync(logPath, 'a');
  const opts: SpawnOptions = { detached: true, stdio: ['ignore', fd, fd], env: o.env ?? process.env };
  if (o.cwd) opts.cwd = o.cwd;
  const child = spawn(o.cmd, o.args, opts);
  closeSync(fd);
  const pid = child.pid;
  let running = pid !== undefined;
  if (pid !== undefined) {
    registry.groups.add(pid);
    if (o.groupsFile) appendGroup(o.groupsFile, pid);
  }
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      running = false;
      resolve(`spawn error: ${err.message}`);
    });
    child.once('exit', (code, signal) => {
      running = false;
      // Kill anything the process left behind in its group.
      if (pid !== undefined) {
        killGroup(pid, 'SIGKILL');
        registry.groups.delete(pid);
      }
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    name: o.name,
    child,
    logPath,
    exited,
    isRunning: () => running,
    async stop(graceMs = 5000) {
      if (!running || pid === undefined) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A process's start time in clock ticks since boot (/proc/PID/stat, field 22). With the pid it
 * names one process: a suite spawns tens of thousands, so pids (pid_max is often 32768) come
 * round again within a run, and a bare pid recorded minutes ago may now be another lane's.
 */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; field 3 follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Lines of `groupsFile`: a process group's leader pid and its start time (processStartTicks). */
function appendGroup(file: string, pid: number): void {
  let cur = '';
  try {
    cur = existsSync(file) ? readFileSync(file, 'utf8') : '';
  } catch {
    /* ignore */
  }
  writeFileSync(file, `${cur}${pid} ${processStartTicks(pid) ?? '-'}\n`);
}

/**
 * The groups of `groupsFile` whose leader is still the process recorded there: a leader that
 * exited took its group down with it (startDaemon), and its pid may since belong to anyone.
 */
export function liveRecordedGroups(groupsFile: string): number[] {
  let text: string;
  try {
    text = readFileSync(groupsFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter(([pid, ticks]) => Number(pid) > 1 && ticks !== undefined && ticks !== '-' && processStartTicks(Number(pid)) === ticks)
    .map(([pid]) => Number(pid));
}

export function tail(path: string, lines = 40): string {
  try {
    const all = readFileSync(path, 'utf8').split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Runs a command to completion (own process group, killed after timeoutMs). Never throws on a non-zero exit. */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  installHandlers();
  return new Promise((resolve) => {
    const opts: SpawnOptions = { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? process.env };
    if (o.cwd) opts.cwd = o.cwd;
    const child = spawn(cmd, args, opts);
    const pid = child.pid;
    if (pid !== undefined) registry.groups.add(pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid, 'SIGKILL');
    }, o.timeoutMs ?? 120_000);
    const finish = (code: number, extra = '') => {
      clearTimeout(timer);
      if (pid !== undefined) registry.groups.delete(pid);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + extra + (timedOut ? `\n[killed after ${o.timeoutMs ?? 120_000}ms]` : ''),
        code,
      });
    };
    child.once('error', (e) => finish(127, `spawn error: ${e.message}`));
    child.once('close', (code, signal) => finish(code ?? (signal ? 128 : 1)));
    if (o.input !== undefined) child.stdin?.end(o.input);
    else child.stdin?.end();
  });
}

/** Runs a command and throws (with its output) when it fails. */
export async function runOk(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A currently free TCP port on 127.0.0.1 (the OS picks it; small race until the daemon binds). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Thrown from a waitFor check to stop waiting at once (e.g. the awaited process exited). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/** Polls `check` every intervalMs until it returns a non-undefined value or timeoutMs passes (a GiveUp error ends it early). */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
