/** `host`: an end host: links, Wi-Fi stations, routes, `exec` and `run` commands; no daemon, no forwarding. */
import type { Kind } from './kind.js';

export const host: Kind = {
  name: 'host',
  title: 'host',
  forward: false,
  shape: (n, esc) => `["${esc(n.name)}"]`,
};
