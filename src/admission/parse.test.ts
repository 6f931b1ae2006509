import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { review } from '../../test/support/admissionRequests.ts';
import { namespace } from '../../test/support/clusterState.ts';
import { parseAdmissionReview } from './parse.ts';

describe('parseAdmissionReview', () => {
  it('accepts a v1 AdmissionReview', () => {
    const result = parseAdmissionReview(review('DELETE', namespace('x')));
    expect(result.ok).toBe(true);
  });

  it.each([
    [null, 'body must be a JSON object'],
    [{ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' }, 'apiVersion must be "admission.k8s.io/v1", got "admission.k8s.io/v1beta1"'],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'Review' }, 'kind must be "AdmissionReview", got "Review"'],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'request must be an object'],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }, 'request.uid must be a non-empty string'],
  ])('rejects %j with "%s"', (body, message) => {
    const result = parseAdmissionReview(body);
    expect(result).toEqual({ ok: false, error: expect.stringContaining(message) });
  });

  it('names the bad field of an otherwise valid request', () => {
    const body = review('DELETE', namespace('x'));
    (body.request as unknown as Record<string, unknown>)['operation'] = 'PATCH';
    expect(parseAdmissionReview(body)).toEqual({
      ok: false,
      error: expect.stringContaining('request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"'),
    });
  });

  it('never throws on arbitrary JSON (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = parseAdmissionReview(value);
        return result.ok === false ? typeof result.error === 'string' : true;
      }),
      { numRuns: Number(process.env['TG_FUZZ_RUNS'] ?? 10_000) },
    );
  });

  it('never throws on mutated valid reviews (property)', () => {
    const base = review('DELETE', namespace('x'));
    fc.assert(
      fc.property(
        fc.constantFrom('uid', 'kind', 'resource', 'operation', 'userInfo', 'object', 'oldObject', 'name', 'namespace'),
        fc.jsonValue(),
        (field, value) => {
          const body = structuredClone(base) as unknown as { request: Record<string, unknown> };
          body.request[field] = value;
          parseAdmissionReview(body);
        },
      ),
      { numRuns: Number(process.env['TG_FUZZ_RUNS'] ?? 10_000) },
    );
  });
});
