// The Operations section's frame: who may see it (tenant and platform admins; everyone
// else gets a "not available for your role" page and no /api/admin call), its tabs, and
// small pieces the operations pages share.
import type { ReactNode } from "react";
import { Link, NavLink } from "react-router";
import { useCurrentUser } from "../lib/auth";
import { adminPath, canSeeOperations, roleLabel } from "../lib/ops";
import { usePageTitle } from "../lib/title";
import { Badge, Card, LINK } from "./ui";
import type { Tone } from "./ui";

/** Whether the signed-in user may use the operations pages. */
export function useCanOperate(): boolean {
  return canSeeOperations(useCurrentUser()?.role);
}

/** Admin API paths for the caller's tenant (a platform admin names it with ?tenant=). */
export function useAdminPath(): (path: string) => string {
  const user = useCurrentUser();
  return (path) => (user?.role === "platform_admin" ? adminPath(path, user.tenant_id) : path);
}

const TABS = [
  { to: "/operations/services", label: "Services" },
  { to: "/operations/runs", label: "Runs" },
  { to: "/operations/users", label: "Users" },
  { to: "/operations/branding", label: "Branding" },
];

function NotAvailable() {
  const user = useCurrentUser();
  usePageTitle("Not available");
  return (
    <Card className="mx-auto max-w-xl p-6">
      <div role="alert" data-testid="ops-forbidden">
        <h1 className="text-lg font-semibold text-fg">Operations are not available for your role</h1>
        <p className="mt-2 text-sm text-fg-muted">
          You are signed in as {user?.role ? <strong className="text-fg-soft">{roleLabel(user.role)}</strong> : "a user"}. Services,
          sync runs and users are managed by your tenant's administrators; ask one of them if something needs changing.
        </p>
        <p className="mt-4 text-sm">
          <Link to="/" className={LINK}>
            Back to the dashboard
          </Link>
        </p>
      </div>
    </Card>
  );
}

/** An operations page: the gate, the section's heading and tabs, then the page. The page
 *  (and so every admin request) is mounted only for admins. */
export function OpsPage({ title, subtitle, actions, children }: { title: string; subtitle?: string; actions?: ReactNode; children: () => ReactNode }) {
  const allowed = useCanOperate();
  if (!allowed) return <NotAvailable />;
  return (
    <div className="space-y-5" data-testid="ops-page">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
        <div className="min-w-0">
          <p className="text-xs font-medium tracking-wide text-fg-muted uppercase">Operations</p>
          <h1 className="text-xl font-semibold text-fg">{title}</h1>
          {subtitle && <p className="text-sm text-fg-muted">{subtitle}</p>}
        </div>
        {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
      </div>
      <nav aria-label="Operations" className="flex gap-1 overflow-x-auto border-b border-line">
        {TABS.map((t) => (
          <NavLink
            key={t.to}
            to={t.to}
            data-testid={`ops-tab-${t.label.toLowerCase()}`}
            className={({ isActive }) =>
              `-mb-px border-b-2 px-3 py-2 text-sm font-medium whitespace-nowrap focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 ${
                isActive ? "border-accent text-accent" : "border-transparent text-fg-muted hover:text-fg"
              }`
            }
          >
            {t.label}
          </NavLink>
        ))}
      </nav>
      {children()}
    </div>
  );
}

export function StatusBadge({ badge, testId, status }: { badge: { label: string; tone: Tone }; testId?: string; status?: string }) {
  return (
    <span data-testid={testId} data-status={status}>
      <Badge tone={badge.tone}>{badge.label}</Badge>
    </span>
  );
}

/** A labelled form field with its hint and error, wired for screen readers. */
export function Field({
  id,
  label,
  error,
  hint,
  children,
}: {
  id: string;
  label: string;
  error?: string;
  hint?: string;
  children: ReactNode;
}) {
  return (
    <div>
      <label htmlFor={id} className="block text-sm font-medium text-fg-soft">
        {label}
      </label>
      <div className="mt-1">{children}</div>
      {hint && (
        <p id={`${id}-hint`} className="mt-1 text-xs text-fg-muted">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="mt-1 text-sm text-danger" data-testid={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** aria-describedby for a Field's control. */
export function describedBy(id: string, error?: string, hint?: boolean): string | undefined {
  return [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
}

export function ProgressBar({ pct, label, testId }: { pct: number | null; label: string; testId?: string }) {
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct ?? undefined}
      data-testid={testId}
      data-value={pct ?? ""}
      className="h-2 w-full overflow-hidden rounded-full bg-subtle"
    >
      <div
        className={`h-full rounded-full bg-accent transition-[width] duration-500 ${pct === null ? "w-1/3 animate-pulse" : ""}`}
        style={pct === null ? undefined : { width: `${pct}%` }}
      />
    </div>
  );
}
