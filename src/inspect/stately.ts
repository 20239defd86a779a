import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import WebSocket from 'ws';
import type { AnyEventObject, InspectionEvent, MachineContext, Observer } from 'xstate';
import { createSanitizer, type SanitizeOptions } from './sanitize.js';

/**
 * Options for `@statelyai/inspect`'s `createBrowserInspector` / `createWebSocketInspector` that pass machine context
 * and events through actorsync's sanitiser. Stately applies these hooks to machine actors only; for a Node app,
 * `createStatelyWebSocketInspector` sanitises everything it sends.
 */
export function statelySanitizers(options: SanitizeOptions = {}) {
  const sanitize = createSanitizer({ maxArrayItems: 5, ...options });
  return {
    sanitizeContext: (context: MachineContext): MachineContext => sanitize(context) as MachineContext,
    sanitizeEvent: (event: AnyEventObject): AnyEventObject => {
      const { type, ...rest } = event;
      return { ...(sanitize(rest) as object), type };
    },
  };
}

export interface StatelyInspectorHandle {
  /** Pass as actorsync's `inspect` option (or to `createActor`). */
  readonly inspect: Observer<InspectionEvent>;
  stop(): void;
}

export interface StatelyWebSocketInspectorOptions {
  /** A relay that forwards to Stately's inspector, e.g. `ws://127.0.0.1:8080`. */
  url: string;
  sanitize?: SanitizeOptions;
  /** Events kept while the socket connects. Default 1,000. */
  maxQueued?: number;
}

/**
 * Stately's inspector over a WebSocket, with every event (snapshots of promise actors and their outputs
 * included) sanitised before it leaves the process. Pass `.inspect` as actorsync's `inspect` option.
 */
export function createStatelyWebSocketInspector(
  options: StatelyWebSocketInspectorOptions,
): StatelyInspectorHandle {
  const sanitize = createSanitizer({ maxArrayItems: 5, ...options.sanitize });
  const maxQueued = options.maxQueued ?? 1_000;
  const queued: string[] = [];
  let socket: WebSocket | undefined;
  const adapter = {
    start() {
      socket = new WebSocket(options.url);
      socket.on('open', () => {
        for (const message of queued.splice(0)) socket?.send(message);
      });
      // A missing relay must not crash the app it inspects.
      socket.on('error', () => {});
    },
    stop() {
      socket?.close();
      socket = undefined;
    },
    send(event: StatelyInspectionEvent) {
      const message = JSON.stringify(sanitize(event));
      if (socket?.readyState === WebSocket.OPEN) socket.send(message);
      else if (queued.push(message) > maxQueued) queued.shift();
    },
  };
  const inspector = createInspector(adapter, { autoStart: false });
  inspector.start();
  return { inspect: inspector.inspect, stop: () => inspector.stop() };
}
