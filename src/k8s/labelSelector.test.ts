import { describe, expect, it } from 'vitest';
import { canonicalLabelSelector, LabelSelectorError, matchesLabelSelector, parsedLabelSelector, parseLabelSelector } from './labelSelector.ts';

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

  it('parsedLabelSelector parses a selector once and answers as parseLabelSelector; a bad one throws every time', () => {
    const first = parsedLabelSelector('app=olm-operator,tier in (control)');
    expect(first).toEqual(parseLabelSelector('app=olm-operator,tier in (control)'));
    expect(parsedLabelSelector('app=olm-operator,tier in (control)')).toBe(first);
    expect(() => parsedLabelSelector('tier in control')).toThrow(LabelSelectorError);
    expect(() => parsedLabelSelector('tier in control')).toThrow(LabelSelectorError);
  });

  it('names the part it cannot parse', () => {
    expect(() => parseLabelSelector('app=olm,tier in control')).toThrow(
      new LabelSelectorError('label selector "app=olm,tier in control": cannot parse "tier in control"'),
    );
  });
});

describe('label selectors', () => {
  it('parses equality, set and existence requirements', () => {
    expect(parseLabelSelector('app=olm-operator, tier!=x,env in (b, a),!legacy,owner,zone notin (z)')).toEqual([
      { key: 'app', op: 'in', values: ['olm-operator'] },
      { key: 'tier', op: 'notin', values: ['x'] },
      { key: 'env', op: 'in', values: ['a', 'b'] },
      { key: 'legacy', op: 'notexists' },
      { key: 'owner', op: 'exists' },
      { key: 'zone', op: 'notin', values: ['z'] },
    ]);
    expect(parseLabelSelector('')).toEqual([]);
  });

  it('rejects garbage', () => {
    expect(() => parseLabelSelector('app=a=b')).toThrow('label selector "app=a=b": cannot parse "app=a=b"');
    expect(() => parseLabelSelector('=x')).toThrow();
  });

  it('matches like Kubernetes (notin and != also match a missing key)', () => {
    const req = parseLabelSelector('app=olm-operator,tier!=canary');
    expect(matchesLabelSelector(req, { app: 'olm-operator' })).toBe(true);
    expect(matchesLabelSelector(req, { app: 'olm-operator', tier: 'canary' })).toBe(false);
    expect(matchesLabelSelector(req, { app: 'other' })).toBe(false);
    expect(matchesLabelSelector(parseLabelSelector('!x'), undefined)).toBe(true);
  });

  it('gives one canonical spelling to equivalent selectors', () => {
    expect(canonicalLabelSelector(' app == olm-operator ')).toBe('app=olm-operator');
    expect(canonicalLabelSelector('b=2,a=1')).toBe(canonicalLabelSelector('a=1, b==2'));
    expect(canonicalLabelSelector('k in (y,x)')).toBe('k in (x,y)');
    expect(canonicalLabelSelector('k in (x)')).toBe('k=x');
  });
});
