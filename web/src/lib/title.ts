// The document's title per page: "Runs · AVESA".
import { useEffect } from "react";

export function pageTitle(title: string | null | undefined): string {
  return title ? `${title} · AVESA` : "AVESA";
}

/** Sets `document.title` while the page is shown, and puts the previous one back after. */
export function usePageTitle(title: string | null | undefined): void {
  useEffect(() => {
    const before = document.title;
    document.title = pageTitle(title);
    return () => {
      document.title = before;
    };
  }, [title]);
}
