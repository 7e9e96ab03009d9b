/**
 * Renders a vega-lite spec to SVG with vega's headless View and to PNG with resvg (a Rust SVG
 * renderer shipped inside its npm package): no browser, no canvas, no network.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { LispwgError } from '../../src/util/errors.js';
import type { Spec } from './plot.js';

async function toSvg(spec: Spec): Promise<string> {
  let compiled: vega.Spec;
  try {
    compiled = compile(spec).spec;
  } catch (e) {
    throw new LispwgError('FIGURE_SPEC', `the figure spec does not compile: ${e instanceof Error ? e.message : String(e)}`);
  }
  // 'none': no renderer at all; toSVG() builds the markup from the scenegraph. The loader refuses
  // every URL: a figure draws only the data inlined in its spec.
  const loader = vega.loader({ mode: 'file' });
  loader.load = () => Promise.reject(new Error('figures inline their data; no loading'));
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}

/** Writes <base>.vl.json (the spec, data inlined), <base>.svg and <base>.png into dir. */
export async function writeFigure(dir: string, base: string, spec: Spec): Promise<{ svg: string; png: string; spec: string }> {
  const svg = await toSvg(spec);
  const paths = { spec: join(dir, `${base}.vl.json`), svg: join(dir, `${base}.svg`), png: join(dir, `${base}.png`) };
  writeFileSync(paths.spec, JSON.stringify(spec) + '\n');
  writeFileSync(paths.svg, svg);
  writeFileSync(paths.png, svgToPng(svg));
  return paths;
}
