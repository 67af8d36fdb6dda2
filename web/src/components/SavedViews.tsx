// The "Views" menu of a list page and the dashboard: the user's saved views of this page
// (a click opens one: the page with its query), "Save current view…", and each view's
// rename and delete. The views live in the API (`/api/views`, each user's own); what a
// view holds and how it is matched with the page on screen is lib/views.ts.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { useDismiss } from "../lib/dismiss";
import { useNavigate, useSearchParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { ApiError } from "../lib/api";
import type { Items } from "../lib/types";
import {
  checkViewName,
  describeQuery,
  queryTooLong,
  showsView,
  sortViews,
  viewHref,
  viewPath,
  viewQuery,
  viewsPath,
  type SavedView,
} from "../lib/views";
import { Modal } from "./Modal";
import { ALERT, BUTTON, BUTTON_PRIMARY, CONTROL } from "./ui";

/** A danger button (add padding): deleting for good. */
const BUTTON_DANGER =
  "rounded-lg bg-red-600 text-sm font-medium text-white shadow-sm hover:bg-red-500 disabled:opacity-50 dark:bg-red-700 dark:hover:bg-red-600";

type Dialog = { kind: "save" } | { kind: "rename"; view: SavedView } | { kind: "delete"; view: SavedView };

/** sessionStorage, where a browser allows it. */
function readSession(key: string): string | null {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeSession(key: string, value: string) {
  try {
    sessionStorage.setItem(key, value);
  } catch {
    /* private mode: the offer lasts as long as the page */
  }
}

/** An error for a person: the API's message (which says what to do), capitalised. */
function message(e: unknown): string {
  const m = e instanceof ApiError || e instanceof Error ? e.message : "";
  return m ? m.charAt(0).toUpperCase() + m.slice(1) : "Something went wrong.";
}

/** `page`: `dashboard`, or the list's resource (`tickets` …); `label`: what the page
 *  shows, as a sentence names it ("tickets", "the dashboard"); `pad`: the button's
 *  padding, to match its neighbours. */
export function SavedViews({ page, label, pad = "px-3 py-1.5" }: { page: string; label: string; pad?: string }) {
  const noun = label.toLowerCase();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const closeMenu = useCallback(() => setOpen(false), []);
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const trigger = useRef<HTMLButtonElement>(null);
  const root = useRef<HTMLDivElement>(null);

  const views = useQuery({
    queryKey: ["views", page],
    queryFn: () => api.request<Items<SavedView>>(viewsPath(page)),
    select: (d) => sortViews(d.items),
    staleTime: 60_000,
  });
  const current = viewQuery(params);
  const active = views.data?.find((v) => showsView(current, v));

  // The view last shown on this page (this tab): once the filters move away from it, the
  // menu offers to update it to what the page shows now.
  const basisKey = `avesa.view-basis.${page}`;
  const [basisId, setBasisId] = useState<string | null>(() => readSession(basisKey));
  useEffect(() => {
    if (!active) return;
    writeSession(basisKey, active.id);
    setBasisId(active.id);
  }, [active, basisKey]);
  const basis = active ? undefined : views.data?.find((v) => v.id === basisId);
  const update = useMutation({
    mutationFn: (v: SavedView) =>
      api.request<SavedView>(viewPath(v.id), {
        method: "PATCH",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: current }),
      }),
    onSuccess: async () => {
      await refresh();
      setOpen(false);
      trigger.current?.focus();
    },
  });

  // The menu closes on a click elsewhere and on Escape (focus back on its button).
  useDismiss(open, closeMenu, root, trigger);

  /** Closes the menu and opens a dialog, which gives focus back to the menu's button. */
  function show(d: Dialog) {
    setOpen(false);
    trigger.current?.focus();
    setDialog(d);
  }

  function apply(v: SavedView) {
    setOpen(false);
    navigate(viewHref(v));
  }

  const refresh = () => qc.invalidateQueries({ queryKey: ["views"] });

  return (
    <div className="relative" ref={root}>
      <button
        ref={trigger}
        type="button"
        data-testid="views-menu"
        aria-expanded={open}
        aria-controls={open ? `views-panel-${page}` : undefined}
        onClick={() => setOpen(!open)}
        title={active ? `Showing the saved view “${active.name}”` : `Your saved views of ${noun}`}
        className={`${BUTTON} inline-flex max-w-[14rem] items-center gap-1.5 whitespace-nowrap ${pad}`}
      >
        <svg viewBox="0 0 24 24" className="h-4 w-4 shrink-0" fill="currentColor" aria-hidden="true">
          <path d="M17 3H7c-1.1 0-2 .9-2 2v16l7-3 7 3V5c0-1.1-.9-2-2-2z" />
        </svg>
        <span className="truncate" data-testid="views-current">
          {active ? active.name : "Views"}
        </span>
        <svg viewBox="0 0 24 24" className="h-4 w-4 shrink-0 text-fg-muted" fill="currentColor" aria-hidden="true">
          <path d="M7 10l5 5 5-5z" />
        </svg>
      </button>
      {open && (
        <div
          id={`views-panel-${page}`}
          data-testid="views-panel"
          role="group"
          aria-label={`Saved views of ${noun}`}
          className="absolute right-0 z-20 mt-1 w-72 rounded-lg border border-line bg-raised p-1.5 shadow-lg dark:border-line-strong"
        >
          {views.isError ? (
            <p role="alert" className="px-2 py-1.5 text-sm text-danger">
              {message(views.error)}
            </p>
          ) : views.isLoading ? (
            <p className="px-2 py-1.5 text-sm text-fg-muted">Loading…</p>
          ) : views.data!.length === 0 ? (
            <p className="px-2 py-1.5 text-sm text-fg-muted" data-testid="views-empty">
              No saved views of {noun} yet.
            </p>
          ) : (
            <ul className="max-h-72 overflow-y-auto" data-testid="views-list">
              {views.data!.map((v) => {
                const on = v.id === active?.id;
                return (
                  <li key={v.id} data-testid="view-row" data-name={v.name} className="group flex items-center gap-1 rounded-md hover:bg-accent-soft">
                    <button
                      type="button"
                      data-testid="view-apply"
                      aria-current={on ? "true" : undefined}
                      onClick={() => apply(v)}
                      title={describeQuery(v.query) || "As the page opens, with no filters"}
                      className={`flex min-w-0 flex-1 items-center gap-2 rounded-md px-2 py-1.5 text-left text-sm ${on ? "font-medium text-accent-soft-fg" : "text-fg-soft"}`}
                    >
                      <span className={`w-3 shrink-0 ${on ? "" : "invisible"}`} aria-hidden="true">
                        ✓
                      </span>
                      <span className="truncate">{v.name}</span>
                    </button>
                    <button
                      type="button"
                      data-testid="view-rename"
                      aria-label={`Rename the view ${v.name}`}
                      title="Rename"
                      onClick={() => show({ kind: "rename", view: v })}
                      className="rounded p-1 text-fg-muted hover:bg-subtle hover:text-fg focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                    >
                      <svg viewBox="0 0 24 24" className="h-4 w-4" fill="currentColor" aria-hidden="true">
                        <path d="M3 17.25V21h3.75L17.81 9.94l-3.75-3.75L3 17.25zM20.71 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75 1.83-1.83z" />
                      </svg>
                    </button>
                    <button
                      type="button"
                      data-testid="view-delete"
                      aria-label={`Delete the view ${v.name}`}
                      title="Delete"
                      onClick={() => show({ kind: "delete", view: v })}
                      className="rounded p-1 text-fg-muted hover:bg-subtle hover:text-danger focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
                    >
                      <svg viewBox="0 0 24 24" className="h-4 w-4" fill="currentColor" aria-hidden="true">
                        <path d="M6 19c0 1.1.9 2 2 2h8c1.1 0 2-.9 2-2V7H6v12zM19 4h-3.5l-1-1h-5l-1 1H5v2h14V4z" />
                      </svg>
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
          <div className="mt-1 border-t border-line-soft pt-1">
            {basis && (
              <button
                type="button"
                data-testid="view-update"
                disabled={update.isPending || queryTooLong(current)}
                title={queryTooLong(current) ? "This view has too many filters to save (over 2,000 characters)." : describeQuery(current) || "As the page opens, with no filters"}
                onClick={() => update.mutate(basis)}
                className="w-full truncate rounded-md px-2 py-1.5 text-left text-sm font-medium text-accent hover:bg-accent-soft disabled:opacity-50"
              >
                {update.isPending ? "Updating…" : `Update “${basis.name}” to this view`}
              </button>
            )}
            {update.isError && (
              <p role="alert" data-testid="view-update-error" className="px-2 py-1.5 text-sm text-danger">
                {message(update.error)}
              </p>
            )}
            <button
              type="button"
              data-testid="view-save"
              onClick={() => show({ kind: "save" })}
              className="w-full rounded-md px-2 py-1.5 text-left text-sm font-medium text-accent hover:bg-accent-soft"
            >
              Save current view…
            </button>
          </div>
        </div>
      )}

      {dialog?.kind === "save" && (
        <NameDialog
          title={`Save this view of ${noun}`}
          description={
            current
              ? "Its filters, search, sort and period, as the page shows them now."
              : "The page as it opens, with no filters."
          }
          initial=""
          submit="Save"
          check={() => (queryTooLong(current) ? "This view has too many filters to save (over 2,000 characters)." : null)}
          send={(name) =>
            api.request<SavedView>("/api/views", {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ page, name, query: current }),
            })
          }
          onDone={async () => {
            await refresh();
            setDialog(null);
          }}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog?.kind === "rename" && (
        <NameDialog
          title="Rename the view"
          description={`“${dialog.view.name}”: only its name changes.`}
          initial={dialog.view.name}
          submit="Rename"
          send={(name) =>
            api.request<SavedView>(viewPath(dialog.view.id), {
              method: "PATCH",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ name }),
            })
          }
          onDone={async () => {
            await refresh();
            setDialog(null);
          }}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog?.kind === "delete" && (
        <DeleteDialog
          view={dialog.view}
          onDone={async () => {
            await refresh();
            setDialog(null);
          }}
          onClose={() => setDialog(null)}
        />
      )}
    </div>
  );
}

/** Asks for a name (saving, renaming); the API's refusal (a taken name: 409) shows in it. */
function NameDialog({
  title,
  description,
  initial,
  submit,
  check,
  send,
  onDone,
  onClose,
}: {
  title: string;
  description: string;
  initial: string;
  submit: string;
  check?: () => string | null;
  send: (name: string) => Promise<unknown>;
  onDone: () => Promise<void>;
  onClose: () => void;
}) {
  const [name, setName] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: send,
    onSuccess: onDone,
    onError: (e) => setError(message(e)),
  });
  const busy = save.isPending;

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const checked = checkViewName(name);
    if ("error" in checked) {
      setError(checked.error);
      document.getElementById("view-name")?.focus();
      return;
    }
    const refused = check?.();
    if (refused) {
      setError(refused);
      return;
    }
    setError(null);
    save.mutate(checked.name);
  }

  return (
    <Modal title={title} description={description} onClose={() => !busy && onClose()} testId="view-dialog">
      <form onSubmit={onSubmit} noValidate className="space-y-4 px-5 py-4">
        <div>
          <label htmlFor="view-name" className="block text-sm font-medium text-fg-soft">
            Name
          </label>
          <input
            id="view-name"
            data-testid="view-name"
            data-autofocus
            type="text"
            autoComplete="off"
            maxLength={200}
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              if (error) setError(null);
            }}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "view-name-error" : undefined}
            className={`${CONTROL} mt-1 block w-full px-3 py-2 aria-[invalid=true]:border-red-400 aria-[invalid=true]:focus:ring-red-500/30`}
          />
          {error && (
            <p id="view-name-error" role="alert" className="mt-1 text-sm text-danger" data-testid="view-error">
              {error}
            </p>
          )}
        </div>
        <div className="flex justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" data-testid="view-cancel" disabled={busy} onClick={onClose} className={`${BUTTON} px-3 py-1.5`}>
            Cancel
          </button>
          <button type="submit" data-testid="view-submit" disabled={busy} className={`${BUTTON_PRIMARY} px-4 py-1.5`}>
            {busy ? "Saving…" : submit}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Asks before deleting a view for good. */
