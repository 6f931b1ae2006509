// The committed list of real operators (operators.json): where each comes from (a Go module at a
// pinned version), how it is installed, which of its workloads runs and as what, and which of its
// resource types carry a finalizer. Read by the build-time extraction (extract.ts), the stand-ins
// (standIn/) and the harness (harness.ts).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, repoRoot } from '../cluster/paths.ts';

export const operatorsDir = dirname(fileURLToPath(import.meta.url));

export type Scope = 'Namespaced' | 'Cluster';
/** How the chart ships its CRDs: Helm's crds/ (never deleted), templates/ (deleted on uninstall), the controller at runtime, or inline in a plain manifest. */
export type CrdPlacement = 'crds' | 'templates' | 'runtime' | 'manifest';

export interface FinalizedType {
  group: string;
  version: string;
  resource: string;
  kind: string;
  scope: Scope;
  finalizer: string;
  added: string;
  removed: string;
  /** file:function in the operator's source at the pinned version. */
  source: string;
  standIn: string;
  /** For kinds an operator defines at runtime (Crossplane's composite resources): the kind the samples define. */
  sampleKind?: { group: string; version: string; resource: string; kind: string };
}

export interface WorkloadSpec {
  /** What the stand-in does for this workload: controller, rbac-manager, argocd-server, idle. */
  role: string;
  kind: 'Deployment' | 'StatefulSet';
  /** Named as the chart names it for the manifest's release name. */
  name: string;
  serviceAccount: string;
  /** Image name without tag, and (for images running several programs) the container's first command or argument. */
  image: string;
  arg0?: string;
  run: 'real' | 'stand-in';
  /** The field manager kube-apiserver records for the real program's updates. */
  fieldManager: string;
  fieldManagerSource: string;
  why: string;
}

export interface InstallSpec {
  method: 'helm' | 'kubectl';
  /** Module-relative chart directory, or `@project:<repo path>` for a chart of this repository. */
  chart?: string;
  /** Module-relative manifest file (method kubectl). */
  manifest?: string;
  release?: string;
  namespace: string;
  /** Module-relative CRD directories applied before the install. */
  preInstallCrds?: string[];
  values: Record<string, unknown>;
  valuesWhy: Record<string, string>;
  crds: CrdPlacement;
  crdsWhy: string;
  fixedNamespace: boolean;
  fixedNamespaceWhy?: string;
}

export interface Neutralisation {
  object: string;
  change: string;
  why: string;
}

export interface OperatorSpec {
  name: string;
  displayName: string;
  module: string;
  version: string;
  license: string;
  /** Module-relative paths copied into the cache at build time. */
  extract: string[];
  install: InstallSpec;
  workloads: WorkloadSpec[];
  finalized: FinalizedType[];
  /** Relative to this directory. */
  samples: string;
  neutralised: Neutralisation[];
  /** Fail-closed webhook configurations of the operator, which refuse a finalizer's removal by hand while it is stopped. */
  webhookConfigurations: string[];
  /** API groups of the CRDs the operator brings (its chart's, its manifest's, the ones it creates at runtime): what cleanup deletes. */
  crdGroups: string[];
  caveats?: string[];
}

export interface OperatorsManifest {
  about: string;
  operators: OperatorSpec[];
}

let memo: OperatorsManifest | undefined;

export function loadManifest(): OperatorsManifest {
  if (memo) return memo;
  const m = JSON.parse(readFileSync(join(operatorsDir, 'operators.json'), 'utf8')) as OperatorsManifest;
  const problems = validateManifest(m);
  if (problems.length) throw new Error(`test/operators/operators.json: ${problems.join('; ')}`);
  memo = m;
  return m;
}

/** What a manifest entry must say for the harness to use it; the list of what is missing or inconsistent. */
export function validateManifest(m: OperatorsManifest): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  for (const op of m.operators) {
    const at = `operator ${op.name}`;
    if (names.has(op.name)) out.push(`${at}: duplicate name`);
    names.add(op.name);
    if (!/^v\d+\.\d+\.\d+$/.test(op.version)) out.push(`${at}: version ${op.version} is not vX.Y.Z`);
    if (op.install.method === 'helm' && !op.install.chart) out.push(`${at}: helm install without a chart`);
    if (op.install.method === 'kubectl' && !op.install.manifest) out.push(`${at}: kubectl install without a manifest`);
    const local = op.install.chart?.startsWith('@project:');
    for (const p of [op.install.chart, op.install.manifest, ...(op.install.preInstallCrds ?? [])]) {
      if (p && !p.startsWith('@project:') && !op.extract.some((e) => p === e || p.startsWith(`${e}/`))) out.push(`${at}: ${p} is not under an extracted path`);
    }
    if (!local && op.extract.length === 0) out.push(`${at}: nothing extracted`);
    if (!op.workloads.some((w) => w.role === 'controller')) out.push(`${at}: no controller workload`);
    for (const k of Object.keys(op.install.values)) {
      if (!Object.keys(op.install.valuesWhy).some((w) => w === k || w.startsWith(`${k}.`))) out.push(`${at}: value ${k} is not explained in valuesWhy`);
    }
    if (op.finalized.length === 0) out.push(`${at}: no finalized type`);
    if (!existsSync(join(operatorsDir, op.samples))) out.push(`${at}: samples ${op.samples} missing`);
  }
  return out;
}

export function operatorSpec(name: string): OperatorSpec {
  const op = loadManifest().operators.find((o) => o.name === name);
  if (!op) throw new Error(`no operator ${name} in test/operators/operators.json`);
  return op;
}

/** Where extract.ts puts an operator's files: <cache>/data/operators/<name>-<version>, module paths kept. */
export function operatorDataDir(op: Pick<OperatorSpec, 'name' | 'version'>): string {
  return join(cacheDir(), 'data', 'operators', `${op.name}-${op.version}`);
}

/** An install path of the manifest on this machine: in the extracted data, or in this repository (`@project:`). */
export function operatorPath(op: OperatorSpec, p: string): string {
  return p.startsWith('@project:') ? join(repoRoot, p.slice('@project:'.length)) : join(operatorDataDir(op), p);
}

/** Whether extract.ts finished this operator (its `.complete` marker). */
export function operatorDataReady(op: OperatorSpec): boolean {
  return op.extract.length === 0 || existsSync(join(operatorDataDir(op), '.complete'));
}
