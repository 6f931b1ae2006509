import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { APP_MANIFEST, releaseSecret } from '../../test/support/clusterState.ts';
import type { KubeObject } from '../k8s/types.ts';
import { ReleaseDecodeError, decodeReleaseRecord } from './releaseRecord.ts';

const RUNS = Number(process.env['TG_FUZZ_RUNS'] ?? 10_000);

function secretWithPayload(payload: Buffer): KubeObject {
  const helmEncoded = payload.toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'sh.helm.release.v1.web.v1', namespace: 'ns' },
    data: { release: Buffer.from(helmEncoded).toString('base64') },
  };
}

describe('decodeReleaseRecord', () => {
  it('decodes a Secret record: base64 (API) + base64 (Helm) + gzip', () => {
    const rel = decodeReleaseRecord(releaseSecret('helm-test', 'web', 3, 'uninstalling', APP_MANIFEST, { password: 'x' }));
    expect(rel).toEqual({ name: 'web', namespace: 'helm-test', version: 3, status: 'uninstalling', manifest: APP_MANIFEST });
    expect(Object.keys(rel)).not.toContain('config');
  });

  it('decodes an old record without gzip', () => {
    const rel = decodeReleaseRecord(
      secretWithPayload(Buffer.from(JSON.stringify({ name: 'web', namespace: 'ns', version: 1, info: { status: 'deployed' }, manifest: '' }))),
    );
    expect(rel.status).toBe('deployed');
  });

  it('refuses a gzip bomb by its decompressed size, without inflating it', () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(200 * 1024);
    expect(() => decodeReleaseRecord(secretWithPayload(bomb), { maxEncodedBytes: 4 << 20, maxDecodedBytes: 8 << 20 })).toThrow(
      new ReleaseDecodeError('release payload decompresses to more than 8388608 bytes'),
    );
  });

  it.each([
    ['bad base64', { release: '@@@not-base64@@@' }, 'Secret data.release is not valid base64'],
    ['no release key', { other: 'x' }, 'Secret has no data.release string'],
    [
      'truncated gzip',
      { release: Buffer.from(gzipSync(Buffer.from('{"name":"a"}')).subarray(0, 8).toString('base64')).toString('base64') },
      'release payload is not valid gzip',
    ],
    ['JSON without a namespace', { release: Buffer.from(Buffer.from('{"name":"a"}').toString('base64')).toString('base64') }, 'release has no namespace'],
  ])('names the problem: %s', (_, data, message) => {
    const record: KubeObject = { kind: 'Secret', metadata: { name: 'sh.helm.release.v1.a.v1' }, data };
    expect(() => decodeReleaseRecord(record)).toThrow(new ReleaseDecodeError(message));
  });

  it('throws only ReleaseDecodeError on arbitrary data.release strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.constantFrom('Secret', 'ConfigMap'), (release, kind) => {
        try {
          decodeReleaseRecord({ kind, metadata: {}, data: { release } });
        } catch (err) {
          return err instanceof ReleaseDecodeError;
        }
        return true;
      }),
      { numRuns: RUNS },
    );
  });

  it('throws only ReleaseDecodeError on arbitrary (possibly gzipped) payload bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, gzip) => {
        const payload = gzip ? gzipSync(Buffer.from(bytes)) : Buffer.from(bytes);
        try {
          decodeReleaseRecord(secretWithPayload(payload));
        } catch (err) {
          return err instanceof ReleaseDecodeError;
        }
        return true;
      }),
      { numRuns: RUNS },
    );
  });

  it('throws only ReleaseDecodeError on truncations of a valid record (property)', () => {
    const full = (releaseSecret('ns', 'web', 1, 'deployed', APP_MANIFEST)['data'] as { release: string }).release;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: full.length - 1 }), (cut) => {
        try {
          decodeReleaseRecord({ kind: 'Secret', metadata: {}, data: { release: full.slice(0, cut) } });
        } catch (err) {
          return err instanceof ReleaseDecodeError;
        }
        return true;
      }),
      { numRuns: Math.min(RUNS, full.length) },
    );
  });
});
