// Caller authentication for POST /audit: a client certificate that chains to tls.clientCAFile
// (the TLS layer verifies it; we read the verdict), or `Authorization: Bearer <JWT>` verified
// with jose against a JWKS (remote URL or local file) with issuer and audience checks.
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { JwtAuthConfig } from '../config.ts';

export type AuthResult = { ok: true; method: 'mtls' | 'jwt'; principal: string } | { ok: false; reason: string };

export interface CallerAuthenticator {
  /** Which methods are configured (for startup logs and 401 messages). */
  readonly methods: ReadonlyArray<'mtls' | 'jwt'>;
  authenticate(req: IncomingMessage): Promise<AuthResult>;
}

/** Asymmetric algorithms only: a JWKS never holds shared secrets for us. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export interface AuthOptions {
  /** True when tls.clientCAFile is configured (the server requests client certificates). */
  mtls: boolean;
  jwt?: JwtAuthConfig;
  /** Tests may pass a prepared key set instead of jwksUrl/jwksFile. */
  keySet?: JWTVerifyGetKey;
}

export function createCallerAuthenticator(opts: AuthOptions): CallerAuthenticator {
  let keys: JWTVerifyGetKey | undefined = opts.keySet;
  if (!keys && opts.jwt?.jwksFile !== undefined) {
    keys = createLocalJWKSet(JSON.parse(readFileSync(opts.jwt.jwksFile, 'utf8')) as JSONWebKeySet);
  } else if (!keys && opts.jwt?.jwksUrl !== undefined) {
    keys = createRemoteJWKSet(new URL(opts.jwt.jwksUrl), { timeoutDuration: 3000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  }
  const methods: Array<'mtls' | 'jwt'> = [];
  if (opts.mtls) methods.push('mtls');
  if (keys && opts.jwt) methods.push('jwt');
  const jwt = opts.jwt;

  return {
    methods,
    async authenticate(req) {
      if (methods.length === 0) {
        return { ok: false, reason: 'no caller authentication is configured for /audit (set tls.clientCAFile and/or audit.jwt)' };
      }
      const socket = req.socket as Partial<TLSSocket>;
      if (opts.mtls && socket.authorized === true && typeof socket.getPeerCertificate === 'function') {
        const cert = socket.getPeerCertificate();
        if (cert && Object.keys(cert).length > 0) {
          const cn = cert.subject?.CN;
          return { ok: true, method: 'mtls', principal: `cert:${Array.isArray(cn) ? cn.join(',') : (cn ?? cert.fingerprint256)}` };
        }
      }
      const header = req.headers.authorization;
      if (header === undefined) {
        const certNote = opts.mtls && socket.authorizationError ? ` (client certificate rejected: ${String(socket.authorizationError)})` : '';
        return {
          ok: false,
          reason: `no credentials: present a client certificate or Authorization: Bearer <JWT> (accepted: ${methods.join(', ')})${certNote}`,
        };
      }
      const m = /^Bearer\s+([A-Za-z0-9_\-.=]+)\s*$/i.exec(header);
      if (!m || !m[1]) return { ok: false, reason: 'Authorization header is not "Bearer <JWT>"' };
      if (!keys || !jwt) return { ok: false, reason: 'bearer tokens are not accepted here (audit.jwt is not configured)' };
      try {
        const { payload } = await jwtVerify(m[1], keys, {
          issuer: jwt.issuer,
          audience: jwt.audience,
          algorithms: JWT_ALGORITHMS,
          requiredClaims: ['exp'],
          clockTolerance: 30,
        });
        return { ok: true, method: 'jwt', principal: `jwt:${payload.sub ?? '(no sub)'}` };
      } catch (err) {
        return { ok: false, reason: `bearer token rejected: ${describeJoseError(err)}` };
      }
    },
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" check failed (${err.reason})`;
  if (err instanceof joseErrors.JOSEError) return `${err.code}: ${err.message}`;
  return 'could not verify the token';
}
