// index.css's colour roles and chart palette, light and dark, checked against WCAG AA:
// text 4.5:1 on every background it sits on, chart marks 3:1 on the cards (non-text
// contrast). Colours are resolved as the browser does: Tailwind's palette (oklch) and
// color-mix in oklab. Also: every --chart-* and --color-* the code names is defined.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const read = (rel: string) => readFileSync(new URL(rel, import.meta.url), "utf8");
const indexCss = read("../index.css");
const tailwind = read("../../node_modules/tailwindcss/theme.css");

type Lab = [number, number, number]; // OKLab

const palette = new Map<string, Lab>();
for (const m of tailwind.matchAll(/--color-([a-z]+-\d+):\s*oklch\(([\d.]+)%\s+([\d.]+)\s+([\d.]+)\)/g)) {
  const [L, C, H] = [Number(m[2]) / 100, Number(m[3]), Number(m[4])];
  palette.set(m[1], [L, C * Math.cos((H * Math.PI) / 180), C * Math.sin((H * Math.PI) / 180)]);
}
palette.set("white", [1, 0, 0]);
palette.set("black", [0, 0, 0]);

/** The declarations of a rule whose selector is exactly `selector`. */
function block(selector: string): Map<string, string> {
  const start = indexCss.search(new RegExp(`^${selector.replace(".", "\\.")} \\{`, "m"));
  if (start < 0) throw new Error(`no ${selector} rule in index.css`);
  const body = indexCss.slice(indexCss.indexOf("{", start) + 1, indexCss.indexOf("\n}", start));
  const out = new Map<string, string>();
  for (const m of body.matchAll(/(--[a-z0-9-]+):\s*([^;]+);/g)) out.set(m[1], m[2].trim());
  return out;
}
const LIGHT = block(":root");
const DARK = new Map([...LIGHT, ...block(".dark")]);

function resolve(value: string, vars: Map<string, string>): Lab {
  const v = value.trim();
  let m = /^var\((--[a-z0-9-]+)\)$/.exec(v);
  if (m) {
    const name = m[1];
    if (vars.has(name)) return resolve(vars.get(name)!, vars);
    const p = palette.get(name.replace(/^--color-/, ""));
    if (!p) throw new Error(`unknown colour ${name}`);
    return p;
  }
  m = /^color-mix\(in oklab,\s*(var\([^)]+\))\s+([\d.]+)%,\s*(var\([^)]+\))\)$/.exec(v);
  if (m) {
    const a = resolve(m[1], vars);
    const b = resolve(m[3], vars);
    const t = Number(m[2]) / 100;
    return [0, 1, 2].map((i) => a[i] * t + b[i] * (1 - t)) as Lab;
  }
  throw new Error(`cannot read colour ${v}`);
}

function luminance([L, a, b]: Lab): number {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  const r = clamp(4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s);
  const g = clamp(-1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s);
  const bl = clamp(-0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s);
  return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
}

function contrast(fg: string, bg: string, vars: Map<string, string>): number {
  const x = luminance(resolve(`var(${fg})`, vars));
  const y = luminance(resolve(`var(${bg})`, vars));
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

const THEMES = [
  ["light", LIGHT],
  ["dark", DARK],
] as const;
const BACKGROUNDS = ["--avesa-canvas", "--avesa-surface", "--avesa-subtle", "--avesa-raised"];

describe("colour roles (index.css)", () => {
  for (const [name, vars] of THEMES) {
    it(`${name}: text roles meet 4.5:1 on every background`, () => {
      for (const fg of ["--avesa-fg", "--avesa-fg-soft", "--avesa-fg-muted", "--avesa-accent", "--avesa-danger"]) {
        for (const bg of BACKGROUNDS) {
          expect(contrast(fg, bg, vars), `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
        }
      }
      expect(contrast("--avesa-accent-soft-fg", "--avesa-accent-soft", vars)).toBeGreaterThanOrEqual(4.5);
    });

    it(`${name}: chart marks meet 3:1 on the cards`, () => {
      const marks = [...vars.keys()].filter((k) => k.startsWith("--chart-"));
      expect(marks.length).toBeGreaterThan(5);
      for (const c of marks) expect(contrast(c, "--avesa-surface", vars), c).toBeGreaterThanOrEqual(3);
    });
  }

  it("the dark theme is dark and the light one light", () => {
    expect(luminance(resolve("var(--avesa-surface)", DARK))).toBeLessThan(0.05);
    expect(luminance(resolve("var(--avesa-fg)", DARK))).toBeGreaterThan(0.6);
    expect(luminance(resolve("var(--avesa-surface)", LIGHT))).toBeGreaterThan(0.9);
  });

  it("defines every colour variable the code names", () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.tsx?$/.test(f) && !f.endsWith(".test.ts")) files.push(p);
      }
    };
    walk(new URL("..", import.meta.url).pathname);
    const roles = new Set([...indexCss.matchAll(/^\s*(--color-[a-z-]+):\s*var\(--avesa-/gm)].map((m) => m[1]));
    for (const f of files) {
      const src = readFileSync(f, "utf8");
      for (const m of src.matchAll(/var\((--chart-[a-z-]+)\)/g)) {
        expect(block(":root").has(m[1]) && block(".dark").has(m[1]), `${m[1]} in ${f}`).toBe(true);
      }
      for (const m of src.matchAll(/var\((--color-[a-z0-9-]+)\)/g)) {
        expect(roles.has(m[1]) || palette.has(m[1].slice("--color-".length)), `${m[1]} in ${f}`).toBe(true);
      }
    }
  });
});
