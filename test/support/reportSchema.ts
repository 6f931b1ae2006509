// A validator for the subset of JSON Schema that src/audit/report.schema.json uses, for the tests.
import { readFileSync } from 'node:fs';

export const reportSchema = JSON.parse(readFileSync(new URL('../../src/audit/report.schema.json', import.meta.url), 'utf8')) as Schema;

export type Schema = {
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  $ref?: string;
  additionalProperties?: Schema;
  $defs?: Record<string, Schema>;
};

/**
 * The subset of JSON Schema the report schema uses. Stricter than the standard on purpose:
 * an object with `properties` and no `additionalProperties` is closed, so a field the schema
 * does not document fails the test.
 */
export function validate(value: unknown, s: Schema = reportSchema, path = '$'): string[] {
  if (s.$ref) return validate(value, reportSchema.$defs?.[s.$ref.replace('#/$defs/', '')] ?? {}, path);
  const errs: string[] = [];
  if (s.const !== undefined && value !== s.const) errs.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !s.enum.includes(value)) errs.push(`${path}: ${JSON.stringify(value)} not in enum`);
  const t = s.type ?? (s.properties || s.required ? 'object' : s.items ? 'array' : undefined);
  if (t === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
    const o = value as Record<string, unknown>;
    for (const k of s.required ?? []) if (!(k in o)) errs.push(`${path}.${k}: required`);
    for (const [k, v] of Object.entries(o)) {
      const ps = s.properties?.[k] ?? s.additionalProperties;
      if (!ps) errs.push(`${path}.${k}: not in the schema`);
      else errs.push(...validate(v, ps, `${path}.${k}`));
    }
  } else if (t === 'array') {
    if (!Array.isArray(value)) return [`${path}: not an array`];
    value.forEach((v, i) => errs.push(...validate(v, s.items ?? {}, `${path}[${i}]`)));
  } else if (t === 'string' && typeof value !== 'string') errs.push(`${path}: not a string`);
  else if (t === 'integer' && !Number.isInteger(value)) errs.push(`${path}: not an integer`);
  else if (t === 'number' && typeof value !== 'number') errs.push(`${path}: not a number`);
  else if (t === 'boolean' && typeof value !== 'boolean') errs.push(`${path}: not a boolean`);
  return errs;
}
