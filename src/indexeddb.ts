// `actorsync/indexeddb`: the browser store (IndexedDB, through `idb`); free of Node built-ins.
export {
  IndexedDbLocalStore,
  type IndexedDbLocalStoreOptions,
  type StoreAnnouncement,
  type StoreAnnouncements,
  type WakeEventTarget,
} from './store/indexeddb-store.js';
