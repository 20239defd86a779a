import { InvalidOptionsError } from '../domain/errors.js';

/** A message as a channel delivers it: only `data` is read. */
export interface TabChannelMessage {
  readonly data: unknown;
}

export type TabChannelListener = (message: TabChannelMessage) => void;

/**
 * How tabs of one app talk: a `BroadcastChannel` fits as it is (each tab opens its own on the same name; a message
 * reaches every other one, in the order it was sent, never the sender). Injectable for other transports and tests.
 */
export interface TabChannel {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: TabChannelListener): void;
  removeEventListener(type: 'message', listener: TabChannelListener): void;
  close(): void;
}

/** A `BroadcastChannel` named `name` (browsers; Node 20 has one too, within one process). */
export function broadcastChannel(name: string): TabChannel {
  const Channel = (globalThis as { BroadcastChannel?: new (name: string) => TabChannel }).BroadcastChannel;
  if (!Channel) {
    throw new InvalidOptionsError('BroadcastChannel is not available here: pass a TabChannel');
  }
  return new Channel(name);
}
