/**
 * The report as a reader sees it: Debian's headless Chromium (through playwright-core) loads
 * results/index.html from a loopback HTTP server rooted at the report's folder and checks that
 * nothing on the page went wrong: no console error, no failed or refused request, every figure
 * (img, object, svg) visible at a non-zero natural size, and every link resolving to a file that
 * exists (samples, metadata, summaries) or to an anchor of the page. It can take a screenshot of
 * the overview. Used by `npm run report` and its test.
 */
import { accessSync, constants, createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { LispwgError } from '../../src/util/errors.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_MISSING = 'chromium not found: install it with lab/setup.sh (package chromium)';

/** No network, no first-run or background work: the browser only ever talks to our loopback server. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The Chromium to use, when it is installed (LISPWG_CHROMIUM names another). */
export function chromiumPath(path = process.env.LISPWG_CHROMIUM || CHROMIUM): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

export interface FigureState {
  tag: string;
  src: string;
  width: number;
  height: number;
  naturalWidth: number;
  naturalHeight: number;
  visible: boolean;
}

export interface ReportCheck {
  /** everything that went wrong, one line each; empty when the page is right */
  problems: string[];
  figures: FigureState[];
  /** links checked (files and anchors) */
  links: number;
  /** the page's text, for tests that read it */
  text: string;
  screenshot?: string;
}

export interface CheckOptions {
  executablePath?: string;
  /** how many figures the page must show (every figure must load in any case) */
  figures?: number;
  /** file names every <figure> must link to, e.g. samples.jsonl */
  figureLinks?: readonly string[];
  /** where to write a PNG of the page from its top to the end of the element with this id */
  screenshot?: { file: string; until: string };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.jsonl': 'application/x-ndjson',
  '.css': 'text/css',
};

/** The file under `root` a URL path names, or undefined when it leaves root. */
function fileOf(root: string, urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  const file = resolve(root, '.' + path);
  return file === root || file.startsWith(root + sep) ? file : undefined;
}

/** A read-only static server for `root` on 127.0.0.1 (a free port). */
async function serve(root: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const file = req.method === 'GET' || req.method === 'HEAD' ? fileOf(root, new URL(req.url ?? '/', 'http://x').pathname) : undefined;
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(file ? 404 : 403).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Loads `htmlFile` in headless Chromium and reports what is wrong with it. */
export async function checkReport(htmlFile: string, opts: CheckOptions = {}): Promise<ReportCheck> {
  const executablePath = opts.executablePath ?? chromiumPath();
  if (!executablePath) throw new LispwgError('REPORT_NO_CHROMIUM', CHROMIUM_MISSING);
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new LispwgError('REPORT_NO_PLAYWRIGHT', `playwright-core is not installed (a devDependency: npm ci): ${e instanceof Error ? e.message : String(e)}`);
  }
  const root = resolve(dirname(htmlFile));
  const { server, origin } = await serve(root);
  const profile = mkdtempSync(join(tmpdir(), 'lispwg-chromium-'));
  const problems: string[] = [];
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1100, height: 900 } });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console error: ${m.text()}${m.location().url ? ` (${m.location().url})` : ''}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? 'no reason'})`));
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`request failed: ${r.url()} (HTTP ${r.status()})`);
      });
      const url = `${origin}/${relative(root, resolve(htmlFile)).split(sep).map(encodeURIComponent).join('/')}`;
      await page.goto(url, { waitUntil: 'load' });

      const figures = await page.$$eval('img, object, svg', (els) =>
        els
          .filter((el) => !(el.tagName.toLowerCase() === 'svg' && el.parentElement?.closest('svg')))
          .map((el) => {
            const box = el.getBoundingClientRect();
            const style = getComputedStyle(el);
            const tag = el.tagName.toLowerCase();
            let naturalWidth = 0;
            let naturalHeight = 0;
            let src = '';
            if (el instanceof HTMLImageElement) {
              naturalWidth = el.complete ? el.naturalWidth : 0;
              naturalHeight = el.complete ? el.naturalHeight : 0;
              src = el.getAttribute('src') ?? '';
            } else if (el instanceof HTMLObjectElement) {
              // a missing file leaves the object without a document (its fallback shows instead)
              const doc = el.contentDocument?.documentElement;
              const r = doc?.getBoundingClientRect();
              naturalWidth = r?.width ?? 0;
              naturalHeight = r?.height ?? 0;
              src = el.getAttribute('data') ?? '';
            } else {
              const r = (el as SVGSVGElement).getBBox();
              naturalWidth = r.width;
              naturalHeight = r.height;
              src = 'inline svg';
            }
            return { tag, src, width: box.width, height: box.height, naturalWidth, naturalHeight, visible: box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none' };
          }),
      );
      for (const f of figures) {
        if (!f.visible) problems.push(`figure not visible: ${f.tag} ${f.src} (${f.width}x${f.height} on the page)`);
        if (!(f.naturalWidth > 0 && f.naturalHeight > 0)) problems.push(`figure did not load: ${f.tag} ${f.src} (natural size ${f.naturalWidth}x${f.naturalHeight})`);
      }
      if (opts.figures !== undefined && figures.length !== opts.figures) problems.push(`${figures.length} figures on the page, expected ${opts.figures}`);
      const empty = await page.$$eval('figure', (fs) => fs.filter((f) => !f.querySelector('img, object, svg')).length);
      if (empty) problems.push(`${empty} <figure> element(s) without an image`);

      const links = await page.$$eval('a[href]', (as) =>
        as.map((a) => {
          const href = a.getAttribute('href')!;
          const fig = a.closest('figure');
          return { href, abs: (a as HTMLAnchorElement).href, figure: fig ? [...document.querySelectorAll('figure')].indexOf(fig) : -1, anchor: href.startsWith('#') ? document.getElementById(href.slice(1)) !== null : null };
        }),
      );
      for (const l of links) {
        if (l.anchor !== null) {
          if (!l.anchor) problems.push(`link to a missing anchor: ${l.href}`);
          continue;
        }
        const u = new URL(l.abs);
        if (u.origin !== origin) {
          problems.push(`link leaves the report: ${l.href}`);
          continue;
        }
        const file = fileOf(root, u.pathname);
        if (!file || !existsSync(file) || !statSync(file).isFile()) problems.push(`link to a missing file: ${l.href}`);
      }
      const figureCount = await page.$$eval('figure', (fs) => fs.length);
      for (let i = 0; i < figureCount; i++) {
        for (const name of opts.figureLinks ?? []) {
          if (!links.some((l) => l.figure === i && basename(new URL(l.abs).pathname) === name)) problems.push(`figure ${i + 1} has no link to its ${name}`);
        }
      }

      const text = await page.innerText('body');
      let screenshot: string | undefined;
      if (opts.screenshot) {
        const box = await page.locator(`#${opts.screenshot.until}`).boundingBox();
        if (!box) problems.push(`no #${opts.screenshot.until} to take a screenshot of`);
        else {
          await page.screenshot({ path: opts.screenshot.file, fullPage: true, clip: { x: 0, y: 0, width: 1100, height: Math.ceil(box.y + box.height + 16) } });
          screenshot = opts.screenshot.file;
        }
      }
      return { problems, figures, links: links.length, text, ...(screenshot ? { screenshot } : {}) };
    } finally {
      await context.close();
    }
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    rmSync(profile, { recursive: true, force: true });
  }
}
