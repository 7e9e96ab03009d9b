import { describe, expect, it } from 'vitest';
import { parseExposition } from './scrape.js';

describe('the lab scraper reads the text exposition', () => {
  it('keeps counters, gauges and histogram sums and counts by series; leaves buckets, comments and junk out', () => {
    const text = [
      '# HELP lispwg_ms_rx_total Datagrams received',
      '# TYPE lispwg_ms_rx_total counter',
      'lispwg_ms_rx_total 42',
      'lispwg_ms_registrations{site="a b} c"} 3',
      'lispwg_ms_map_request_duration_seconds_bucket{le="0.001"} 7',
      'lispwg_ms_map_request_duration_seconds_sum 0.0123',
      'lispwg_ms_map_request_duration_seconds_count 9',
      'lispwg_xtr_peers 1 1796595446095',
      'garbage',
      'lispwg_x NaNx',
      '',
    ].join('\n');
    expect(parseExposition(text)).toEqual({
      lispwg_ms_rx_total: 42,
      'lispwg_ms_registrations{site="a b} c"}': 3,
      lispwg_ms_map_request_duration_seconds_sum: 0.0123,
      lispwg_ms_map_request_duration_seconds_count: 9,
      lispwg_xtr_peers: 1,
    });
  });
});
