// Loads AdmissionReview bodies captured from a real kube-apiserver (test/fixtures/admission,
// recaptured by test/fixtures/admission/capture.ts).
import { readFileSync } from 'node:fs';
import type { AdmissionReview } from '../../src/k8s/admissionReview.ts';

export interface CapturedReview {
  fixture: string;
  review: AdmissionReview;
}

export function capturedReview(file: string): CapturedReview {
  const url = new URL(`../fixtures/admission/${file}`, import.meta.url);
  const parsed = JSON.parse(readFileSync(url, 'utf8')) as CapturedReview;
  if (!parsed.fixture || !parsed.review?.request) throw new Error(`${file} is not a captured fixture`);
  return parsed;
}
