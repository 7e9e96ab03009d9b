import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from './events.js';
import { StateFile } from './state.js';

describe('event log', () => {
  it('appends JSON lines with wall-clock and monotonic times, keeps a bounded recent list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-events-'));
    try {
      const log = new EventLog(join(dir, 'ev', 'x.jsonl'), { agent: 'a' }, 3);
      const before = Date.now();
      log.emit('miss', { eid: '198.18.1.1' });
      const mono = performance.now();
      log.emit('peer-installed', { prefix: '198.18.1.1/32' }, mono - 5);
      for (let i = 0; i < 3; i++) log.emit('registered');
      await log.close();
      const lines = readFileSync(join(dir, 'ev', 'x.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
      expect(lines).toHaveLength(5);
      expect(lines[0]).toMatchObject({ event: 'miss', agent: 'a', eid: '198.18.1.1' });
      expect(lines[0]!.t as number).toBeGreaterThanOrEqual(before - 1);
      expect(lines[0]!.t as number).toBeLessThan(Date.now() + 1);
      // an event stamped in the past keeps its time
      expect((lines[1]!.mono as number) - (mono - 5)).toBeCloseTo(0, 2);
      expect(log.recent.map((e) => e.event)).toEqual(['registered', 'registered', 'registered']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes a turn's events with one append at its end, before the next turn's work", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-events-'));
    try {
      const file = join(dir, 'x.jsonl');
      const log = new EventLog(file);
      for (let i = 0; i < 50; i++) log.emit('miss', { i });
      expect(readFileSync(file, 'utf8')).toBe(''); // nothing written in the middle of the turn
      await new Promise((r) => setImmediate(r));
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { i: number });
      expect(lines.map((l) => l.i)).toEqual([...Array(50).keys()]);
      log.emit('registered');
      await log.close(); // close writes what is pending
      expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(51);
      expect(log.writeErrors).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('state file', () => {
  it('records what was made, reads it back, and reads a corrupt file as none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lispwg-state-'));
    try {
      const path = join(dir, 'a.state.json');
      const s = new StateFile(path);
      s.addInterface('a-wg');
      s.addInterface('a-wg');
      s.addSysctl('/proc/sys/net/ipv4/ip_forward', '0');
      s.addFile('/run/x.sock');
      expect(StateFile.read(path)).toMatchObject({ pid: process.pid, interfaces: ['a-wg'], sysctls: [{ path: '/proc/sys/net/ipv4/ip_forward', previous: '0' }], files: ['/run/x.sock'] });
      s.remove();
      expect(StateFile.read(path)).toBeUndefined();
      rmSync(path, { force: true });
      writeFileSync(path, '{ not json');
      expect(StateFile.read(path)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
