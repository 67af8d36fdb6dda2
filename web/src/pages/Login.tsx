import { useEffect, useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { useAuth } from "../lib/auth";
import { ApiError } from "../lib/api";
import { ALERT, CONTROL } from "../components/ui";
import { usePageTitle } from "../lib/title";
import { whenIdle } from "../lib/lazy";
import { DashboardPage } from "./lazy";

export function LoginPage() {
  usePageTitle("Sign in");
  const { isAuthenticated, login } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/";
  const [tenant, setTenant] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);

  // The dashboard's code loads while the user types (not its charts: those load with it).
  useEffect(() => whenIdle(() => void DashboardPage.preload().catch(() => {})), []);

  if (isAuthenticated && !submitting) return <Navigate to={from} replace />;

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setSubmitting(true);
    try {
      await login(tenant.trim(), email.trim(), password);
      navigate(from.startsWith("/login") ? "/" : from, { replace: true });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Sign in failed. Please try again.");
      setSubmitting(false);
    }
  }

  const input = `${CONTROL} mt-1 block w-full px-3 py-2`;

  return (
    <div className="flex min-h-full items-center justify-center bg-gradient-to-br from-slate-900 via-slate-800 to-indigo-900 px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex items-center justify-center gap-2">
          <img src="/favicon.svg" alt="" className="h-9 w-9" />
          <span className="text-2xl font-semibold tracking-tight text-white">AVESA</span>
        </div>
        <form onSubmit={onSubmit} className="space-y-4 rounded-2xl bg-surface p-6 shadow-xl sm:p-8 dark:ring-1 dark:ring-white/10" noValidate>
          <div>
            <h1 className="text-lg font-semibold text-fg">Sign in to your workspace</h1>
            <p className="mt-1 text-sm text-fg-muted">Use your tenant ID and account credentials.</p>
          </div>
          {error && (
            <div role="alert" data-testid="login-error" className={`${ALERT.red} px-3 py-2 text-sm`}>
              {error}
            </div>
          )}
          <div>
            <label htmlFor="tenant" className="block text-sm font-medium text-fg-soft">Tenant ID</label>
            <input id="tenant" name="tenant" type="text" autoComplete="organization" required className={input}
              value={tenant} onChange={(e) => setTenant(e.target.value)} />
          </div>
          <div>
            <label htmlFor="email" className="block text-sm font-medium text-fg-soft">Email</label>
            <input id="email" name="email" type="email" autoComplete="username" required className={input}
              value={email} onChange={(e) => setEmail(e.target.value)} />
          </div>
          <div>
            <label htmlFor="password" className="block text-sm font-medium text-fg-soft">Password</label>
            <input id="password" name="password" type="password" autoComplete="current-password" required className={input}
              value={password} onChange={(e) => setPassword(e.target.value)} />
          </div>
          <button type="submit" disabled={submitting} aria-busy={submitting}
            className="w-full rounded-lg bg-indigo-600 px-4 py-2.5 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/40 disabled:opacity-60">
            Sign in
          </button>
        </form>
      </div>
    </div>
  );
}
