/** `router`: a host that forwards (ip_forward on unless `forward: false`); routes are its static `routes`. */
import type { Kind } from './kind.js';

export const router: Kind = {
  name: 'router',
  title: 'router',
  forward: true,
  shape: (n, esc) => `(("${esc(n.name)}"))`,
};
