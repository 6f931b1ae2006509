// Installs the guard on a node cluster the way README.md ("Install on a cluster") tells users:
// certificates from certs/generate.sh, `kubectl apply -k` of an overlay, `kubectl rollout status`.
// The overlay is generated next to a copy of manifests/ and only changes the image reference
// (kustomize `images`) on top of overlays/self-signed, so the working tree and its
// overlays/self-signed/generated/ are never touched.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /** certs/generate.sh's output dir (CA kept there, so a re-run rotates only the serving cert). */
  certsDir: string;
  /** From `kubectl apply -k` until `rollout status` reports every replica updated and available. */
  installMs: number;
}

/** Splits `registry/path:tag` into kustomize's newName and newTag. */
function splitRef(ref: string): { newName: string; newTag: string } {
  const i = ref.lastIndexOf(':');
  if (i <= ref.lastIndexOf('/')) throw new Error(`image reference without a tag: ${ref}`);
  return { newName: ref.slice(0, i), newTag: ref.slice(i + 1) };
}

const generatedDir = (workDir: string) => join(workDir, 'manifests', 'overlays', 'self-signed', 'generated');
const certsDir = (workDir: string) => join(workDir, 'certs');

/** certs/generate.sh into the copy's overlay inputs; keeps an existing CA (manifests/overlays/self-signed). */
async function generateCerts(workDir: string): Promise<void> {
  await runOk(
    'bash',
    [join(repoRoot, 'certs', 'generate.sh'), '--out', certsDir(workDir), '--kustomize-dir', generatedDir(workDir), '--days', '2', '--ca-days', '2'],
    { timeoutMs: 60_000 },
  );
}

/** The copy's manifests/base/config.yaml: what the ConfigMap generator turns into the guard's config. */
export const guardConfigPath = (workDir: string) => join(workDir, 'manifests', 'base', 'config.yaml');

/**
 * Writes the copy of manifests/, its certificates and the image overlay under `workDir`.
 * `editConfig` rewrites the copy's config.yaml (policy modes), as a user edits theirs.
 */
export async function prepareGuardOverlay(workDir: string, imageRef: string, editConfig?: (configYaml: string) => string): Promise<string> {
  const manifests = join(workDir, 'manifests');
  cpSync(join(repoRoot, 'manifests'), manifests, { recursive: true });
  if (editConfig) writeFileSync(guardConfigPath(workDir), editConfig(readFileSync(guardConfigPath(workDir), 'utf8')));
  rmSync(generatedDir(workDir), { recursive: true, force: true });
  await generateCerts(workDir);
  const overlayDir = join(manifests, 'overlays', 'node-image');
  mkdirSync(overlayDir, { recursive: true });
  writeFileSync(
    join(overlayDir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../self-signed'],
      images: [{ name: 'teardown-guard', ...splitRef(imageRef) }],
    }),
  );
  return overlayDir;
}

export async function installGuard(
  cp: ControlPlane,
  workDir: string,
  imageRef: string,
  timeoutMs = 180_000,
  editConfig?: (configYaml: string) => string,
): Promise<InstalledGuard> {
  const overlayDir = await prepareGuardOverlay(workDir, imageRef, editConfig);
  const installMs = await applyAndRollOut(cp, overlayDir, timeoutMs);
  return { overlayDir, certsDir: certsDir(workDir), installMs };
}

/** `kubectl apply -k` then `rollout status` until every replica is updated and available; returns the ms taken. */
export async function applyAndRollOut(cp: ControlPlane, overlayDir: string, timeoutMs = 180_000): Promise<number> {
  const t0 = Date.now();
  const apply = await cp.kubectl(['apply', '-k', overlayDir]);
  if (apply.code !== 0) throw new Error(`kubectl apply -k failed:\n${apply.stdout}\n${apply.stderr}`);
  const status = await cp.kubectl(['-n', GUARD_NAMESPACE, 'rollout', 'status', `deploy/${GUARD_DEPLOYMENT}`, `--timeout=${Math.round(timeoutMs / 1000)}s`], {
    timeoutMs: timeoutMs + 10_000,
  });
  if (status.code !== 0) throw new Error(`rollout status failed:\n${status.stdout}\n${status.stderr}`);
  return Date.now() - t0;
}

/**
 * Rotation as the self-signed overlay documents it: `certs/generate.sh` again (same CA, new
 * serving certificate) and re-apply. The Secret keeps its name, so the kubelet updates the mounted
 * files in place. Returns the new certificate's PEM.
 */
export async function rotateServingCert(cp: ControlPlane, installed: InstalledGuard): Promise<string> {
  const workDir = join(installed.certsDir, '..');
  await generateCerts(workDir);
  const apply = await cp.kubectl(['apply', '-k', installed.overlayDir]);
  if (apply.code !== 0) throw new Error(`kubectl apply -k failed:\n${apply.stdout}\n${apply.stderr}`);
  return readFileSync(join(installed.certsDir, 'tls.crt'), 'utf8');
}
