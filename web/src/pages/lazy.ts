// The pages that load on first visit (see lib/lazy.ts), named here so that the sign-in
// page and the layout can load the likely next ones ahead.
import { lazyWithPreload } from "../lib/lazy";

export const DashboardPage = lazyWithPreload(() => import("./Dashboard").then((m) => m.DashboardPage));
export const ListPage = lazyWithPreload(() => import("./ListPage").then((m) => m.ListPage));
export const DetailPage = lazyWithPreload(() => import("./DetailPage").then((m) => m.DetailPage));
export const GoalsPage = lazyWithPreload(() => import("./Goals").then((m) => m.GoalsPage));
export const PresentPage = lazyWithPreload(() => import("./Present").then((m) => m.PresentPage));
export const OpsServicesPage = lazyWithPreload(() => import("./OpsServices").then((m) => m.OpsServicesPage));
export const OpsRunsPage = lazyWithPreload(() => import("./OpsRuns").then((m) => m.OpsRunsPage));
export const OpsRunPage = lazyWithPreload(() => import("./OpsRuns").then((m) => m.OpsRunPage));
export const OpsUsersPage = lazyWithPreload(() => import("./OpsUsers").then((m) => m.OpsUsersPage));
export const OpsBrandingPage = lazyWithPreload(() => import("./OpsBranding").then((m) => m.OpsBrandingPage));
