import { Suspense, type ReactNode } from "react";
import { Navigate, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { RequireAuth } from "./components/RequireAuth";
import { Spinner } from "./components/ui";
import { LoginPage } from "./pages/Login";
import { NotFoundPage } from "./pages/NotFound";
import { RESOURCES } from "./lib/resources";

// Pages load on first visit (their own chunks: the sign-in page does not wait for the
// charts library, nor an analyst for the operations pages); see pages/lazy.ts.
import {
  DashboardPage,
  DetailPage,
  GoalsPage,
  ListPage,
  OpsBrandingPage,
  OpsRunPage,
  OpsRunsPage,
  OpsServicesPage,
  OpsUsersPage,
  PresentPage,
} from "./pages/lazy";

/** A lazily loaded page, with a spinner while its chunk arrives (the layout stays). */
function page(el: ReactNode) {
  return <Suspense fallback={<Spinner label="Loading…" />}>{el}</Suspense>;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      {/* Present (TV) mode: full screen, without the app's navigation. */}
      <Route
        path="/present"
        element={
          <RequireAuth>{page(<PresentPage />)}</RequireAuth>
        }
      />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={page(<DashboardPage />)} />
        <Route path="goals" element={page(<GoalsPage />)} />
        {/* Operations: tenant and platform admins; each page shows others "not available". */}
        <Route path="operations">
          <Route index element={<Navigate to="/operations/services" replace />} />
          <Route path="services" element={page(<OpsServicesPage />)} />
          <Route path="runs" element={page(<OpsRunsPage />)} />
          <Route path="runs/:id" element={page(<OpsRunPage />)} />
          <Route path="users" element={page(<OpsUsersPage />)} />
          <Route path="branding" element={page(<OpsBrandingPage />)} />
        </Route>
        {Object.keys(RESOURCES).map((r) => (
          <Route key={r} path={r}>
            <Route index element={page(<ListPage key={r} resource={r} />)} />
            <Route path=":id" element={page(<DetailPage key={r} resource={r} />)} />
          </Route>
        ))}
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
