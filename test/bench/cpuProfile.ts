// Where a guard process spent its CPU: the self time of a V8 CPU profile (node --cpu-prof),
// summed per function and per package, so the bench's output names the hot path without opening
// DevTools.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  name: string;
  /** Share of all sampled time (idle included), 0..1. */
  share: number;
  ms: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Sampled time not idle, GC included. */
  busyMs: number;
  byFunction: ProfileShare[];
  byPackage: ProfileShare[];
}

/** The package a frame belongs to: node_modules/<pkg>, node:<builtin>, the guard's own src/, or V8 itself. */
function packageOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  if (url.startsWith('node:')) return url.split('/')[0] as string;
  const src = /\/(src|test)\/(.+)$/.exec(url);
  // The bundle (dist/) keeps every package in one file: its functions name the path inside it.
  return src ? `${src[1]}/${(src[2] as string).split('/')[0]}` : (url.split('/').pop() ?? url);
}

function top(totals: Map<string, number>, totalMs: number, n: number): ProfileShare[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms, share: ms / totalMs }));
}

export function summarizeCpuProfile(path: string, n = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    if (frame.functionName === '(idle)' || frame.functionName === '(program)') {
      if (frame.functionName === '(idle)') idleMs += ms;
      return;
    }
    const file = frame.url.split('/').pop() ?? '';
    const name = `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + ms);
    const p = packageOf(frame.url, frame.functionName);
    pkg.set(p, (pkg.get(p) ?? 0) + ms);
  });
  return { totalMs, busyMs: totalMs - idleMs, byFunction: top(fn, totalMs, n), byPackage: top(pkg, totalMs, n) };
}

export function formatProfileSummary(label: string, s: ProfileSummary): string {
  const list = (xs: ProfileShare[]): string => xs.map((x) => `${x.name} ${(x.share * 100).toFixed(1)}%`).join(', ');
  return (
    `CPU profile of ${label}: ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s sampled. ` +
    `Self time by package: ${list(s.byPackage)}. By function: ${list(s.byFunction)}.`
  );
}
