/**
 * The decisions of the one-syncing-tab protocol as pure functions of the time and of what a tab has heard: when a
 * follower takes over from a silent leader, what becomes of a sync request forwarded to the leader, and which types
 * a follower shows as syncing. `TabSync` only applies them (src/browser/tab-sync.ts).
 */

/** The leader a follower last heard from: its tab id and when (epoch ms). */
export interface HeardLeader {
  readonly tabId: string;
  readonly heardAt: number;
}

/**
 * Whether a follower should steal the lock: it has heard nothing from a leader for longer than `timeoutMs` (plus
 * its `jitterMs`, so that followers that started together do not all steal at once). `silentSince` is the last
 * heartbeat heard, or when the follower started (or resumed) listening.
 */
export function takeoverDue(now: number, silentSince: number, timeoutMs: number, jitterMs = 0): boolean {
  return now - silentSince > timeoutMs + jitterMs;
}

/** A sync request on its way to the leader, as the requesting tab tracks it. */
export interface ForwardedRequest {
  readonly requestId: string;
  /** Absent: every type (`syncAll`). */
  readonly entityType?: string | undefined;
  /** The leader it was last sent to (this tab's own id while it runs the request itself). */
  readonly sentTo?: string | undefined;
  /** When it was last sent (epoch ms). */
  readonly sentAt: number;
  /** The leader that said it has the request (`sync-accepted`). */
  readonly acceptedBy?: string | undefined;
}

/**
 * What to do next with a forwarded request: `send` it to the leader heard now (a leader it has not been sent to,
 * the first, or a new one after a handover), `wait`, or `expire` it (reject it with `LeaderUnavailableError`). It
 * expires once nothing has been heard of it for `timeoutMs`: no leader took it since it was sent, or the leader that
 * accepted it has gone silent and no other leader appeared. A request accepted by a live leader never expires: a
 * long run is not a lost one.
 */
export function forwardStep(
  request: ForwardedRequest,
  leader: HeardLeader | undefined,
  now: number,
  timeoutMs: number,
): 'send' | 'wait' | 'expire' {
  if (leader && request.sentTo !== leader.tabId) return 'send';
  const lastSign =
    leader && request.acceptedBy === leader.tabId ? Math.max(request.sentAt, leader.heardAt) : request.sentAt;
  return now - lastSign > timeoutMs ? 'expire' : 'wait';
}

/**
 * The types a follower shows as syncing, after a message from the leader: a heartbeat or a progress snapshot says
 * the whole list; a progress event says one type's state.
 */
export function syncingAfter(
  syncing: ReadonlySet<string>,
  heard: { syncing: readonly string[] } | { entityType: string; state: string },
): ReadonlySet<string> {
  if ('syncing' in heard) return new Set(heard.syncing);
  const next = new Set(syncing);
  if (heard.state === 'syncing') next.add(heard.entityType);
  else next.delete(heard.entityType);
  return next;
}
