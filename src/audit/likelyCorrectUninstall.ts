// When an uninstall session's 404s outside its records' namespace are most likely a correct
// uninstall's, and what the report says then. A Metadata-level log (the level most clusters use)
// has no bodies: it shows neither the release's payload (where it lives) nor the deleted objects'
// meta.helm.sh annotations, so it cannot tell incident B (src/ARCHITECTURE.md §1C: the Helm SDK
// with storage in one namespace and its kube client in another) from two correct teardowns whose
// objects were already gone. Who sent the uninstall tells them apart:
//
// - The Helm CLI. It initialises release storage and its kube client from one setting:
//   `actionConfig.Init(settings.RESTClientGetter(), settings.Namespace(), ...)` (Helm 3
//   cmd/helm/helm.go, Helm 4 pkg/cmd/root.go), where `settings.Namespace()` and the kube client's
//   default namespace (pkg/kube/client.go `namespace()`) both read the same kubeconfig loader
//   (pkg/cli/environment.go). So it deletes every object without a namespace of its own in the
//   records' namespace; a DELETE elsewhere is an object the chart places there (metadata.namespace),
//   and a 404 there means it was already gone. Its user agent is `Helm/<major.minor.patch>`: release
//   builds stamp the full version (Makefile: `-X helm.sh/helm/v3/internal/version.version=...`),
//   while a Go program using the SDK sends the library's built-in `Helm/<major.minor>`
//   (internal/version/version.go) or its own (src/audit/event.ts classifyUserAgent).
// - Flux's helm-controller: a client that also writes HelmReleases (helmReleaseWriters.ts) keeps
//   records in the HelmRelease's namespace (or spec.storageNamespace) and deletes in
//   spec.targetNamespace (helm-controller api/v2 GetStorageNamespace, GetReleaseNamespace;
//   internal/controller/helmrelease_controller.go buildRESTClientGetter, reconcileUninstall).
//
// Either is reported as low, never silenced: a user agent is what the client says it is, and
// the log cannot show the objects. The text says what would confirm or clear it.
import { classifyUserAgent } from './event.ts';
import type { HelmReleaseWrite } from './helmReleaseWriters.ts';
import { dedupe, iso } from './correlation.ts';

export type CorrectUninstallSign = { kind: 'helm-cli' } | { kind: 'helmrelease-reconciler'; helmReleases: HelmReleaseWrite[] };

/** Why this client's DELETEs outside the records' namespace are most likely correct, or undefined. */
export function correctUninstallSign(userAgent: string, helmReleaseWrites: HelmReleaseWrite[]): CorrectUninstallSign | undefined {
  if (helmReleaseWrites.length > 0) return { kind: 'helmrelease-reconciler', helmReleases: helmReleaseWrites };
  if (classifyUserAgent(userAgent).kind === 'helm-cli') return { kind: 'helm-cli' };
  return undefined;
}

/** A DELETE the session sent: where, what, and its answer. */
export interface SessionDelete {
  namespace: string;
  /** kubectl's form: `configmaps/x`, `deployments.apps/y`. */
  ref: string;
  code: number;
}

export interface UnconfirmedUninstall {
  sign: CorrectUninstallSign;
  /** Where the records are. */
  releaseNamespace: string;
  /** Where the release lives as far as the log shows (the records' namespace unless logged ownership says otherwise). */
  home: string;
  release: string;
  user: string;
  userAgent: string;
  first: number;
  last: number;
  /** How the records ended: purged, marked uninstalled (--keep-history), or neither in the log. */
  ending: 'purged' | 'marked' | 'open';
  recordDesc: string;
  latestRecord: string | undefined;
  outside: SessionDelete[];
  inside: SessionDelete[];
}

