// Where the pinned binaries and OLM data live: the same cache build-binaries.sh fills
// (${TG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/teardown-guard}), keyed by version.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const clusterDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(clusterDir, '..', '..');

export function cacheDir(): string {
  const env = process.env;
  if (env.TG_CACHE_DIR) return env.TG_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'teardown-guard');
}

export interface Versions {
  ETCD_VERSION: string;
  KUBE_VERSION: string;
  OLM_VERSION: string;
  OLM_API_VERSION: string;
  HELM3_VERSION: string;
  HELM4_VERSION: string;
  HELM_CONTROLLER_VERSION: string;
  METRICS_SERVER_VERSION: string;
  NPM_VERSION: string;
  PROMETHEUS_VERSION: string;
  PROMETHEUS_DEB_VERSION: string;
  KUBE_ROUTER_VERSION: string;
}

let versionsMemo: Versions | undefined;
export function versions(): Versions {
  if (versionsMemo) return versionsMemo;
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(clusterDir, 'versions.env'), 'utf8').split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  for (const k of [
    'ETCD_VERSION',
    'KUBE_VERSION',
    'OLM_VERSION',
    'OLM_API_VERSION',
    'HELM3_VERSION',
    'HELM4_VERSION',
    'HELM_CONTROLLER_VERSION',
    'METRICS_SERVER_VERSION',
    'NPM_VERSION',
    'PROMETHEUS_VERSION',
    'PROMETHEUS_DEB_VERSION',
    'KUBE_ROUTER_VERSION',
  ]) {
    if (!out[k]) throw new Error(`test/cluster/versions.env: ${k} missing`);
  }
  versionsMemo = out as unknown as Versions;
  return versionsMemo;
}

/** Same key build-binaries.sh uses for the SDK program: sha256(go.mod+go.sum+main.go)[0:12]. */
export function helmSdkHash(): string {
  const d = join(clusterDir, 'go', 'helm-sdk-uninstall');
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) h.update(readFileSync(join(d, f)));
  return h.digest('hex').slice(0, 12);
}

export type BinaryName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kubectl'
  | 'olm'
  | 'helm3'
  | 'helm4'
  | 'helm-sdk-uninstall'
  | 'kubelet'
  | 'kube-scheduler'
  | 'helm-controller'
  | 'metrics-server';

export function binPath(name: BinaryName): string {
  const v = versions();
  const bin = join(cacheDir(), 'bin');
  switch (name) {
    case 'etcd':
      return join(bin, `etcd-${v.ETCD_VERSION}`);
    case 'kube-apiserver':
      return join(bin, `kube-apiserver-${v.KUBE_VERSION}`);
    case 'kube-controller-manager':
      return join(bin, `kube-controller-manager-${v.KUBE_VERSION}`);
    case 'kubectl':
      return join(bin, `kubectl-${v.KUBE_VERSION}`);
    case 'kubelet':
      return join(bin, `kubelet-${v.KUBE_VERSION}`);
    case 'kube-scheduler':
      return join(bin, `kube-scheduler-${v.KUBE_VERSION}`);
    case 'olm':
      return join(bin, `olm-${v.OLM_VERSION}`);
    case 'helm3':
      return join(bin, `helm-${v.HELM3_VERSION}`);
    case 'helm4':
      return join(bin, `helm-${v.HELM4_VERSION}`);
    case 'helm-sdk-uninstall':
      return join(bin, `helm-sdk-uninstall-${helmSdkHash()}`);
    case 'helm-controller':
      return join(bin, `helm-controller-${v.HELM_CONTROLLER_VERSION}`);
    case 'metrics-server':
      return join(bin, `metrics-server-${v.METRICS_SERVER_VERSION}`);
  }
}

export function olmDataDir(): string {
  return join(cacheDir(), 'data', `olm-${versions().OLM_VERSION}`);
}

/** Flux's CRDs (helm-controller's and the source-controller ones it watches), extracted by build-binaries.sh. */
export function fluxDataDir(): string {
  return join(cacheDir(), 'data', `flux-${versions().HELM_CONTROLLER_VERSION}`);
}

export const allBinaries: BinaryName[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'olm', 'helm3', 'helm4', 'helm-sdk-uninstall'];

/** Names of the pinned binaries (and OLM data) not yet in the cache. */
export function missingComponents(names: BinaryName[] = allBinaries): string[] {
  const missing: string[] = names.filter((n) => !existsSync(binPath(n)));
  if (!existsSync(join(olmDataDir(), '.complete'))) missing.push('olm-data');
  return missing;
}
