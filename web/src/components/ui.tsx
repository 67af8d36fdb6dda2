// Shared building blocks and their classes. Colours are index.css's roles (surface,
// line, fg …), the same classes in light and dark; the tinted tones below carry their own
// dark shades, so the components using them need none.
import type { ReactNode } from "react";
import { ApiError } from "../lib/api";

/** A form control (input, select): its border, surface, text and focus ring. */
export const CONTROL =
  "rounded-lg border border-line-strong bg-surface text-sm text-fg-soft shadow-sm placeholder:text-fg-faint focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/20";

/** A secondary button (add padding): outlined, on the surface. */
export const BUTTON =
  "rounded-lg border border-line-strong bg-surface text-sm font-medium text-fg-soft shadow-sm hover:bg-subtle disabled:cursor-not-allowed disabled:opacity-50";

/** A primary button (add padding). */
export const BUTTON_PRIMARY =
  "rounded-lg bg-primary text-sm font-medium text-white shadow-sm hover:bg-primary-hover disabled:opacity-50";

/** A text link. */
export const LINK = "text-accent hover:text-accent-hover";

export type Tone = "slate" | "green" | "amber" | "red" | "indigo";

/** Tinted chips (badges, goal status): text on a light tint, or on a deep one in dark. */
export const TONE: Record<Tone, string> = {
  slate: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
  green: "bg-emerald-50 text-emerald-700 dark:bg-emerald-950 dark:text-emerald-300",
  amber: "bg-amber-50 text-amber-700 dark:bg-amber-950 dark:text-amber-300",
  red: "bg-red-50 text-red-700 dark:bg-red-950 dark:text-red-300",
  indigo: "bg-indigo-50 text-indigo-700 dark:bg-indigo-950 dark:text-indigo-300",
};

/** Boxed messages: an error, a warning (the as-of banner). */
export const ALERT = {
  red: "rounded-lg border border-red-200 bg-red-50 text-red-700 dark:border-red-900 dark:bg-red-950/60 dark:text-red-300",
  amber: "rounded-lg border border-amber-200 bg-amber-50 text-amber-800 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-200",
} as const;

/** Good / bad news in text on the surface (a KPI's change, a restored record). */
export const TEXT_TONE = {
  green: "text-emerald-700 dark:text-emerald-400",
  amber: "text-amber-700 dark:text-amber-300",
  red: "text-red-700 dark:text-red-400",
} as const;

export function Card({ children, className = "" }: { children: ReactNode; className?: string }) {
  return <div className={`rounded-xl border border-line bg-surface shadow-sm ${className}`}>{children}</div>;
}

export function CardHeader({ title, subtitle, right }: { title: string; subtitle?: string; right?: ReactNode }) {
  return (
    <div className="flex items-start justify-between gap-4 border-b border-line-soft px-5 py-4">
      <div>
        <h2 className="text-sm font-semibold text-fg">{title}</h2>
        {subtitle && <p className="mt-0.5 text-xs text-fg-muted">{subtitle}</p>}
      </div>
      {right}
    </div>
  );
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="flex items-center gap-2 p-6 text-sm text-fg-muted" role="status">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-line-strong border-t-indigo-600 dark:border-t-indigo-400" />
      {label}
    </div>
  );
}

export function ErrorBox({ error, className = "" }: { error: unknown; className?: string }) {
  const message =
    error instanceof ApiError ? error.message : error instanceof Error ? error.message : "Something went wrong.";
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <div role="alert" data-testid="error" className={`${ALERT.red} px-4 py-3 text-sm ${className}`}>
      {message}
      {code && <span className="ml-2 font-mono text-xs">({code})</span>}
    </div>
  );
}

export function Badge({ children, tone = "slate" }: { children: ReactNode; tone?: Tone }) {
  return <span className={`inline-flex rounded-full px-2 py-0.5 text-xs font-medium ${TONE[tone]}`}>{children}</span>;
}
