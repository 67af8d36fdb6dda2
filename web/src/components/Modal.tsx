// A modal dialog on the native <dialog> element: `showModal()` makes the rest of the page
// inert (focus stays inside), Escape closes it, and focus goes back to what opened it.
import { useEffect, useId, useRef, type ReactNode } from "react";

/** A native <dialog> shown modally while mounted: `showModal()` makes the rest of the page
 *  inert (focus stays inside), focus goes to the first element matching `focus` (the
 *  `[data-autofocus]` one first when it matches), Escape and a click on the backdrop call
 *  `onClose` (the parent unmounts it), and focus goes back to what opened it. Spread the
 *  result on the <dialog>. */
export function useModalDialog(onClose: () => void, focus: string) {
  const ref = useRef<HTMLDialogElement>(null);
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!d.open) d.showModal();
    (d.querySelector<HTMLElement>("[data-autofocus]") ?? d.querySelector<HTMLElement>(focus))?.focus();
    return () => {
      if (d.open) d.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return {
    ref,
    // Escape: the browser's cancel; the parent decides (it unmounts the dialog).
    onCancel: (e: { preventDefault: () => void }) => {
      e.preventDefault();
      close.current();
    },
    // A click on the backdrop (the dialog element itself, outside its panel) closes.
    onMouseDown: (e: { target: EventTarget; currentTarget: EventTarget }) => {
      if (e.target === e.currentTarget) close.current();
    },
  };
}

export function Modal({
  title,
  description,
  onClose,
  children,
  testId,
}: {
  title: string;
  description?: string;
  onClose: () => void;
  children: ReactNode;
  testId?: string;
}) {
  const dialog = useModalDialog(onClose, "input, select, textarea, button");
  const titleId = useId();
  const descId = useId();

  return (
    <dialog
      {...dialog}
      aria-labelledby={titleId}
      aria-describedby={description ? descId : undefined}
      data-testid={testId}
      className="m-auto w-[calc(100%-2rem)] max-w-lg rounded-xl bg-transparent p-0 text-fg backdrop:bg-slate-900/50 dark:backdrop:bg-black/60"
    >
      <div className="rounded-xl border border-transparent bg-surface shadow-xl dark:border-line">
        <div className="flex items-start justify-between gap-4 border-b border-line-soft px-5 py-4">
          <div>
            <h2 id={titleId} className="text-base font-semibold text-fg">
              {title}
            </h2>
            {description && (
              <p id={descId} className="mt-0.5 text-sm text-fg-muted">
                {description}
              </p>
            )}
          </div>
          <button
            type="button"
            onClick={onClose}
            aria-label="Close"
            className="-mr-1 rounded-md p-1 text-fg-muted hover:bg-subtle hover:text-fg focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
          >
            <svg viewBox="0 0 24 24" className="h-5 w-5" fill="currentColor" aria-hidden="true">
              <path d="M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z" />
            </svg>
          </button>
        </div>
        {children}
      </div>
    </dialog>
  );
}