/** Title, detail and remedy of a low `misdirected-uninstall`: most likely correct, unconfirmed. */
export function unconfirmedUninstallText(u: UnconfirmedUninstall): { title: string; detail: string; remedy: string[] } {
  const ns = u.releaseNamespace;
  const home = u.home;
  const notFound = u.outside.filter((d) => d.code === 404);
  const elsewhere = dedupe(u.outside.map((d) => d.namespace)).sort();
  const goneRefs = dedupe(notFound.map((d) => d.ref));
  const byNamespace = elsewhere
    .map((n) => ({ namespace: n, refs: dedupe(notFound.filter((d) => d.namespace === n).map((d) => d.ref)) }))
    .filter((x) => x.refs.length > 0);
  const hrs = u.sign.kind === 'helmrelease-reconciler' ? namedHelmReleases(u.release, elsewhere, u.sign.helmReleases) : [];
  const hrNames = hrs.map((h) => `${h.namespace}/${h.name}`);
  const more = u.sign.kind === 'helmrelease-reconciler' ? u.sign.helmReleases.length - hrs.length : 0;
  const who =
    u.sign.kind === 'helm-cli'
      ? `the Helm CLI (${u.userAgent})`
      : `${u.userAgent}, the client that also wrote HelmRelease ${hrNames.join(', ')} at ${hrs[0] ? iso(hrs[0].time) : '?'}${more > 0 ? ` and ${more} other HelmRelease(s)` : ''}: Flux's helm-controller`;
  const likely = u.sign.kind === 'helm-cli' ? 'objects its chart places there, already gone' : "its HelmRelease's targetNamespace, objects already gone";
  const ended =
    u.ending === 'purged'
      ? `Helm then purged the release records (${u.recordDesc}) in ${ns}.`
      : u.ending === 'marked'
        ? `Helm then marked the release uninstalled (--keep-history) in ${ns}.`
        : `The release records in ${ns} were not purged in the log.`;
  const why =
    u.sign.kind === 'helm-cli'
      ? `The Helm CLI takes the namespace of its release storage and of its kube client from one setting (--namespace, HELM_NAMESPACE or the kube context), so it deletes every object without a namespace of its own in ${ns}: a DELETE in ${elsewhere.join(', ')} is an object the chart places there (metadata.namespace), and a 404 means it was already gone. ` +
        'Incident B (helm/helm#12766), release storage in one namespace and DELETEs in another, happens in Go programs using the Helm SDK, which send Helm/<major>.<minor> or their own user agent, not a full CLI version.'
      : `Flux's helm-controller keeps a release's records in the HelmRelease's namespace (or spec.storageNamespace) and deploys it into spec.targetNamespace, so its DELETEs belong in the target namespace, and a 404 there means the object was already gone.` +
        fluxNaming(u.release, elsewhere, hrs);
  const detail = [
    `Release ${ns}/${u.release} was uninstalled by ${u.user} through ${who}, between ${iso(u.first)} and ${iso(u.last)}.`,
    `${u.outside.length} of its DELETEs went to ${elsewhere.join(', ')} and ${u.inside.length === 0 ? 'none' : u.inside.length} to ${home}; ${notFound.length} answered 404 Not Found (${goneRefs.join(' ')}).`,
    ended,
    why,
    'This log has no bodies for these objects (Metadata level): it cannot show their meta.helm.sh/release-* annotations, so a misdirected uninstall is not ruled out. Reported as low, unconfirmed.',
  ].join(' ');
  const get = (n: string, refs: string[]) => `kubectl get -n ${n} ${refs.join(' ')}`;
  const remedy = [
    `Clear it: ${byNamespace.map((x) => get(x.namespace, x.refs)).join('; ')}; and ${get(home, goneRefs)}: NotFound everywhere means they were already gone and nothing was left.`,
    `Confirm it: an object that command finds in ${home} annotated meta.helm.sh/release-name=${u.release} was left behind by a misdirected uninstall (delete it: kubectl delete -n ${home} ${goneRefs.join(' ')}).`,
    u.sign.kind === 'helm-cli'
      ? `Where the chart puts them: helm template ${u.release} CHART -n ${ns} shows metadata.namespace: ${elsewhere.join(' or ')} on ${goneRefs.join(' ')}.`
      : `Where the release lives: spec.targetNamespace of the HelmRelease names ${elsewhere.join(' or ')} (${hrs
          .map((h) => `kubectl get helmrelease -n ${h.namespace} ${h.name} -o jsonpath='{.spec.targetNamespace}'`)
          .join('; ')}; once it is deleted, its manifest in the source Flux applies).`,
    'A log that records these resources at Request or RequestResponse level shows their meta.helm.sh annotations (the install that created them, any update), and the review then tells by itself.',
    `teardown-guard's helm-uninstall-namespace policy reads the release's payload when the records are purged: with the guard running, a guard-warned (or, in enforce mode, guard-denied) finding on ${u.latestRecord ?? `the records of ${u.release}`} in ${ns} confirms a misdirection, and none clears it.`,
  ];
  return {
    title: `unconfirmed misdirected uninstall: release ${ns}/${u.release} got ${notFound.length}× 404 in ${elsewhere.join(', ')}, most likely ${likely} (${u.sign.kind === 'helm-cli' ? 'Helm CLI' : 'Flux helm-controller'})`,
    detail,
    remedy,
  };
}

/**
 * The HelmReleases to name: those whose name the release's carries (Flux's naming, below), else
 * the first three the client wrote (a controller of many HelmReleases writes many).
 */
function namedHelmReleases(release: string, elsewhere: string[], hrs: HelmReleaseWrite[]): HelmReleaseWrite[] {
  const named = hrs.filter((h) => release === h.name || elsewhere.some((t) => release === `${t}-${h.name}`));
  return named.length > 0 ? named : hrs.slice(0, 3);
}

/** Flux names a release `<targetNamespace>-<HelmRelease name>` unless spec.releaseName says otherwise (api/v2 GetReleaseName). */
function fluxNaming(release: string, elsewhere: string[], hrs: HelmReleaseWrite[]): string {
  for (const target of elsewhere) {
    const hr = hrs.find((h) => release === `${target}-${h.name}`);
    if (hr) return ` The release name ${release} is Flux's default for HelmRelease ${hr.namespace}/${hr.name} with spec.targetNamespace ${target}.`;
  }
  return '';
}
