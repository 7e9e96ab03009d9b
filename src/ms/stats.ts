/**
 * The Map-Server's counters (one per event and per drop reason) and latency histograms.
 * Histograms are log-linear (16 sub-buckets per power of two: about 4 % resolution) over
 * nanoseconds, so recording costs a few operations and no allocation.
 */

const COUNTER_NAMES = [
  'rx',
  'rx-stranger',
  'rx-map-request',
  'rx-ecm',
  'rx-map-register',
  'rx-map-notify-ack',
  'tx-map-reply',
  'tx-negative-map-reply',
  'tx-map-notify-register',
  'tx-map-notify-push',
  'tx-map-notify-subscription',
  'tx-retransmit',
  'registrations-new',
  'registrations-refreshed',
  'registrations-changed',
  'registrations-expired',
  'registrations-withdrawn',
  'deregistrations',
  'pushes-acked',
  'pushes-unacked',
  'push-wait-timeouts',
  'pushes-on-change',
  'subscriptions-added',
  'subscriptions-notified',
  'subscriptions-acked',
  'subscriptions-unacked',
  'subscriptions-evicted',
  'send-errors',
  // the registration store (store.ts), at start
  'store-loaded',
  'store-expired-at-load',
  'store-refused-at-load',
  // another replica's changes (a shared store): applied, refused by this replica's configuration, failed
  'store-remote-new',
  'store-remote-changed',
  'store-remote-refreshed',
  'store-remote-refused',
  'store-remote-errors',
  'store-remote-stale',
  'store-binding-conflicts',
  // strangers (no site's xTR): answered, never believed
  'rx-map-request-stranger',
  'reply-records-cut-amplification',
  'itr-rloc-not-senders',
  'source-eid-not-senders',
  'register-nonce-zero',
  'no-push-plain-site',
  // drop reasons
  'drop-rate-limited-site',
  'drop-rate-limited-source',
  'drop-rate-limited-strangers',
  'drop-malformed',
  'drop-bad-checksum',
  'drop-unexpected-type',
  'drop-unknown-site',
  'drop-bad-hmac',
  'drop-bad-key-id',
  'drop-prefix-not-allowed',
  'drop-key-not-allowed',
  'drop-bad-record',
  'drop-unknown-nonce',
  'drop-too-many-records',
  'drop-not-a-site',
  'drop-not-through-tunnel',
  'drop-covers-other-site',
  'drop-key-of-other-site',
  'drop-site-key-limit',
  'drop-replayed',
  'drop-stale-nonce',
  'drop-site-quota',
  'drop-global-limit',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

const COUNTER_INDEX = new Map<CounterName, number>(COUNTER_NAMES.map((n, i) => [n, i]));

export class Counters {
  private readonly values = new Float64Array(COUNTER_NAMES.length);

  inc(name: CounterName, by = 1): void {
    this.values[COUNTER_INDEX.get(name)!]! += by;
  }

  get(name: CounterName): number {
    return this.values[COUNTER_INDEX.get(name)!]!;
  }

  /** Every counter, zeros included, in a fixed order. */
  toJSON(): Record<CounterName, number> {
    return Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, this.values[i]!])) as Record<CounterName, number>;
  }
}

const SUB = 16; // sub-buckets per power of two
const SUB_BITS = 4;
const BUCKETS = 64 * SUB;

function bucketOf(ns: number): number {
  if (ns < SUB) return Math.max(0, Math.floor(ns));
  const v = ns >= 2 ** 52 ? 2 ** 52 : Math.floor(ns);
  const e = v < 2 ** 32 ? 31 - Math.clz32(v) : 32 + 31 - Math.clz32(Math.floor(v / 2 ** 32));
  const sub = Math.floor(v / 2 ** (e - SUB_BITS)) - SUB; // 0..15
  return (e - SUB_BITS + 1) * SUB + sub;
}

/** The lowest value of bucket i (ns). */
function bucketLow(i: number): number {
  if (i < SUB) return i;
  const e = Math.floor(i / SUB) - 1 + SUB_BITS;
  return (SUB + (i % SUB)) * 2 ** (e - SUB_BITS);
}

export interface HistogramSummary {
  count: number;
  /** Microseconds. */
  min: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private lo = Infinity;
  private hi = 0;

  /** Records one duration in nanoseconds. */
  record(ns: number): void {
    this.counts[bucketOf(ns)]!++;
    this.n++;
    this.sum += ns;
    if (ns < this.lo) this.lo = ns;
    if (ns > this.hi) this.hi = ns;
  }

  get count(): number {
    return this.n;
  }

  /** The sum of every recorded duration (ns). */
  get sumNs(): number {
    return this.sum;
  }

  /**
   * How many recorded durations are at most each bound (ns, ascending): the cumulative buckets of
   * a Prometheus histogram (src/metrics/prometheus.ts). A log-linear bucket counts under a bound
   * only when its upper edge (exclusive) is at most the bound, so every value counted under `b`
   * is <= b; a bucket that straddles a bound goes to the next bound up. So each figure is a lower
   * bound of the true count, short by at most the straddling bucket (1/16 of a power of two: 6 %
   * of the bound's magnitude). One pass over the buckets, read on a scrape only.
   */
  cumulative(boundsNs: readonly number[]): number[] {
    const out = new Array<number>(boundsNs.length);
    let acc = 0;
    let j = 0;
    for (let i = 0; i < BUCKETS && j < boundsNs.length; i++) {
      const upper = bucketLow(i + 1);
      while (j < boundsNs.length && upper > boundsNs[j]!) out[j++] = acc;
      acc += this.counts[i]!;
    }
    while (j < boundsNs.length) out[j++] = acc;
    return out;
  }

  /** The q-quantile (0..1) in nanoseconds (the middle of its bucket, clamped to min/max). */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = i < SUB ? i : (bucketLow(i) + bucketLow(i + 1)) / 2;
        return Math.min(this.hi, Math.max(this.lo, mid));
      }
    }
    return this.hi;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.lo = Infinity;
    this.hi = 0;
  }

  /** Summary in microseconds. */
  summary(): HistogramSummary {
    const us = (ns: number) => Math.round(ns) / 1000;
    return {
      count: this.n,
      min: this.n ? us(this.lo) : NaN,
      median: us(this.quantile(0.5)),
      p90: us(this.quantile(0.9)),
      p99: us(this.quantile(0.99)),
      max: this.n ? us(this.hi) : NaN,
      mean: this.n ? us(this.sum / this.n) : NaN,
    };
  }

  /** Non-empty buckets as [low ns, count], for plotting. */
  buckets(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) out.push([bucketLow(i), this.counts[i]!]);
    return out;
  }
}
