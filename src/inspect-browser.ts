// `actorsync/inspect/browser`: stream a web app's actors to the local inspector (`actorsync inspect --listen`).
// Browser-safe: no Node built-in (test/package/browser-bundle.test.ts bundles it). `actorsync/inspect` is Node only.
export {
  createRemoteInspector,
  type RemoteInspector,
  type RemoteInspectorOptions,
  type RemoteInspectorStats,
} from './inspect/remote-inspector.js';
export type { SanitizeOptions } from './inspect/sanitize.js';
