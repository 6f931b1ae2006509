// What a guard process allocates, garbage included: V8's sampling heap profiler with the objects
// that minor and major GCs collected kept in the profile. `node --heap-prof` keeps only what is
// still live at exit, which hides exactly the short-lived garbage of a review that drives the
// scavenges the webhook bench counts.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** The guard process (guardProcess.ts) samples its allocations into this directory when set. */
export const ALLOC_PROF_ENV = 'BENCH_ALLOC_PROF_DIR';

export interface AllocationSampling {
  /** Stops sampling and writes `alloc-<pid>.heapprofile` (opens in Chrome DevTools) into `dir`. */
  writeTo(dir: string): Promise<string>;
}

/** Starts sampling every ~8 KiB allocated (V8's default is 32 KiB; a review allocates less). */
export async function startAllocationSampling(samplingIntervalBytes = 8192): Promise<AllocationSampling> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: samplingIntervalBytes,
    includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true,
  });
  return {
    async writeTo(dir) {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
      session.disconnect();
      const path = join(dir, `alloc-${process.pid}.heapprofile`);
      await writeFile(path, JSON.stringify(profile));
      return path;
    },
  };
}

export interface AllocationShare {
  name: string;
  bytes: number;
}

/** Bytes allocated per function, self and with its callees (inclusive), largest first. */
export function summarizeAllocations(head: SamplingNode, n = 25): { totalBytes: number; self: AllocationShare[]; inclusive: AllocationShare[] } {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const nameOf = (f: SamplingNode['callFrame']): string => {
    const file = f.url.replace(/^.*\/(src|test|node_modules)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  };
  let totalBytes = 0;
  const walk = (node: SamplingNode, onStack: Set<string>): number => {
    const name = nameOf(node.callFrame);
    let bytes = node.selfSize;
    self.set(name, (self.get(name) ?? 0) + node.selfSize);
    totalBytes += node.selfSize;
    const first = !onStack.has(name);
    if (first) onStack.add(name);
    for (const child of node.children) bytes += walk(child, onStack);
    if (first) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + bytes);
    }
    return bytes;
  };
  walk(head, new Set());
  const top = (m: Map<string, number>): AllocationShare[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, bytes]) => ({ name, bytes }));
  return { totalBytes, self: top(self), inclusive: top(inclusive) };
}
