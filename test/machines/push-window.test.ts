import { describe, expect, it } from 'vitest';
import {
  dropHead,
  EMPTY_WINDOW,
  enqueue,
  hasRoom,
  head,
  headResult,
  inFlight,
  isIdle,
  type PushWindow,
  pushActorId,
  recordResult,
  requeueHead,
  sendQueued,
  seqOfPush,
  startLoading,
  stopLoading,
  type WindowBatch,
} from '../../machines/push-window.js';

type Window = PushWindow<WindowBatch, string>;
const batch = (seq: number): WindowBatch => ({ seq, attempt: 0 });

/** Batches 1..n, all sent. */
function sent(n: number): Window {
  let window: Window = EMPTY_WINDOW;
  for (let seq = 1; seq <= n; seq += 1) window = enqueue(startLoading(window), batch(seq));
  return sendQueued(window).window;
}

describe('push window', () => {
  it('counts a page being loaded as a place taken', () => {
    expect(isIdle(EMPTY_WINDOW)).toBe(true);
    const loading = startLoading(EMPTY_WINDOW);
    expect(inFlight(loading)).toBe(1);
    expect(hasRoom(loading, 1)).toBe(false);
    expect(hasRoom(loading, 2)).toBe(true);
    expect(isIdle(stopLoading(loading))).toBe(true);
    // The page became a batch: still one place.
    expect(inFlight(enqueue(loading, batch(1)))).toBe(1);
  });

  it('sends queued batches in order, one more attempt each, and only those', () => {
    const window = enqueue(sent(1), batch(2));
    const { window: after, sent: out } = sendQueued(window);
    expect(out).toEqual([{ seq: 2, attempt: 1 }]);
    expect(after.slots.map((slot) => [slot.batch.seq, slot.status, slot.batch.attempt])).toEqual([
      [1, 'out', 1],
      [2, 'out', 1],
    ]);
    expect(sendQueued(after)).toEqual({ window: after, sent: [] });
  });

  it('keeps a later result until the head is in, then hands over the head only', () => {
    let window = recordResult(sent(3), 3, { output: 'third' });
    window = recordResult(window, 2, { error: 'second failed' });
    expect(headResult(window)).toBeUndefined();
    window = recordResult(window, 1, { output: 'first' });
    expect(headResult(window)).toEqual({ output: 'first' });
    window = dropHead(window);
    expect(headResult(window)).toEqual({ error: 'second failed' });
    window = dropHead(window);
    expect(headResult(window)).toEqual({ output: 'third' });
    expect(isIdle(dropHead(window))).toBe(true);
  });

  it('ignores a result for a batch that is not out', () => {
    const window = sent(1);
    expect(recordResult(window, 7, { output: 'stray' })).toBe(window);
    const settled = recordResult(window, 1, { output: 'once' });
    expect(recordResult(settled, 1, { output: 'twice' })).toBe(settled);
  });

  it('requeues the head for a retry, same batch, result cleared; the rest keep theirs', () => {
    let window = recordResult(recordResult(sent(2), 2, { output: 'b' }), 1, { error: 'busy' });
    window = requeueHead(window);
    expect(head(window)).toEqual({ status: 'queued', batch: { seq: 1, attempt: 1 } });
    expect(headResult(window)).toBeUndefined();
    const { window: again, sent: out } = sendQueued(window);
    expect(out).toEqual([{ seq: 1, attempt: 2 }]);
    expect(again.slots[1]).toEqual({ status: 'in', batch: { seq: 2, attempt: 1 }, result: { output: 'b' } });
    expect(requeueHead(EMPTY_WINDOW)).toBe(EMPTY_WINDOW);
  });

  it('names each push child after its batch', () => {
    expect(pushActorId(12)).toBe('push.12');
    expect(seqOfPush(pushActorId(12))).toBe(12);
  });
});
