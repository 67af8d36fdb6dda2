import { Navigate, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { RequireAuth } from "./components/RequireAuth";
import { LoginPage } from "./pages/Login";
import { DashboardPage } from "./pages/Dashboard";
import { ListPage } from "./pages/ListPage";
import { DetailPage } from "./pages/DetailPage";
import { NotFoundPage } from "./pages/NotFound";
import { GoalsPage } from "./pages/Goals";
import { PresentPage } from "./pages/Present";
import { RESOURCES } from "./lib/resources";
import { OpsServicesPage } from "./pages/OpsServices";
import { OpsRunPage, OpsRunsPage } from "./pages/OpsRuns";
import { OpsUsersPage } from "./pages/OpsUsers";
import { OpsBrandingPage } from "./pages/OpsBranding";

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      {/* Present (TV) mode: full screen, without the app's navigation. */}
      <Route
        path="/present"
        element={
          <RequireAuth>
            <PresentPage />
          </RequireAuth>
        }
      />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<DashboardPage />} />
        <Route path="goals" element={<GoalsPage />} />
        {/* Operations: tenant and platform admins; each page shows others "not available". */}
        <Route path="operations">
          <Route index element={<Navigate to="/operations/services" replace />} />
          <Route path="services" element={<OpsServicesPage />} />
          <Route path="runs" element={<OpsRunsPage />} />
          <Route path="runs/:id" element={<OpsRunPage />} />
          <Route path="users" element={<OpsUsersPage />} />
          <Route path="branding" element={<OpsBrandingPage />} />
        </Route>
        {Object.keys(RESOURCES).map((r) => (
          <Route key={r} path={r}>
            <Route index element={<ListPage key={r} resource={r} />} />
            <Route path=":id" element={<DetailPage key={r} resource={r} />} />
          </Route>
        ))}
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
