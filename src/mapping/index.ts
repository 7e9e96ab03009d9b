/** The mapping database and map-cache: EID prefixes, longest-prefix match per instance ID. */
export * from './eid.js';
export { PrefixTrie, type TrieMatch } from './trie.js';
export { MappingDatabase, prefixOf, type DatabaseMatch } from './database.js';
export { MapCache, type MapCacheEntry } from './map-cache.js';
