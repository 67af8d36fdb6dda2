import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { applyTheme, readChoice, resolveTheme, THEME_KEY, type Theme } from "./theme";

/** A root element's class list and attributes, enough for applyTheme and theme.js. */
function fakeRoot() {
  const classes = new Set<string>();
  const attrs = new Map<string, string>();
  return {
    classes,
    attrs,
    classList: {
      toggle(token: string, force?: boolean) {
        const on = force ?? !classes.has(token);
        if (on) classes.add(token);
        else classes.delete(token);
        return on;
      },
    },
    setAttribute: (n: string, v: string) => void attrs.set(n, v),
  };
}

describe("theme", () => {
  it("reads a stored choice, anything unknown as system", () => {
    expect(readChoice("light")).toBe("light");
    expect(readChoice("dark")).toBe("dark");
    for (const v of [null, undefined, "", "system", "Dark", "auto"]) expect(readChoice(v)).toBe("system");
  });

  it("resolves system by the OS, light and dark as chosen", () => {
    expect(resolveTheme("system", true)).toBe("dark");
    expect(resolveTheme("system", false)).toBe("light");
    expect(resolveTheme("light", true)).toBe("light");
    expect(resolveTheme("dark", false)).toBe("dark");
  });

  it("marks the root element", () => {
    const root = fakeRoot();
    applyTheme(root, "dark");
    expect(root.classes.has("dark")).toBe(true);
    expect(root.attrs.get("data-theme")).toBe("dark");
    applyTheme(root, "light");
    expect(root.classes.has("dark")).toBe(false);
    expect(root.attrs.get("data-theme")).toBe("light");
  });

  // public/theme.js runs before the app; it must come to the same theme from the same key.
  it("public/theme.js agrees with resolveTheme", () => {
    const src = readFileSync(new URL("../../public/theme.js", import.meta.url), "utf8");
    const run = new Function("window", "document", src);
    for (const stored of [null, "light", "dark", "system", "bogus"]) {
      for (const systemDark of [false, true]) {
        for (const hasMatchMedia of [true, false]) {
          const root = fakeRoot();
          const storage = new Map(stored === null ? [] : [[THEME_KEY, stored]]);
          run(
            {
              localStorage: { getItem: (k: string) => storage.get(k) ?? null },
              matchMedia: hasMatchMedia ? (q: string) => ({ matches: q === "(prefers-color-scheme: dark)" && systemDark }) : undefined,
            },
            { documentElement: root },
          );
          const want: Theme = resolveTheme(readChoice(stored), hasMatchMedia && systemDark);
          expect(root.classes.has("dark"), `${stored} / OS dark ${systemDark} / matchMedia ${hasMatchMedia}`).toBe(want === "dark");
          expect(root.attrs.get("data-theme")).toBe(want);
        }
      }
    }
  });

  it("public/theme.js follows the OS when storage is blocked", () => {
    const src = readFileSync(new URL("../../public/theme.js", import.meta.url), "utf8");
    const root = fakeRoot();
    new Function("window", "document", src)(
      {
        get localStorage(): never {
          throw new Error("SecurityError");
        },
        matchMedia: () => ({ matches: true }),
      },
      { documentElement: root },
    );
    expect(root.classes.has("dark")).toBe(true);
  });
});
