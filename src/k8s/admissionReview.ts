// admission.k8s.io/v1 AdmissionReview, field for field as the API server sends and expects it.
// Only the fields the guard reads or writes are typed tightly.
import type { KubeObject } from './types.ts';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
  options?: KubeObject | null;
}

export interface AdmissionStatus {
  code?: number;
  reason?: string;
  message?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/**
 * The name of the object under review. DeleteCollection (the namespace controller emptying a
 * namespace) sends one request per object with no request.name; the name is in oldObject.
 */
export function targetName(request: AdmissionRequest): string {
  return request.name || request.oldObject?.metadata?.name || request.object?.metadata?.name || '';
}

/** A DELETE of the object itself (not a subresource) of group/resource. */
export function isDelete(request: AdmissionRequest, group: string, resource: string): boolean {
  return request.operation === 'DELETE' && request.resource.group === group && request.resource.resource === resource && !request.subResource;
}