function DeleteDialog({ view, onDone, onClose }: { view: SavedView; onDone: () => Promise<void>; onClose: () => void }) {
  const remove = useMutation({
    mutationFn: () => api.request<void>(viewPath(view.id), { method: "DELETE" }),
    onSuccess: onDone,
  });
  const busy = remove.isPending;
  return (
    <Modal
      title="Delete the view?"
      description={`“${view.name}” goes from your saved views. The records it shows stay as they are.`}
      onClose={() => !busy && onClose()}
      testId="view-delete-dialog"
    >
      <div className="space-y-4 px-5 py-4">
        {remove.isError && (
          <p role="alert" className={`${ALERT.red} px-3 py-2 text-sm`} data-testid="view-error">
            {message(remove.error)}
          </p>
        )}
        <div className="flex justify-end gap-2">
          <button type="button" data-testid="view-cancel" data-autofocus disabled={busy} onClick={onClose} className={`${BUTTON} px-3 py-1.5`}>
            Cancel
          </button>
          <button
            type="button"
            data-testid="view-delete-confirm"
            disabled={busy}
            onClick={() => remove.mutate()}
            className={`${BUTTON_DANGER} px-4 py-1.5`}
          >
            {busy ? "Deleting…" : "Delete"}
          </button>
        </div>
      </div>
    </Modal>
  );
}
