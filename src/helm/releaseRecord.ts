// Decodes a Helm release record (Secret or ConfigMap) into the few fields the guard needs.
// The payload also holds chart values, which often contain passwords: only name, namespace,
// version, status and manifest leave this module, and nothing here logs.
import { gunzipSync } from 'node:zlib';
import type { KubeObject } from '../k8s/types.ts';

export interface DecodedRelease {
  name: string;
  namespace: string;
  version: number;
  status: string;
  manifest: string;
}

export interface DecodeLimits {
  /** Largest encoded `data.release` value accepted (a record fits in one 1 MiB etcd object). */
  maxEncodedBytes: number;
  /** Cap on the decompressed JSON, so a gzip bomb is refused instead of exhausting memory. */
  maxDecodedBytes: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxEncodedBytes: 4 * 1024 * 1024,
  maxDecodedBytes: 32 * 1024 * 1024,
};

export class ReleaseDecodeError extends Error {
  override readonly name = 'ReleaseDecodeError';
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64Strict(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw new ReleaseDecodeError(`${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

/**
 * Helm stores base64(gzip(JSON)); older records may lack the gzip. A Secret's API JSON adds one
 * more base64 layer (Secret data is bytes), a ConfigMap's does not.
 */
export function decodeReleaseRecord(record: KubeObject, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedRelease {
  const kind = record.kind;
  const data = record['data'];
  if (typeof data !== 'object' || data === null) throw new ReleaseDecodeError(`${kind ?? 'record'} has no data`);
  const encoded = (data as Record<string, unknown>)['release'];
  if (typeof encoded !== 'string') throw new ReleaseDecodeError(`${kind ?? 'record'} has no data.release string`);
  if (encoded.length > limits.maxEncodedBytes) {
    throw new ReleaseDecodeError(`data.release is ${encoded.length} bytes, over the ${limits.maxEncodedBytes}-byte limit`);
  }
  const helmEncoded = kind === 'Secret' ? decodeBase64Strict(encoded, 'Secret data.release').toString('latin1') : encoded;
  const payload = decodeBase64Strict(helmEncoded, 'release payload');
  let json: Buffer;
  if (payload.length >= 2 && payload[0] === GZIP_MAGIC_0 && payload[1] === GZIP_MAGIC_1) {
    try {
      json = gunzipSync(payload, { maxOutputLength: limits.maxDecodedBytes });
    } catch (err) {
      const tooBig = err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      throw new ReleaseDecodeError(tooBig ? `release payload decompresses to more than ${limits.maxDecodedBytes} bytes` : `release payload is not valid gzip`);
    }
  } else {
    if (payload.length > limits.maxDecodedBytes) throw new ReleaseDecodeError('release payload is over the size limit');
    json = payload;
  }
  return pickReleaseFields(json);
}

function pickReleaseFields(json: Buffer): DecodedRelease {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    throw new ReleaseDecodeError('release payload is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new ReleaseDecodeError('release payload is not a JSON object');
  const rel = parsed as Record<string, unknown>;
  const info = (typeof rel['info'] === 'object' && rel['info'] !== null ? rel['info'] : {}) as Record<string, unknown>;
  const name = rel['name'];
  const namespace = rel['namespace'];
  const version = rel['version'];
  if (typeof name !== 'string' || name === '') throw new ReleaseDecodeError('release has no name');
  if (typeof namespace !== 'string' || namespace === '') throw new ReleaseDecodeError('release has no namespace');
  return {
    name,
    namespace,
    version: typeof version === 'number' ? version : 0,
    status: typeof info['status'] === 'string' ? info['status'] : 'unknown',
    manifest: typeof rel['manifest'] === 'string' ? rel['manifest'] : '',
  };
}
