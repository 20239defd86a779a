/**
 * The change feed's checkpoint (docs/protocol.md, "Pulling changes"): base64url of `{epoch}.{seq}.{floor}`. Opaque
 * to clients; the server reads it back to find where a client stopped. `epoch` names the server state the sequence
 * numbers belong to, so a checkpoint from another state (a memory server restarted empty) is recognised as
 * foreign instead of silently skipping or repeating changes.
 */

/** The longest `since` the server reads; anything longer is malformed without being decoded. */
export const MAX_CHECKPOINT_CHARS = 200;

const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const NUMBER = '(0|[1-9][0-9]{0,15})';
const DECODED = new RegExp(`^([A-Za-z0-9_-]{1,64})\\.${NUMBER}\\.${NUMBER}$`);

export interface Checkpoint {
  epoch: string;
  /** The sequence number of the last change the client has; 0 before any. */
  seq: number;
  /**
   * The purge horizon the client's pull is already consistent with: tombstones up to it were purged before the
   * client pulled from the beginning, so it never held their records. Only a purge past `max(seq, floor)` can
   * have removed a delete the client needs.
   */
  floor: number;
}

export function encodeCheckpoint({ epoch, seq, floor }: Checkpoint): string {
  const whole = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!EPOCH.test(epoch) || !whole(seq) || !whole(floor)) {
    throw new RangeError(`Not a checkpoint: epoch ${JSON.stringify(epoch)}, seq ${seq}, floor ${floor}`);
  }
  return Buffer.from(`${epoch}.${seq}.${floor}`, 'utf8').toString('base64url');
}

/** The checkpoint `text` stands for, or `undefined` when it is not one this server could have written. */
export function decodeCheckpoint(text: string): Checkpoint | undefined {
  if (text.length > MAX_CHECKPOINT_CHARS || !BASE64URL.test(text)) return undefined;
  const match = DECODED.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) return undefined;
  const seq = Number(match[2]);
  const floor = Number(match[3]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(floor)) return undefined;
  const checkpoint = { epoch: match[1] as string, seq, floor };
  // Node's decoder skips stray bits and padding: only the one spelling this server writes is accepted.
  return encodeCheckpoint(checkpoint) === text ? checkpoint : undefined;
}
