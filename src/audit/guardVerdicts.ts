// Detector: the guard's own verdicts, read back from the audit annotations the API server
// records for its webhooks, and fail-open annotations showing it was bypassed.
import type { AuditRecord } from './event.ts';
import { actingUser, classifyUserAgent } from './event.ts';
import type { AuditFindingCode, AuditSeverity, Evidence, FindingObject } from './findings.ts';
import { MAX_EVIDENCE, evidenceOf } from './findings.ts';
import { dedupe, namespaceOfUri, ok, parseJsonObject, stableId, type DetectorContext } from './correlation.ts';

const FAILED_OPEN_PREFIXES = ['failed-open.validating.webhook.admission.k8s.io/', 'failed-open.mutation.webhook.admission.k8s.io/'];

interface GuardAggregate {
  code: AuditFindingCode;
  key: string;
  first: AuditRecord;
  last: AuditRecord;
  count: number;
  evidence: Evidence[];
  webhook: string;
  policies: Set<string>;
  messages: Set<string>;
  objects: Map<string, FindingObject>;
}

export class GuardVerdictDetector {
  private readonly ctx: DetectorContext;
  private readonly guardAggs = new Map<string, GuardAggregate>();

  constructor(ctx: DetectorContext) {
    this.ctx = ctx;
  }

  push(r: AuditRecord): void {
    if (r.annotations) this.onAnnotations(r);
  }

  /** Emits the aggregates quiet since before `horizonMs`. */
  sweep(horizonMs: number): void {
    for (const g of [...this.guardAggs.values()]) if (g.last.time < horizonMs) this.emitGuard(g);
  }

  flush(): void {
    for (const g of [...this.guardAggs.values()]) this.emitGuard(g);
    this.guardAggs.clear();
  }

  /**
   * The guard's verdicts, as the API server records a webhook's auditAnnotations: key
   * `<webhook name>/<policy>` with the JSON value `{"verdict":"deny|warn|audit|undecided|break-glass",
   * "mode":..., "findings":[{"code","severity","summary","objects"}], "reason"?}`, plus
   * `<webhook name>/break-glass` = `{"reason","user"}`. Fail-open: the API server's
   * `failed-open.validating.webhook.admission.k8s.io/round_N_index_M` = `<webhook name>`.
   */
  private onAnnotations(r: AuditRecord): void {
    const ann = r.annotations as Record<string, string>;
    const guard = this.ctx.opts.guardName;
    let breakGlass: string | undefined;
    let breakGlassHook: string | undefined;
    const verdicts: Array<{ webhook: string; policy: string; verdict: string; message?: string }> = [];
    for (const [k, v] of Object.entries(ann)) {
      if (typeof v !== 'string') continue;
      if (FAILED_OPEN_PREFIXES.some((p) => k.startsWith(p))) {
        if (v.includes(guard)) this.addGuard('guard-bypassed', r, v, undefined, undefined);
        continue;
      }
      if (!k.includes(guard)) continue;
      const slash = k.lastIndexOf('/');
      if (slash < 0) continue;
      const webhook = k.slice(0, slash);
      const field = k.slice(slash + 1);
      const value = parseJsonObject(v);
      if (field === 'break-glass') {
        breakGlass = typeof value?.['reason'] === 'string' ? value['reason'] : v;
        breakGlassHook = webhook;
        continue;
      }
      if (value && typeof value['verdict'] === 'string') {
        const msgs: string[] = [];
        if (Array.isArray(value['findings'])) {
          for (const f of value['findings'] as unknown[]) {
            if (typeof f === 'object' && f !== null && typeof (f as Record<string, unknown>)['summary'] === 'string')
              msgs.push((f as Record<string, string>)['summary'] as string);
          }
        }
        if (typeof value['reason'] === 'string') msgs.push(value['reason']);
        const item: { webhook: string; policy: string; verdict: string; message?: string } = {
          webhook,
          policy: field,
          verdict: value['verdict'].toLowerCase(),
        };
        if (msgs.length > 0) item.message = msgs.join(' / ');
        verdicts.push(item);
      }
    }
    for (const v of verdicts) {
      const code: AuditFindingCode | undefined =
        v.verdict === 'deny'
          ? 'guard-denied'
          : v.verdict === 'warn' || v.verdict === 'audit'
            ? 'guard-warned'
            : v.verdict === 'undecided'
              ? 'guard-undecided'
              : v.verdict === 'break-glass'
                ? 'guard-break-glass'
                : undefined;
      if (!code) continue;
      this.addGuard(code, r, v.webhook, v.policy, code === 'guard-break-glass' ? (breakGlass ?? v.message) : v.message);
    }
    if (breakGlass !== undefined && breakGlassHook !== undefined && !verdicts.some((v) => v.verdict === 'break-glass')) {
      this.addGuard('guard-break-glass', r, breakGlassHook, undefined, breakGlass);
    }
  }

