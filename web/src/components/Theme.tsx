// The colour theme in React: the provider that keeps the root element's `dark` class in
// step with the user's choice and the OS (lib/theme.ts; public/theme.js set it before the
// first paint), and the System / Light / Dark switch in the header.
import { createContext, useCallback, useContext, useEffect, useLayoutEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from "react";
import { applyTheme, DARK_QUERY, readChoice, resolveTheme, THEME_CHOICES, THEME_KEY, type Theme, type ThemeChoice } from "../lib/theme";

interface ThemeState {
  /** What the user chose. */
  choice: ThemeChoice;
  /** What the pages show. */
  theme: Theme;
  setChoice: (c: ThemeChoice) => void;
}

const ThemeContext = createContext<ThemeState | null>(null);

function storedChoice(): ThemeChoice {
  try {
    return readChoice(window.localStorage.getItem(THEME_KEY));
  } catch {
    return "system";
  }
}

function darkQuery(): MediaQueryList | null {
  return typeof window.matchMedia === "function" ? window.matchMedia(DARK_QUERY) : null;
}

/** Whether the OS prefers dark, following its changes. */
function useSystemDark(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const q = darkQuery();
      q?.addEventListener("change", onChange);
      return () => q?.removeEventListener("change", onChange);
    },
    () => darkQuery()?.matches ?? false,
  );
}

export function ThemeProvider({ children }: { children: ReactNode }) {
  const [choice, setChoiceState] = useState<ThemeChoice>(storedChoice);
  const systemDark = useSystemDark();
  const theme = resolveTheme(choice, systemDark);

  // Before the browser paints the change.
  useLayoutEffect(() => applyTheme(document.documentElement, theme), [theme]);

  // A choice made in another tab.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key === THEME_KEY || e.key === null) setChoiceState(storedChoice());
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, []);

  const setChoice = useCallback((c: ThemeChoice) => {
    setChoiceState(c);
    try {
      if (c === "system") window.localStorage.removeItem(THEME_KEY);
      else window.localStorage.setItem(THEME_KEY, c);
    } catch {
      /* kept for this page only */
    }
  }, []);

  const value = useMemo(() => ({ choice, theme, setChoice }), [choice, theme, setChoice]);
  return <ThemeContext.Provider value={value}>{children}</ThemeContext.Provider>;
}

export function useTheme(): ThemeState {
  const ctx = useContext(ThemeContext);
  if (!ctx) throw new Error("useTheme must be used inside <ThemeProvider>");
  return ctx;
}

const ICONS: Record<ThemeChoice, ReactNode> = {
  // A monitor.
  system: <path d="M20 3H4c-1.1 0-2 .9-2 2v11c0 1.1.9 2 2 2h6v2H8v2h8v-2h-2v-2h6c1.1 0 2-.9 2-2V5c0-1.1-.9-2-2-2zm0 13H4V5h16v11z" />,
  // A sun.
  light: (
    <path d="M12 7a5 5 0 1 0 0 10 5 5 0 0 0 0-10zM11 1h2v3h-2V1zm0 19h2v3h-2v-3zM3.52 4.93l1.41-1.41 2.12 2.12-1.41 1.41-2.12-2.12zm13.43 13.43 1.41-1.41 2.12 2.12-1.41 1.41-2.12-2.12zM1 11h3v2H1v-2zm19 0h3v2h-3v-2zM4.93 20.48l-1.41-1.41 2.12-2.12 1.41 1.41-2.12 2.12zM18.36 7.05l-1.41-1.41 2.12-2.12 1.41 1.41-2.12 2.12z" />
  ),
  // A crescent moon.
  dark: <path d="M12.3 2.05A10 10 0 1 0 21.95 11.7 7.5 7.5 0 0 1 12.3 2.05z" />,
};

/** System / Light / Dark: three radio buttons drawn as one segmented control. */
export function ThemeToggle() {
  const { choice, theme, setChoice } = useTheme();
  return (
    <fieldset
      className="inline-flex shrink-0 rounded-lg border border-line-strong bg-surface p-0.5 shadow-sm"
      data-testid="theme-toggle"
      data-choice={choice}
      data-theme={theme}
    >
      <legend className="sr-only">Theme</legend>
      {THEME_CHOICES.map((c) => (
        <label
          key={c.id}
          title={`${c.label} theme${c.id === "system" ? " (as the operating system)" : ""}`}
          data-testid={`theme-${c.id}`}
          data-checked={choice === c.id}
          className="grid cursor-pointer place-items-center rounded-md p-1.5 text-fg-muted hover:text-fg has-checked:bg-accent-soft has-checked:text-accent-soft-fg has-focus-visible:ring-2 has-focus-visible:ring-indigo-500"
        >
          <input type="radio" name="avesa-theme" value={c.id} checked={choice === c.id} onChange={() => setChoice(c.id)} className="sr-only" />
          <svg viewBox="0 0 24 24" className="h-4 w-4" fill="currentColor" aria-hidden="true">
            {ICONS[c.id]}
          </svg>
          <span className="sr-only">{c.label}</span>
        </label>
      ))}
    </fieldset>
  );
}
