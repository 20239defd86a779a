// `actorsync/lowdb`: the file store (Node only: it needs the file system).
export { LowdbLocalStore, type LowdbLocalStoreOptions, type StoreStats } from './store/lowdb-store.js';
