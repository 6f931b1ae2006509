// Throwaway PKI for a loopback cluster, made with the openssl CLI: one CA, serving certs with
// loopback SANs, client certs (CN = user, O = groups), and a service-account signing key.
// Leaves get random serials: parallel signing with -CAcreateserial races on the shared serial file.
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runOk } from './proc.ts';

export interface CertPair {
  cert: string;
  key: string;
}

export interface CA extends CertPair {
  pem: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeCA(dir: string, cn = 'teardown-guard-test-ca'): Promise<CA> {
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  await runOk('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '7',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

export interface LeafOptions {
  cn: string;
  orgs?: string[];
  /** DNS names / IPs for a serving cert. */
  dns?: string[];
  ips?: string[];
  usage: 'server' | 'client' | 'both';
}

export async function makeLeaf(dir: string, base: string, ca: CA, o: LeafOptions): Promise<CertPair> {
  const key = join(dir, `${base}.key`);
  const csr = join(dir, `${base}.csr`);
  const cert = join(dir, `${base}.crt`);
  const ext = join(dir, `${base}.ext`);
  const subj = `/CN=${o.cn}${(o.orgs ?? []).map((g) => `/O=${g}`).join('')}`;
  await runOk('openssl', ['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', subj]);
  const eku = o.usage === 'server' ? 'serverAuth' : o.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const lines = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${eku}`];
  const sans = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ips ?? []).map((i) => `IP:${i}`)];
  if (sans.length) lines.push(`subjectAltName=${sans.join(',')}`);
  writeFileSync(ext, lines.join('\n') + '\n');
  await runOk('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-out',
    cert,
    '-days',
    '7',
    '-sha256',
    '-extfile',
    ext,
  ]);
  return { cert, key };
}

/** RSA key pair for service-account token signing (private for the apiserver/kcm, public for verification). */
export async function makeServiceAccountKey(dir: string): Promise<{ key: string; pub: string }> {
  const key = join(dir, 'sa.key');
  const pub = join(dir, 'sa.pub');
  await runOk('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
  await runOk('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
  return { key, pub };
}
