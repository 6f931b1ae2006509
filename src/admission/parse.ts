// Validates an incoming body as an admission.k8s.io/v1 AdmissionReview request. Every rejection
// says what was wrong, so a misconfigured webhook registration is easy to diagnose.
import type { AdmissionRequest, AdmissionReview } from '../k8s/admissionReview.ts';

export type ParseResult = { ok: true; review: AdmissionReview & { request: AdmissionRequest } } | { ok: false; error: string };

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkGvk(v: unknown, field: string, keys: readonly string[]): string | undefined {
  if (!isObject(v)) return `${field} must be an object`;
  for (const k of keys) if (typeof v[k] !== 'string') return `${field}.${k} must be a string`;
  return undefined;
}

export function parseAdmissionReview(body: unknown): ParseResult {
  if (!isObject(body)) return { ok: false, error: 'body must be a JSON object (an admission.k8s.io/v1 AdmissionReview)' };
  if (body['apiVersion'] !== 'admission.k8s.io/v1') {
    return {
      ok: false,
      error: `apiVersion must be "admission.k8s.io/v1", got ${JSON.stringify(body['apiVersion'] ?? null)}; register the webhook with admissionReviewVersions: ["v1"]`,
    };
  }
  if (body['kind'] !== 'AdmissionReview') return { ok: false, error: `kind must be "AdmissionReview", got ${JSON.stringify(body['kind'] ?? null)}` };
  const req = body['request'];
  if (!isObject(req)) return { ok: false, error: 'request must be an object' };
  if (typeof req['uid'] !== 'string' || req['uid'] === '') return { ok: false, error: 'request.uid must be a non-empty string' };
  const problem =
    checkGvk(req['kind'], 'request.kind', ['group', 'version', 'kind']) ??
    checkGvk(req['resource'], 'request.resource', ['group', 'version', 'resource']) ??
    (typeof req['operation'] === 'string' && OPERATIONS.has(req['operation'])
      ? undefined
      : `request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got ${JSON.stringify(req['operation'] ?? null)}`) ??
    (isObject(req['userInfo']) ? undefined : 'request.userInfo must be an object') ??
    (req['object'] === undefined || req['object'] === null || isObject(req['object']) ? undefined : 'request.object must be an object or null') ??
    (req['oldObject'] === undefined || req['oldObject'] === null || isObject(req['oldObject']) ? undefined : 'request.oldObject must be an object or null') ??
    (req['name'] === undefined || typeof req['name'] === 'string' ? undefined : 'request.name must be a string') ??
    (req['namespace'] === undefined || typeof req['namespace'] === 'string' ? undefined : 'request.namespace must be a string');
  if (problem) return { ok: false, error: problem };
  return { ok: true, review: body as unknown as AdmissionReview & { request: AdmissionRequest } };
}
