// `actorsync/inspect`: ways to watch the actors (Node only: a local page server, trace files, Stately's inspector).

export type { IngestOptions, IngestStats } from './inspect/ingest.js';
export {
  type ActiveRunSummary,
  type ActorNode,
  ActorTree,
  type InspectorRecord,
} from './inspect/inspector-model.js';
export {
  createInspector,
  type InspectorControlTarget,
  type InspectorIngest,
  type LocalInspector,
  type LocalInspectorOptions,
} from './inspect/inspector-server.js';
export { createSanitizer, REDACTED, type SanitizeOptions, type Sanitizer } from './inspect/sanitize.js';
export {
  createStatelyWebSocketInspector,
  type StatelyInspectorHandle,
  type StatelyWebSocketInspectorOptions,
  statelySanitizers,
} from './inspect/stately.js';
export {
  createTraceInspector,
  readTrace,
  type Trace,
  TraceFileError,
  TraceFormatError,
  type TraceHeader,
  type TraceInspector,
  type TraceInspectorOptions,
} from './inspect/trace.js';
