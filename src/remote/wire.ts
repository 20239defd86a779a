import * as v from 'valibot';

/** The body of `POST /v1/sync/{entityType}` (see docs/protocol.md). */
export interface SyncRequestBody {
  batchId: string;
  items: unknown[];
}

/** One item's result on the wire. */
export type WireResult =
  | { id: string; status: 'ok'; version: number }
  | { id: string; status: 'conflict'; remote: { id: string; version: number; [field: string]: unknown } }
  | { id: string; status: 'rejected'; reason: string; retryable: boolean };

export interface SyncResponseBody {
  results: WireResult[];
}

const ok = v.object({ id: v.string(), status: v.literal('ok'), version: v.number() });
const conflict = v.object({
  id: v.string(),
  status: v.literal('conflict'),
  remote: v.looseObject({ id: v.string(), version: v.number() }),
});
const rejected = v.object({
  id: v.string(),
  status: v.literal('rejected'),
  reason: v.string(),
  retryable: v.optional(v.boolean(), false),
});

/** What a server must answer with; anything else is a malformed reply. */
export const syncResponseSchema = v.object({
  results: v.array(v.variant('status', [ok, conflict, rejected])),
});

/** A short, safe description of why a reply did not match the schema. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
