/**
 * The units topology files speak: rates in tc's words (`50mbit`), durations (`20ms`), loss (`1%`).
 * Each parser returns the value or a message saying what was expected.
 */

const RATE = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)$/i;
const RATE_MULT: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** `50mbit` -> 50e6 bits/s. */
export function parseRate(text: string | number): number | string {
  if (typeof text === 'number') return `write the rate with its unit, e.g. '${text}mbit'`;
  const m = RATE.exec(text.trim());
  if (!m) return `'${text}' is not a rate (write it as tc does: 100kbit, 50mbit, 1gbit)`;
  const v = Number(m[1]) * RATE_MULT[m[2]!.toLowerCase()]!;
  if (v < 8000) return `rate '${text}' is below 8kbit, the smallest tc shapes reliably`;
  return v;
}

/** Durations are the one syntax of every lispwg file (src/util/config-file.ts): `150us`, `20ms`, `1.5s`. */
export { parseDuration } from '../../src/util/config-file.js';

/** `0.5%` -> 0.5 (percent). */
export function parseLoss(text: string | number): number | string {
  const m = typeof text === 'string' ? /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim()) : null;
  if (!m) return `'${String(text)}' is not a loss rate (write it as a percentage: 0.1%, 5%)`;
  const v = Number(m[1]);
  if (v > 100) return `loss '${text}' is above 100%`;
  return v;
}

export const formatRate = (bps: number): string =>
  bps >= 1e9 && bps % 1e9 === 0 ? `${bps / 1e9}gbit` : bps >= 1e6 && bps % 1e6 === 0 ? `${bps / 1e6}mbit` : bps % 1e3 === 0 ? `${bps / 1e3}kbit` : `${bps}bit`;
