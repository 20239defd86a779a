/**
 * The batches of one run that are out at once, as data: an ordered window the batch machine fills from the
 * outbox and settles from the head only, so results are handled strictly in batch order however many pushes are
 * in flight. Pure functions over plain values (like run-queue.ts); the machine spawns and stops the actors.
 */

/** What one push came back with. */
export type PushResult<TOutput> = { output: TOutput } | { error: unknown };

/** The part of a batch the window needs: its place in the run and how often it went out. */
export interface WindowBatch {
  seq: number;
  attempt: number;
}

/**
 * A batch in the window. `queued`: not sent yet (a page that came in during a retry wait, a carried batch
 * waiting for its backoff, the head about to be retried); `out`: its push is in flight; `in`: its result is kept
 * until every batch before it is settled.
 */
export type PushSlot<TBatch extends WindowBatch, TOutput> =
  | { status: 'queued' | 'out'; batch: TBatch }
  | { status: 'in'; batch: TBatch; result: PushResult<TOutput> };

export interface PushWindow<TBatch extends WindowBatch = WindowBatch, TOutput = unknown> {
  /** In batch order; the head is the only one whose result is ever handled. */
  slots: readonly PushSlot<TBatch, TOutput>[];
  /** A page for the window is being loaded; it takes a place, and pages load one at a time (by cursor). */
  loading: boolean;
}

export const EMPTY_WINDOW: PushWindow<never, never> = { slots: [], loading: false };

const PUSH_ID_PREFIX = 'push.';

/** The child id of a batch's push: one per batch, derived from its sequence. */
export const pushActorId = (seq: number): string => `${PUSH_ID_PREFIX}${seq}`;

/** The batch sequence a push child's id names. */
export const seqOfPush = (actorId: string): number => Number(actorId.slice(PUSH_ID_PREFIX.length));

/** Places taken: batches in the window plus a page being loaded. */
export const inFlight = (window: PushWindow): number => window.slots.length + (window.loading ? 1 : 0);

export const hasRoom = (window: PushWindow, maxBatchesInFlight: number): boolean =>
  inFlight(window) < maxBatchesInFlight;

/** Nothing out, nothing kept, nothing loading. */
export const isIdle = (window: PushWindow): boolean => inFlight(window) === 0;

export const startLoading = <B extends WindowBatch, O>(window: PushWindow<B, O>): PushWindow<B, O> => ({
  ...window,
  loading: true,
});

/** The page load ended without a batch (the outbox had nothing more). */
export const stopLoading = <B extends WindowBatch, O>(window: PushWindow<B, O>): PushWindow<B, O> => ({
  ...window,
  loading: false,
});

/** Adds a batch at the tail, not yet sent; a page load that produced it ends. */
export const enqueue = <B extends WindowBatch, O>(window: PushWindow<B, O>, batch: B): PushWindow<B, O> => ({
  slots: [...window.slots, { status: 'queued', batch }],
  loading: false,
});

/** Marks every queued batch as sent (one more attempt each); returns them, in order, to be pushed. */
export function sendQueued<B extends WindowBatch, O>(
  window: PushWindow<B, O>,
): { window: PushWindow<B, O>; sent: B[] } {
  const sent: B[] = [];
  const slots = window.slots.map((slot): PushSlot<B, O> => {
    if (slot.status !== 'queued') return slot;
    const batch = { ...slot.batch, attempt: slot.batch.attempt + 1 };
    sent.push(batch);
    return { status: 'out', batch };
  });
  return { window: sent.length ? { ...window, slots } : window, sent };
}

/** Keeps a push's result with its batch. A result for a batch not out (never expected) changes nothing. */
export function recordResult<B extends WindowBatch, O>(
  window: PushWindow<B, O>,
  seq: number,
  result: PushResult<O>,
): PushWindow<B, O> {
  const index = window.slots.findIndex((slot) => slot.batch.seq === seq && slot.status === 'out');
  if (index === -1) return window;
  const slots = [...window.slots];
  slots[index] = { status: 'in', batch: window.slots[index]!.batch, result };
  return { ...window, slots };
}

export const head = <B extends WindowBatch, O>(window: PushWindow<B, O>): PushSlot<B, O> | undefined =>
  window.slots[0];

/** The head's result once it is in; later results wait their turn. */
export function headResult<B extends WindowBatch, O>(window: PushWindow<B, O>): PushResult<O> | undefined {
  const first = window.slots[0];
  return first?.status === 'in' ? first.result : undefined;
}

/** The head is settled: the next batch becomes the head. */
export const dropHead = <B extends WindowBatch, O>(window: PushWindow<B, O>): PushWindow<B, O> => ({
  ...window,
  slots: window.slots.slice(1),
});

/** The head goes out again (same batch, same id) when it is next sent. */
export function requeueHead<B extends WindowBatch, O>(window: PushWindow<B, O>): PushWindow<B, O> {
  const [first, ...rest] = window.slots;
  if (!first) return window;
  return { ...window, slots: [{ status: 'queued', batch: first.batch }, ...rest] };
}