  private addGuard(code: AuditFindingCode, r: AuditRecord, webhook: string, policy: string | undefined, message: string | undefined): void {
    const object = `${r.resource ?? ''}/${r.namespace ?? ''}/${r.name ?? ''}`;
    const key = `${code}\u0000${webhook}\u0000${actingUser(r)}\u0000${code === 'guard-bypassed' ? '' : object}`;
    let g = this.guardAggs.get(key);
    if (g && r.time - g.last.time > this.ctx.opts.windowMs) {
      this.emitGuard(g);
      g = undefined;
    }
    if (!g) {
      g = { code, key, first: r, last: r, count: 0, evidence: [], webhook, policies: new Set(), messages: new Set(), objects: new Map() };
      this.guardAggs.set(key, g);
    }
    g.count++;
    if (r.time >= g.last.time) g.last = r;
    if (policy) g.policies.add(policy);
    if (message && g.messages.size < 10) g.messages.add(message);
    const note =
      code === 'guard-bypassed'
        ? `webhook ${webhook} failed open: request admitted without the guard`
        : code === 'guard-break-glass'
          ? `break-glass used${message ? `: ${message}` : ''}`
          : `${code.replace('guard-', '')}${policy ? ` by ${policy}` : ''}${message ? `: ${message}` : ''}`;
    if (g.evidence.length < MAX_EVIDENCE) g.evidence.push(evidenceOf(r, note));
    if (r.resource && r.name && g.objects.size < MAX_EVIDENCE) {
      const state =
        code === 'guard-denied'
          ? ('denied' as const)
          : code === 'guard-bypassed' || code === 'guard-break-glass' || code === 'guard-warned'
            ? r.verb === 'delete' && ok(r.code)
              ? ('deleted' as const)
              : ('admitted' as const)
            : ('admitted' as const);
      const o: FindingObject = { resource: r.resource, apiGroup: r.apiGroup ?? '', name: r.name, state };
      if (r.namespace && r.resource !== 'namespaces') o.namespace = r.namespace;
      g.objects.set(object, o);
    }
  }

  private emitGuard(g: GuardAggregate): void {
    this.guardAggs.delete(g.key);
    const r = g.first;
    const user = actingUser(r);
    const what = `${r.verb} ${r.resource ?? r.requestURI}${r.name ? ` ${r.namespace && r.resource !== 'namespaces' ? `${r.namespace}/` : ''}${r.name}` : ''}`;
    const times = g.count > 1 ? ` (${g.count} requests)` : '';
    const policies = [...g.policies].join(', ');
    const messages = [...g.messages];
    const severity: Record<string, AuditSeverity> = {
      'guard-denied': 'low',
      'guard-warned': 'medium',
      'guard-undecided': 'medium',
      'guard-break-glass': 'medium',
      'guard-bypassed': 'high',
    };
    const titles: Record<string, string> = {
      'guard-denied': `teardown-guard denied ${what} by ${user}${times}`,
      'guard-warned': `teardown-guard warned on ${what} by ${user}${times}; it went ahead`,
      'guard-undecided': `teardown-guard could not decide on ${what} by ${user}${times}`,
      'guard-break-glass': `break-glass override: ${user} bypassed teardown-guard for ${what}${times}`,
      'guard-bypassed': `teardown-guard was bypassed: webhook ${g.webhook} failed open for ${g.count} request(s) by ${user}`,
    };
    const details: Record<string, string> = {
      'guard-denied': `The guard refused the request${policies ? ` (${policies})` : ''}; nothing was deleted. ${messages.join(' ')}`,
      'guard-warned': `The guard flagged the request${policies ? ` (${policies})` : ''} but its mode let it through. ${messages.join(' ')}`,
      'guard-undecided': `The guard could not decide${policies ? ` (${policies})` : ''}: its cluster view could not answer. ${r.code === 403 ? 'It is configured to deny when undecided, so the request was refused.' : 'It is configured to allow when undecided, so the request went ahead unchecked.'} ${messages.join(' ')}`,
      'guard-break-glass': `The object carried the break-glass annotation, so the guard let the deletion proceed. Reason given: ${messages.join(' ') || '(none)'}`,
      'guard-bypassed': `The API server could not reach webhook ${g.webhook} (timeout, TLS or connection error) and its failurePolicy is Ignore, so these requests were admitted without any check.`,
    };
    const remedies: Record<string, string[]> = {
      'guard-denied': ['Read the denial message (kubectl prints it) and follow its fix; re-run the deletion afterwards.'],
      'guard-warned': [
        'Check the warning: the deletion it describes may have left resources behind or stranded finalizers (see other findings in this report).',
        'Switch the policy to enforce mode if such deletions should be refused.',
      ],
      'guard-undecided': [
        "Check the guard's readiness and cluster-view sync (/readyz, teardown_guard metrics) around these times.",
        'Re-check the affected objects by hand (kubectl get) — the guard did not.',
      ],
      'guard-break-glass': [
        "Confirm the override was intended and the reason is acceptable; check the object's namespace for stranded finalizers or leftovers.",
      ],
      'guard-bypassed': [
        "Check the guard's availability at these times (pods, endpoints, certificate expiry): kubectl get validatingwebhookconfiguration -o yaml; kubectl -n <guard-namespace> get pods",
        'Review every request listed here by hand: they were admitted unchecked.',
        "If a bypass must never happen, set the webhook's failurePolicy to Fail (and exempt the guard's own namespace).",
      ],
    };
    const namespaces = dedupe(g.evidence.map((e) => namespaceOfUri(e.requestURI)).filter((x): x is string => x !== undefined));
    this.ctx.emit({
      id: stableId(g.code, g.key, r.timestamp),
      code: g.code,
      severity: severity[g.code] ?? 'medium',
      title: titles[g.code] ?? g.code,
      detail: (details[g.code] ?? '').trim(),
      firstSeen: r.timestamp,
      lastSeen: g.last.timestamp,
      namespaces,
      actor: { user, userAgent: r.userAgent, client: classifyUserAgent(r.userAgent).kind },
      objects: [...g.objects.values()],
      evidence: g.evidence,
      remedy: remedies[g.code] ?? [],
    });
  }
}
