import { MemoryServerStore } from '../../src/server/memory-server-store.js';
import { describeServerStore } from './server-store-contract.js';

describeServerStore('memory', (options) => MemoryServerStore.open(options));
