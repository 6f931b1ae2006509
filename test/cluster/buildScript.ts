// Builds that a test or the bench starts on first use (a pinned component's Go build, minutes on 2
// cores): the script's `[build]` progress lines go to the caller's log as they come, and the build
// runs in a process group of its own, so its timeout and the caller's exit take `go` and its
// compilers down with it.
import { spawn } from 'node:child_process';

/** Runs `bash script`; resolves once it exits 0, rejects with its exit code and stderr's tail otherwise. */
export async function runBuildScript(what: string, script: string, log: (line: string) => void, timeoutMs: number): Promise<void> {
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let errTail = '';
  const forward = (b: Buffer): void => {
    for (const line of b.toString('utf8').split('\n')) if (line.startsWith('[build]')) log(line);
  };
  child.stdout.on('data', forward);
  child.stderr.on('data', (b: Buffer) => {
    forward(b);
    errTail = (errTail + b.toString('utf8')).slice(-3000);
  });
  const killBuild = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(killBuild, timeoutMs);
  process.once('exit', killBuild);
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  process.off('exit', killBuild);
  if (code !== 0) throw new Error(`building ${what} failed (exit ${code}):\n${errTail}`);
}
