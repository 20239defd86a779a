// `actorsync/browser`: one syncing tab among the tabs of one app (docs/browser.md). Web platform only (Web Locks,
// BroadcastChannel, page lifecycle events), free of Node built-ins; its election and channel are injectable, so Node
// tests drive it with `memoryLocks()` and Node's own BroadcastChannel.
export {
  type AcquireOptions,
  type HeldLock,
  type LeaderLock,
  type LockLoss,
  type LockManagerLike,
  MemoryLockManager,
  memoryLocks,
  webLocks,
} from './browser/leader-lock.js';
export {
  broadcastChannel,
  type TabChannel,
  type TabChannelListener,
  type TabChannelMessage,
} from './browser/tab-channel.js';
export { parseTabMessage, TAB_MESSAGE_VERSION, type TabMessage } from './browser/tab-messages.js';
export {
  type Leadership,
  type LeadershipListener,
  type PageEventTarget,
  TabSync,
  type TabSyncOptions,
  type TabSyncStats,
} from './browser/tab-sync.js';
export { LeaderUnavailableError, TabSyncClosedError } from './browser/tab-sync-errors.js';
