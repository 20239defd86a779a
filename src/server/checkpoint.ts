/**
 * The change feed's checkpoint (docs/protocol.md, "Pulling changes"): base64url of `{epoch}.{seq}`. Opaque to
 * clients; the server reads it back to find where a client stopped. `epoch` names the server state the sequence
 * numbers belong to, so a checkpoint from another state (a memory server restarted empty) is recognised as
 * foreign instead of silently skipping or repeating changes.
 */

/** The longest `since` the server reads; anything longer is malformed without being decoded. */
export const MAX_CHECKPOINT_CHARS = 200;

const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const DECODED = /^([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]{0,15})$/;

export interface Checkpoint {
  epoch: string;
  /** The sequence number of the last change the client has; 0 before any. */
  seq: number;
}

export function encodeCheckpoint({ epoch, seq }: Checkpoint): string {
  if (!EPOCH.test(epoch) || !Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(`Not a checkpoint: epoch ${JSON.stringify(epoch)}, seq ${seq}`);
  }
  return Buffer.from(`${epoch}.${seq}`, 'utf8').toString('base64url');
}

/** The checkpoint `text` stands for, or `undefined` when it is not one this server could have written. */
export function decodeCheckpoint(text: string): Checkpoint | undefined {
  if (text.length > MAX_CHECKPOINT_CHARS || !BASE64URL.test(text)) return undefined;
  const match = DECODED.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) return undefined;
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return undefined;
  const checkpoint = { epoch: match[1] as string, seq };
  // Node's decoder skips stray bits and padding: only the one spelling this server writes is accepted.
  return encodeCheckpoint(checkpoint) === text ? checkpoint : undefined;
}
