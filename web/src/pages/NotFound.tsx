import { Link } from "react-router";
import { LINK } from "../components/ui";
import { usePageTitle } from "../lib/title";

export function NotFoundPage() {
  usePageTitle("Not found");
  return (
    <div className="py-16 text-center">
      <h1 className="text-2xl font-semibold text-fg">Page not found</h1>
      <p className="mt-2 text-sm text-fg-muted">The page you are looking for does not exist.</p>
      <Link to="/" className={`mt-6 inline-block text-sm font-medium ${LINK}`}>Back to dashboard</Link>
    </div>
  );
}
