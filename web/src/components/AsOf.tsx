// The as-of picker of a detail page and its banner. The instant lives in the URL
// (`?as_of=2024-05-01T10:00:00Z`), so a view of the past can be bookmarked and shared,
// and the back button returns to the present.
import { useEffect, useState } from "react";
import { fromLocalInput, parseAsOf, toLocalInput, toRfc3339 } from "../lib/asof";
import { formatDateTime } from "../lib/format";
import { useUrlState } from "./Filters";
import { ALERT, BUTTON_PRIMARY, CONTROL } from "./ui";

export interface AsOfState {
  /** The instant shown (RFC 3339 UTC), or null for now. */
  asOf: string | null;
  /** The URL's `as_of` when it cannot be read. */
  invalid: string | null;
  /** Shows the page as of an instant (null: now). */
  setAsOf: (asOf: string | null) => void;
}

/** The page's as-of instant, read from and written to the URL. */
export function useAsOf(): AsOfState {
  const [params, update] = useUrlState();
  const parsed = parseAsOf(params.get("as_of"));
  const asOf = typeof parsed === "string" ? parsed : null;
  const invalid = parsed !== null && typeof parsed === "object" ? parsed.invalid : null;
  return { asOf, invalid, setAsOf: (v) => update({ as_of: v ?? undefined }) };
}

const control = `${CONTROL} px-2.5 py-1.5`;

/** A date-time input: "show this page as it was then". */
export function AsOfPicker({ asOf, setAsOf }: Pick<AsOfState, "asOf" | "setAsOf">) {
  const [value, setValue] = useState(toLocalInput(asOf));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setValue(toLocalInput(asOf));
    setError(null);
  }, [asOf]);
  return (
    <form
      noValidate
      className="flex flex-wrap items-end gap-2"
      data-testid="as-of-picker"
      onSubmit={(e) => {
        e.preventDefault();
        if (!value) {
          setAsOf(null);
          return;
        }
        const at = fromLocalInput(value);
        if (!at) {
          setError("Pick a date and a time.");
          return;
        }
        setError(null);
        setAsOf(at);
      }}
    >
      <label className="flex flex-col gap-0.5 text-xs font-medium text-fg-muted" htmlFor="as-of-input">
        As of
        <input
          id="as-of-input"
          data-testid="as-of-input"
          type="datetime-local"
          step={1}
          value={value}
          max={toLocalInput(toRfc3339(Date.now()))}
          onChange={(e) => setValue(e.target.value)}
          className={control}
          aria-describedby={error ? "as-of-error" : undefined}
        />
      </label>
      <button
        type="submit"
        data-testid="as-of-apply"
        className={`${BUTTON_PRIMARY} px-3 py-1.5`}
      >
        Show
      </button>
      {error && (
        <p id="as-of-error" role="alert" className="w-full text-xs text-danger">
          {error}
        </p>
      )}
    </form>
  );
}

/** "Showing this record as it was on …", with the way back to now. */
export function AsOfBanner({ asOf, onClear }: { asOf: string; onClear: () => void }) {
  return (
    <div
      role="status"
      data-testid="as-of-banner"
      data-as-of={asOf}
      className={`${ALERT.amber} flex flex-wrap items-center justify-between gap-3 px-4 py-3 text-sm`}
    >
      <p>
        <svg viewBox="0 0 24 24" className="mr-1.5 inline h-4 w-4 align-[-3px]" fill="currentColor" aria-hidden="true">
          <path d="M13 3a9 9 0 0 0-9 9H1l3.89 3.89.07.14L9 12H6c0-3.87 3.13-7 7-7s7 3.13 7 7-3.13 7-7 7c-1.93 0-3.68-.79-4.94-2.06l-1.42 1.42A8.954 8.954 0 0 0 13 21a9 9 0 0 0 0-18zm-1 5v5l4.28 2.54.72-1.21-3.5-2.08V8H12z" />
        </svg>
        Showing this record as it was on{" "}
        <time dateTime={asOf} className="font-semibold">
          {formatDateTime(asOf)}
        </time>
        . Its links, lists and figures are as of then too.
      </p>
      <button
        type="button"
        data-testid="as-of-clear"
        onClick={onClear}
        className="rounded-lg border border-amber-300 bg-white px-3 py-1.5 font-medium text-amber-800 hover:bg-amber-100 dark:border-amber-700 dark:bg-amber-900/40 dark:text-amber-100 dark:hover:bg-amber-900/70"
      >
        Back to now
      </button>
    </div>
  );
}
