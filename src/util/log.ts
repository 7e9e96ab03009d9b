/**
 * Structured logs: one JSON object per line on stderr (`{"t":..., "level":..., "msg":..., ...}`),
 * or a readable line when stderr is a terminal. Daemons log through this so experiments can parse
 * their event logs; secrets (keys) must never be passed in fields.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  base: Record<string, unknown> = {},
  opts: { level?: Level; write?: (line: string) => void; json?: boolean } = {},
): Logger {
  const min = rank[opts.level ?? ((process.env.LISPWG_LOG as Level | undefined) ?? 'info')] ?? rank.info;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const json = opts.json ?? !process.stderr.isTTY;
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return;
    const rec = { t: new Date().toISOString(), level, msg, ...base, ...fields };
    if (json) write(JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    else {
      const extra = Object.entries({ ...base, ...fields }).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      write(`${rec.t} ${level.padEnd(5)} ${msg}${extra.length ? ' ' + extra.join(' ') : ''}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger({ ...base, ...f }, opts),
  };
}
