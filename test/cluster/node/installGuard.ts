// Installs the guard on a node cluster the way README.md ("Install on a cluster") tells users:
// certificates from certs/generate.sh, `kubectl apply -k` of an overlay, `kubectl rollout status`.
// The overlay is generated next to a copy of manifests/ and only changes the image reference
// (kustomize `images`) on top of overlays/self-signed, so the working tree and its
// overlays/self-signed/generated/ are never touched.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ControlPlane } from '../controlPlane.ts';
import { repoRoot } from '../paths.ts';
import { runOk } from '../proc.ts';

export const GUARD_NAMESPACE = 'teardown-guard';
export const GUARD_DEPLOYMENT = 'teardown-guard';

export interface InstalledGuard {
  /** The generated overlay (`kubectl delete -k` it to uninstall). */
  overlayDir: string;
  /** From `kubectl apply -k` until `rollout status` reports every replica updated and available. */
  installMs: number;
}

/** Splits `registry/path:tag` into kustomize's newName and newTag. */
function splitRef(ref: string): { newName: string; newTag: string } {
  const i = ref.lastIndexOf(':');
  if (i <= ref.lastIndexOf('/')) throw new Error(`image reference without a tag: ${ref}`);
  return { newName: ref.slice(0, i), newTag: ref.slice(i + 1) };
}

/** Writes the copy of manifests/, its certificates and the image overlay under `workDir`. */
export async function prepareGuardOverlay(workDir: string, imageRef: string): Promise<string> {
  const manifests = join(workDir, 'manifests');
  cpSync(join(repoRoot, 'manifests'), manifests, { recursive: true });
  const generated = join(manifests, 'overlays', 'self-signed', 'generated');
  rmSync(generated, { recursive: true, force: true });
  await runOk('bash', [join(repoRoot, 'certs', 'generate.sh'), '--out', join(workDir, 'certs'), '--kustomize-dir', generated, '--days', '2', '--ca-days', '2'], { timeoutMs: 60_000 });
  const overlayDir = join(manifests, 'overlays', 'node-image');
  mkdirSync(overlayDir, { recursive: true });
  writeFileSync(join(overlayDir, 'kustomization.yaml'), stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: ['../self-signed'],
    images: [{ name: 'teardown-guard', ...splitRef(imageRef) }],
  }));
  return overlayDir;
}

export async function installGuard(cp: ControlPlane, workDir: string, imageRef: string, timeoutMs = 180_000): Promise<InstalledGuard> {
  const overlayDir = await prepareGuardOverlay(workDir, imageRef);
  const t0 = Date.now();
  const apply = await cp.kubectl(['apply', '-k', overlayDir]);
  if (apply.code !== 0) throw new Error(`kubectl apply -k failed:\n${apply.stdout}\n${apply.stderr}`);
  const status = await cp.kubectl(['-n', GUARD_NAMESPACE, 'rollout', 'status', `deploy/${GUARD_DEPLOYMENT}`, `--timeout=${Math.round(timeoutMs / 1000)}s`], { timeoutMs: timeoutMs + 10_000 });
  if (status.code !== 0) throw new Error(`rollout status failed:\n${status.stdout}\n${status.stderr}`);
  return { overlayDir, installMs: Date.now() - t0 };
}
