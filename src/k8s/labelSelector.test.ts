import { describe, expect, it } from 'vitest';
import { LabelSelectorError, matchesLabelSelector, parseLabelSelector } from './labelSelector.ts';

describe('label selectors', () => {
  const labels = { app: 'olm-operator', tier: 'control', 'app.kubernetes.io/name': 'olm' };
  it.each([
    ['app=olm-operator', true],
    ['app==olm-operator,tier=control', true],
    ['app!=olm-operator', false],
    ['tier in (control, data)', true],
    ['tier notin (control)', false],
    ['app.kubernetes.io/name', true],
    ['!app.kubernetes.io/name', false],
    ['missing!=x', true],
    ['', true],
  ])('%s -> %s', (selector, expected) => {
    expect(matchesLabelSelector(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it('names the part it cannot parse', () => {
    expect(() => parseLabelSelector('app=olm,tier in control')).toThrow(new LabelSelectorError('label selector "app=olm,tier in control": cannot parse "tier in control"'));
  });
});
