// The chart's policy values (manifests/chart/teardown-guard/values.yaml and values.schema.json)
// from the policies' declarations: each policy at its default mode, and the schema's list of
// policy names. `npm run chart:rules` writes them; src/render/manifestFiles.test.ts fails when
// the committed files differ.
import { BUILTIN_POLICIES } from '../policies/index.ts';
import type { DeclaredPolicy } from '../policies/declaration.ts';
import { policyModesYaml, replaceBlocks } from './manifestFiles.ts';

/** The `policies.properties` of values.schema.json, one line a policy, as the file is laid out. */
function schemaProperties(policies: readonly DeclaredPolicy[]): string {
  return policies.map((p, i) => `        ${JSON.stringify(p.name)}: { "$ref": "#/definitions/policy" }${i < policies.length - 1 ? ',' : ''}\n`).join('');
}

const SCHEMA_POLICIES = /("policies": \{\n\s*"type": "object",\n\s*"additionalProperties": false,\n\s*"properties": \{\n)([\s\S]*?)(\n\s*\}\n\s*\},)/;

/** values.yaml and values.schema.json, keyed by file name, given the committed texts. */
export function renderChartValues(read: (file: string) => string, policies: readonly DeclaredPolicy[] = BUILTIN_POLICIES): Map<string, string> {
  const values = replaceBlocks(read('values.yaml'), { 'policy-modes': policyModesYaml(policies, {}, '  ') }, ['policy-modes'], 'values.yaml');
  const schema = read('values.schema.json');
  if (!SCHEMA_POLICIES.test(schema)) throw new Error('values.schema.json: no "policies": { ... "properties": { ... } } to render into');
  return new Map([
    ['values.yaml', values],
    [
      'values.schema.json',
      schema.replace(SCHEMA_POLICIES, (_, head: string, _body: string, tail: string) => `${head}${schemaProperties(policies).replace(/\n$/, '')}${tail}`),
    ],
  ]);
}
