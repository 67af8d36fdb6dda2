// The tenant's accent colour (its branding) as the app's accent roles, in both themes,
// each shade moved just far enough that its text keeps WCAG AA contrast (4.5:1): white on
// a primary button, a link on the surface, the selected item's text on its tint. A
// tenant's yellow becomes a deep amber for links on white and stays light on dark.

/** The report colour a tenant has unless it chose one (crates/avesa-report's
 *  `DEFAULT_ACCENT`): the app keeps its own indigo then. */
export const DEFAULT_ACCENT = "#1d4ed8";

type Rgb = [number, number, number];

const WHITE: Rgb = [255, 255, 255];
/** The light theme's surface (white) and the dark one's (slate-900). */
const LIGHT_SURFACE: Rgb = WHITE;
const DARK_SURFACE: Rgb = [15, 23, 42];
// A little over 4.5, so the shades still pass once rounded to whole hex values.
const AA = 4.6;

export function parseHex(hex: string): Rgb | null {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) return null;
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function hex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

/** WCAG relative luminance. */
function luminance([r, g, b]: Rgb): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG contrast ratio of two colours. */
export function contrast(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** `a` mixed with `b`: `t` = 0 is `a`, 1 is `b`. */
function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => a[i] + (b[i] - a[i]) * t) as Rgb;
}

/** `c` moved towards `towards` in small steps until it has `ratio` against `against`. */
function until(c: Rgb, towards: Rgb, against: Rgb, ratio: number): Rgb {
  for (let t = 0; t <= 1.0001; t += 0.02) {
    const m = mix(c, towards, t);
    if (contrast(m, against) >= ratio) return m;
  }
  return towards;
}

const BLACK: Rgb = [0, 0, 0];

/** The CSS variables of the accent roles for a colour, light and dark; null when it is
 *  not a colour or is the default (the app's own palette stays). */
export function accentVars(accent: string | null | undefined): { light: Record<string, string>; dark: Record<string, string> } | null {
  if (!accent || accent.toLowerCase() === DEFAULT_ACCENT) return null;
  const c = parseHex(accent);
  if (!c) return null;
  // Light: the colour, darkened until white reads on it (it is then a link colour on white
  // too); its tint is the colour faded into white, with the colour darkened on it.
  const primary = until(c, BLACK, WHITE, AA);
  const softLight = mix(c, LIGHT_SURFACE, 0.9);
  // Dark: links and the selected in the colour lightened until it reads on slate-900.
  const accentDark = until(c, WHITE, DARK_SURFACE, AA);
  const softDark = mix(c, DARK_SURFACE, 0.75);
  return {
    light: {
      "--avesa-primary": hex(primary),
      "--avesa-primary-hover": hex(mix(primary, BLACK, 0.12)),
      "--avesa-accent": hex(primary),
      "--avesa-accent-hover": hex(mix(primary, BLACK, 0.15)),
      "--avesa-accent-soft": hex(softLight),
      "--avesa-accent-soft-fg": hex(until(primary, BLACK, softLight, AA)),
    },
    dark: {
      "--avesa-primary": hex(primary),
      "--avesa-primary-hover": hex(mix(primary, BLACK, 0.12)),
      "--avesa-accent": hex(accentDark),
      "--avesa-accent-hover": hex(mix(accentDark, WHITE, 0.2)),
      "--avesa-accent-soft": hex(softDark),
      "--avesa-accent-soft-fg": hex(until(accentDark, WHITE, softDark, AA)),
    },
  };
}

/** The style sheet setting the variables (after index.css, so it wins). */
export function accentCss(accent: string | null | undefined): string {
  const v = accentVars(accent);
  if (!v) return "";
  const block = (vars: Record<string, string>) =>
    Object.entries(vars)
      .map(([k, val]) => `${k}:${val};`)
      .join("");
  return `:root{${block(v.light)}}.dark{${block(v.dark)}}`;
}
