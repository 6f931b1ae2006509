// Memory of a process as Linux accounts it (/proc), for the benchmark's RSS breakdown.
import { readFileSync } from 'node:fs';

/**
 * Sums Rss of /proc/PID/smaps by mapping: [heap] (glibc main arena), anonymous, file-backed, other;
 * lazyFree is the part of them already freed with MADV_FREE (reclaimable, but still in RSS).
 */
export function residentByMapping(pid: number | 'self'): Record<string, number> {
  const out: Record<string, number> = { heap: 0, anonymous: 0, files: 0, other: 0, lazyFree: 0 };
  let current = 'other';
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const header = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
      if (header) {
        const name = header[1] ?? '';
        current = name === '[heap]' ? 'heap' : name === '' ? 'anonymous' : name.startsWith('/') ? 'files' : 'other';
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) out[current] = (out[current] ?? 0) + Number(rss[1]) * 1024;
      // Freed with MADV_FREE: still counted in RSS until the kernel needs the memory back.
      const lazy = /^LazyFree:\s+(\d+) kB/.exec(line);
      if (lazy) out['lazyFree'] = (out['lazyFree'] ?? 0) + Number(lazy[1]) * 1024;
    }
  } catch {
    /* not Linux */
  }
  return out;
}

/**
 * RSS of a fresh Node process (same flags as the guard) after importing `specifier` and a full
 * GC, in bytes; `undefined` specifier = bare Node. Separates what the modules cost from the data.
 */
export async function rssAfterImport(specifier: string | undefined, execArgv: string[]): Promise<number> {
  const { spawn } = await import('node:child_process');
  const code = `${specifier ? `await import(${JSON.stringify(specifier)});` : ''} globalThis.gc(); globalThis.gc(); process.stdout.write(String(process.memoryUsage().rss));`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...execArgv, '--expose-gc', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(Number(out) || Number.NaN);
    });
  });
}
