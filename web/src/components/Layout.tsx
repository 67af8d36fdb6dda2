import { useEffect, useState, type ReactNode } from "react";
import { useModalDialog } from "./Modal";
import { NavLink, Outlet, useNavigate } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { useAuth, useCurrentUser } from "../lib/auth";
import { api } from "../lib/client";
import type { Freshness } from "../lib/types";
import { formatDateTime, formatRelative } from "../lib/format";
import { ThemeToggle } from "./Theme";
import { BUTTON } from "./ui";
import { canSeeOperations } from "../lib/ops";
import { BRANDING_PATH, type Branding } from "../lib/branding";
import { accentCss } from "../lib/accent";
import { whenIdle } from "../lib/lazy";
import { DashboardPage, DetailPage, ListPage } from "../pages/lazy";

const NAV: { to: string; label: string; icon: ReactNode; end?: boolean; admin?: boolean }[] = [
  { to: "/", label: "Dashboard", end: true, icon: <path d="M3 13h8V3H3v10zm0 8h8v-6H3v6zm10 0h8V11h-8v10zm0-18v6h8V3h-8z" /> },
  { to: "/goals", label: "Goals", icon: <path d="M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zm0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8zm0-14a6 6 0 1 0 6 6 6 6 0 0 0-6-6zm0 10a4 4 0 1 1 4-4 4 4 0 0 1-4 4zm0-6a2 2 0 1 0 2 2 2 2 0 0 0-2-2z" /> },
  { to: "/companies", label: "Companies", icon: <path d="M12 7V3H2v18h20V7H12zM6 19H4v-2h2v2zm0-4H4v-2h2v2zm0-4H4V9h2v2zm0-4H4V5h2v2zm4 12H8v-2h2v2zm0-4H8v-2h2v2zm0-4H8V9h2v2zm0-4H8V5h2v2zm10 12h-8v-2h2v-2h-2v-2h2v-2h-2V9h8v10zm-2-8h-2v2h2v-2zm0 4h-2v2h2v-2z" /> },
  { to: "/contacts", label: "Contacts", icon: <path d="M16 11c1.66 0 2.99-1.34 2.99-3S17.66 5 16 5s-3 1.34-3 3 1.34 3 3 3zm-8 0c1.66 0 2.99-1.34 2.99-3S9.66 5 8 5 5 6.34 5 8s1.34 3 3 3zm0 2c-2.33 0-7 1.17-7 3.5V19h14v-2.5c0-2.33-4.67-3.5-7-3.5zm8 0c-.29 0-.62.02-.97.05 1.16.84 1.97 1.97 1.97 3.45V19h6v-2.5c0-2.33-4.67-3.5-7-3.5z" /> },
  { to: "/tickets", label: "Tickets", icon: <path d="M20 12c0-1.1.9-2 2-2V6c0-1.1-.9-2-2-2H4c-1.1 0-1.99.9-1.99 2v4c1.1 0 1.99.9 1.99 2s-.89 2-2 2v4c0 1.1.9 2 2 2h16c1.1 0 2-.9 2-2v-4c-1.1 0-2-.9-2-2z" /> },
  { to: "/members", label: "Technicians", icon: <path d="M12 12c2.21 0 4-1.79 4-4s-1.79-4-4-4-4 1.79-4 4 1.79 4 4 4zm0 2c-2.67 0-8 1.34-8 4v2h16v-2c0-2.66-5.33-4-8-4z" /> },
  { to: "/time-entries", label: "Time entries", icon: <path d="M11.99 2C6.47 2 2 6.48 2 12s4.47 10 9.99 10C17.52 22 22 17.52 22 12S17.52 2 11.99 2zM12 20c-4.42 0-8-3.58-8-8s3.58-8 8-8 8 3.58 8 8-3.58 8-8 8zm.5-13H11v6l5.25 3.15.75-1.23-4.5-2.67z" /> },
  // Tenant and platform admins only (lib/ops.ts canSeeOperations).
  { to: "/operations", label: "Operations", admin: true, icon: <path d="M19.14 12.94a7.07 7.07 0 0 0 .05-.94 7.07 7.07 0 0 0-.05-.94l2.03-1.58a.49.49 0 0 0 .12-.61l-1.92-3.32a.49.49 0 0 0-.59-.22l-2.39.96a7 7 0 0 0-1.63-.94l-.36-2.54a.48.48 0 0 0-.48-.41h-3.84a.48.48 0 0 0-.47.41l-.36 2.54a7.4 7.4 0 0 0-1.63.94l-2.39-.96a.48.48 0 0 0-.59.22L2.74 8.87a.47.47 0 0 0 .12.61l2.03 1.58a7.3 7.3 0 0 0 0 1.88l-2.03 1.58a.49.49 0 0 0-.12.61l1.92 3.32a.49.49 0 0 0 .59.22l2.39-.96c.5.38 1.04.7 1.63.94l.36 2.54c.05.24.25.41.48.41h3.84c.24 0 .44-.17.47-.41l.36-2.54a7.4 7.4 0 0 0 1.63-.94l2.39.96c.22.08.47 0 .59-.22l1.92-3.32a.47.47 0 0 0-.12-.61l-2.01-1.58zM12 15.6A3.6 3.6 0 1 1 15.6 12 3.6 3.6 0 0 1 12 15.6z" /> },
];

