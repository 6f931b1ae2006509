import { describe, expect, it } from 'vitest';
import { finalizerManagers, isClientToolManager, statusManagers } from './managedFields.ts';

// managedFields as kube-apiserver 1.36 records them: one entry per manager and operation, field
// sets in fieldsV1 (`f:` a field, `v:` a value of a set such as metadata.finalizers).
const MANAGED_FIELDS = [
  {
    manager: 'kubectl-client-side-apply',
    operation: 'Update',
    apiVersion: 'argoproj.io/v1alpha1',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:finalizers': { '.': {}, 'v:"resources-finalizer.argocd.argoproj.io"': {} } }, 'f:spec': { '.': {} } },
  },
  {
    manager: 'argocd-application-controller',
    operation: 'Update',
    apiVersion: 'argoproj.io/v1alpha1',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { '.': {} } },
  },
  { manager: 'manager', operation: 'Update', subresource: 'status', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': {} } },
];

describe('managedFields', () => {
  it('names who added a finalizer and who writes the status', () => {
    expect(finalizerManagers(MANAGED_FIELDS, 'resources-finalizer.argocd.argoproj.io')).toEqual(['kubectl-client-side-apply']);
    expect(finalizerManagers(MANAGED_FIELDS, 'other')).toEqual([]);
    expect(statusManagers(MANAGED_FIELDS)).toEqual(['argocd-application-controller', 'manager']);
  });

  it('reads nothing from what is not managedFields', () => {
    expect(statusManagers(undefined)).toEqual([]);
    expect(statusManagers([null, 3, { manager: 7, fieldsV1: { 'f:status': {} } }])).toEqual([]);
    expect(finalizerManagers({}, 'x')).toEqual([]);
  });

  it('people’s tools are not controllers', () => {
    expect(['kubectl-client-side-apply', 'kubectl-edit', 'kubectl', 'helm', 'before-first-apply'].every(isClientToolManager)).toBe(true);
    expect(['manager', 'argocd-application-controller', 'helm-controller', 'kubernetes-dashboard'].some(isClientToolManager)).toBe(false);
  });
});
