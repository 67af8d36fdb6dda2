// The colour theme: the user's choice (System, Light or Dark, kept in this browser) and
// the theme it comes to. "System" follows the OS (prefers-color-scheme). The page's root
// element carries the `dark` class when the theme is dark (index.css turns that into
// colours). public/theme.js applies the stored choice before the first paint, from the
// same key and rule as here (a separate file, as the server's CSP allows no inline
// script); theme.test.ts runs both. Framework-free.

export type ThemeChoice = "system" | "light" | "dark";
export type Theme = "light" | "dark";

/** Where the choice is kept (localStorage); absent means "system". */
export const THEME_KEY = "avesa.theme";
export const DARK_QUERY = "(prefers-color-scheme: dark)";

export const THEME_CHOICES: { id: ThemeChoice; label: string }[] = [
  { id: "system", label: "System" },
  { id: "light", label: "Light" },
  { id: "dark", label: "Dark" },
];

/** A stored value as a choice: anything but "light" or "dark" is "system". */
export function readChoice(raw: string | null | undefined): ThemeChoice {
  return raw === "light" || raw === "dark" ? raw : "system";
}

/** The theme a choice comes to, given whether the OS prefers dark. */
export function resolveTheme(choice: ThemeChoice, systemDark: boolean): Theme {
  return choice === "system" ? (systemDark ? "dark" : "light") : choice;
}

/** Marks the root element with the theme (`dark` class, and `data-theme`). */
export function applyTheme(root: { classList: { toggle(token: string, force?: boolean): boolean }; setAttribute(name: string, value: string): void }, theme: Theme): void {
  root.classList.toggle("dark", theme === "dark");
  root.setAttribute("data-theme", theme);
}