/** The tenant's accent colour on the app's accent roles (a style sheet after index.css),
 *  taken away again when the layout goes (signing out). */
function useAccent(accent: string | undefined) {
  useEffect(() => {
    const css = accentCss(accent);
    if (!css) return;
    const el = document.createElement("style");
    el.dataset.avesaAccent = accent;
    el.textContent = css;
    document.head.appendChild(el);
    return () => el.remove();
  }, [accent]);
}

/** The navigation on a phone: a modal <dialog> from the left. The rest of the page is
 *  inert while it is open (focus stays in it), Escape or a tap beside it closes it, and
 *  focus goes back to the menu button. */
function Drawer({ onClose, children }: { onClose: () => void; children: ReactNode }) {
  const dialog = useModalDialog(onClose, "a[aria-current=page], a");
  return (
    <dialog
      {...dialog}
      aria-label="Navigation"
      data-testid="nav-drawer"
      className="m-0 h-full max-h-none w-64 max-w-none bg-slate-900 p-0 backdrop:bg-slate-900/50 lg:hidden"
    >
      <div className="flex h-full flex-col">{children}</div>
    </dialog>
  );
}

function NavItems({ onNavigate }: { onNavigate?: () => void }) {
  const operate = canSeeOperations(useCurrentUser()?.role);
  return (
    <nav className="flex flex-col gap-1 px-3" aria-label="Main">
      {NAV.filter((item) => !item.admin || operate).map((item) => (
        <NavLink
          key={item.to}
          to={item.to}
          end={item.end}
          onClick={onNavigate}
          data-testid={`nav-${item.to.slice(1) || "dashboard"}`}
          className={({ isActive }) =>
            `flex items-center gap-3 rounded-lg px-3 py-2 text-sm font-medium transition-colors ${
              isActive ? "bg-primary text-white" : "text-slate-300 hover:bg-slate-800 hover:text-white"
            }`
          }
        >
          <svg viewBox="0 0 24 24" className="h-5 w-5 shrink-0" fill="currentColor" aria-hidden="true">
            {item.icon}
          </svg>
          {item.label}
        </NavLink>
      ))}
    </nav>
  );
}

function Brand() {
  return (
    <div className="flex items-center gap-2 px-6 py-5">
      <img src="/favicon.svg" alt="" className="h-7 w-7" />
      <span className="text-lg font-semibold tracking-tight text-white">AVESA</span>
    </div>
  );
}

