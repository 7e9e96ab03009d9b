/**
 * `ap`: an emulated Wi-Fi access point: a bridge (`br0`) holding the gateway of its `subnet`,
 * one port per station associated with it (a veth whose other end is the station's radio),
 * shaped at its `rate`; stations (un)associate after its `associationDelay`. Forwards by default.
 */
import { cidrText } from '../topology/addr.js';
import type { Kind } from './kind.js';

export const ap: Kind = {
  name: 'ap',
  title: 'access point',
  forward: true,
  bridge: 'stations',
  shape: (n, esc) => `>"${esc(`${n.name}<br/>AP ${n.ap ? cidrText(n.ap.subnet) : ''}`)}"]`,
};
