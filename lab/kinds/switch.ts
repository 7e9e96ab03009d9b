/**
 * `switch`: a learning bridge (`br0` in its namespace, a reserved interface name there) whose
 * ports are its link ends; the ports carry no address. `lab check` pings from no switch.
 */
import type { Kind } from './kind.js';

export const sw: Kind = {
  name: 'switch',
  title: 'switch',
  forward: false,
  bridge: 'ports',
  shape: (n, esc) => `{{"${esc(`${n.name}<br/>switch`)}"}}`,
};