export function Layout() {
  const { logout } = useAuth();
  const user = useCurrentUser();
  const navigate = useNavigate();
  const [menuOpen, setMenuOpen] = useState(false);
  const [loggingOut, setLoggingOut] = useState(false);

  // The pages most visits go to next load while the browser is idle, so the first click on
  // them draws at once.
  useEffect(
    () =>
      whenIdle(() => {
        for (const p of [DashboardPage, ListPage, DetailPage]) void p.preload().catch(() => {});
      }),
    [],
  );

  // "Last synced" from the cheap freshness route (no warehouse query), kept true while
  // the app is open.
  const fresh = useQuery({
    queryKey: ["freshness"],
    queryFn: () => api.request<Freshness>("/api/freshness"),
    refetchInterval: 60_000,
  });
  const lastSynced = fresh.data?.last_synced_at ?? null;
  // The tenant's logo (its report branding), beside its name; fetched once a session.
  const branding = useQuery({
    queryKey: ["branding"],
    queryFn: () => api.request<Branding>(BRANDING_PATH),
    staleTime: 10 * 60_000,
  });
  useAccent(branding.data?.accent);

  async function onLogout() {
    setLoggingOut(true);
    try {
      await logout();
    } finally {
      setLoggingOut(false);
      navigate("/login", { replace: true });
    }
  }

  return (
    <div className="flex min-h-full">
      {/* Desktop sidebar */}
      <aside className="fixed inset-y-0 left-0 hidden w-60 flex-col bg-slate-900 lg:flex dark:border-r dark:border-line">
        <Brand />
        <NavItems />
        <div className="mt-auto px-6 py-4 text-xs text-slate-400">Multi-tenant data platform</div>
      </aside>

      {/* Mobile drawer */}
      {menuOpen && (
        <Drawer onClose={() => setMenuOpen(false)}>
          <Brand />
          <NavItems onNavigate={() => setMenuOpen(false)} />
        </Drawer>
      )}

      <div className="flex min-w-0 flex-1 flex-col lg:pl-60">
        <header className="sticky top-0 z-30 flex h-16 items-center gap-4 border-b border-line bg-surface/90 px-4 backdrop-blur sm:px-6">
          <button
            type="button"
            className="rounded-md p-2 text-fg-soft hover:bg-subtle lg:hidden"
            onClick={() => setMenuOpen(true)}
            aria-label="Open navigation"
          >
            <svg viewBox="0 0 24 24" className="h-5 w-5" fill="currentColor" aria-hidden="true">
              <path d="M3 18h18v-2H3v2zm0-5h18v-2H3v2zm0-7v2h18V6H3z" />
            </svg>
          </button>
          {branding.data?.logo && (
            <img src={branding.data.logo} alt="" className="hidden h-8 max-w-28 object-contain sm:block" data-testid="brand-logo" />
          )}
          <div className="min-w-0 flex-1">
            <div className="truncate text-sm font-semibold text-fg" data-testid="tenant-name">
              {user?.tenant_name ?? user?.tenant_id ?? ""}
            </div>
            <div className="truncate text-xs text-fg-muted" data-testid="last-synced" data-value={lastSynced ?? ""}>
              Last synced:{" "}
              <span title={lastSynced ? formatDateTime(lastSynced) : undefined}>
                {fresh.isLoading ? "…" : lastSynced ? `${formatRelative(lastSynced)} (${formatDateTime(lastSynced)})` : "never"}
              </span>
            </div>
          </div>
          <div className="hidden text-right sm:block">
            <div className="text-sm text-fg-soft" data-testid="user-email">{user?.email}</div>
            {user?.role && <div className="text-xs capitalize text-fg-muted">{user.role}</div>}
          </div>
          <ThemeToggle />
          <button
            type="button"
            data-testid="logout"
            onClick={onLogout}
            disabled={loggingOut}
            className={`${BUTTON} px-3 py-1.5`}
          >
            Log out
          </button>
        </header>
        <main className="mx-auto w-full max-w-7xl flex-1 p-4 sm:p-6">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
