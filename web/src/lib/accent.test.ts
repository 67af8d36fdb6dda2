import { describe, expect, it } from "vitest";
import { accentCss, accentVars, contrast, DEFAULT_ACCENT, parseHex } from "./accent";

const WHITE = parseHex("#ffffff")!;
const SLATE_900 = parseHex("#0f172a")!;

describe("the tenant's accent colour", () => {
  it("keeps the app's own palette when none is chosen", () => {
    expect(accentVars(DEFAULT_ACCENT)).toBeNull();
    expect(accentVars(undefined)).toBeNull();
    expect(accentVars("not a colour")).toBeNull();
    expect(accentCss(DEFAULT_ACCENT)).toBe("");
  });

  it("keeps every role readable (AA) whatever the colour, in both themes", () => {
    for (const c of ["#facc15", "#0ea5e9", "#10b981", "#ef4444", "#111111", "#ffffff", "#7c3aed"]) {
      const v = accentVars(c)!;
      const rgb = (k: string, theme: "light" | "dark") => parseHex(v[theme][k])!;
      // White text on primary buttons and the selected navigation item.
      expect(contrast(rgb("--avesa-primary", "light"), WHITE), c).toBeGreaterThanOrEqual(4.5);
      expect(contrast(rgb("--avesa-primary-hover", "light"), WHITE), c).toBeGreaterThanOrEqual(4.5);
      // Links on the surface.
      expect(contrast(rgb("--avesa-accent", "light"), WHITE), c).toBeGreaterThanOrEqual(4.5);
      expect(contrast(rgb("--avesa-accent", "dark"), SLATE_900), c).toBeGreaterThanOrEqual(4.5);
      // The selected's text on its tint.
      for (const t of ["light", "dark"] as const) {
        expect(contrast(rgb("--avesa-accent-soft-fg", t), rgb("--avesa-accent-soft", t)), `${c} ${t}`).toBeGreaterThanOrEqual(4.5);
      }
    }
  });

  it("stays the colour when it already reads", () => {
    expect(accentVars("#7c3aed")!.light["--avesa-primary"]).toBe("#7c3aed");
    expect(accentVars("#FACC15")!.light["--avesa-primary"]).not.toBe("#facc15");
    expect(accentCss("#7c3aed")).toMatch(/^:root\{--avesa-primary:#7c3aed;.*\}\.dark\{.*\}$/);
  });
});
