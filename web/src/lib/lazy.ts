// Pages and the charts load on first use (their own chunks), and can be loaded ahead of
// it. A component whose chunk has arrived renders at once: React.lazy alone would show its
// Suspense fallback for a moment even then, and React holds back what replaces a fallback
// for 300 ms (its fallback throttle) — a third of a second on every first visit.
import { createElement, lazy, useState, type ComponentType } from "react";

export type Preloadable<P> = ComponentType<P> & {
  /** Starts loading the chunk (once); resolves when it has arrived. */
  preload: () => Promise<unknown>;
};

export function lazyWithPreload<P extends object>(load: () => Promise<ComponentType<P>>): Preloadable<P> {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<ComponentType<P>> | undefined;
  const preload = () =>
    (pending ??= load().then(
      (c) => (loaded = c),
      (e: unknown) => {
        pending = undefined; // a failed download may be tried again
        throw e;
      },
    ));
  const Lazy = lazy(() => preload().then((c) => ({ default: c })));
  function Component(props: P) {
    // Fixed at the first render: switching types later would mount the page afresh.
    const [type] = useState<ComponentType<P>>(() => loaded ?? Lazy);
    return createElement(type, props);
  }
  const out = Component as Preloadable<P>;
  out.preload = preload;
  return out;
}

/** Runs `f` once the browser is idle (or after `ms` where it cannot tell). */
export function whenIdle(f: () => void, ms = 200): () => void {
  if (typeof window.requestIdleCallback === "function") {
    const id = window.requestIdleCallback(f, { timeout: 2000 });
    return () => window.cancelIdleCallback(id);
  }
  const id = window.setTimeout(f, ms);
  return () => window.clearTimeout(id);
}
