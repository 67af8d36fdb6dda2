import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import type { User } from "./api";
import { api, AUTH_FAILURE_EVENT, tokens } from "./client";

interface AuthState {
  isAuthenticated: boolean;
  user: User | null;
  login(tenantId: string, email: string, password: string): Promise<User>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [isAuthenticated, setAuthenticated] = useState(() => tokens.signedIn());
  const [user, setUser] = useState<User | null>(() => tokens.user());

  useEffect(() => {
    const onFailure = () => {
      setAuthenticated(false);
      setUser(null);
      queryClient.clear();
    };
    // Keep several tabs in sync: logging out in one logs out the others.
    const onStorage = (e: StorageEvent) => {
      if (e.key === null || e.key.startsWith("avesa.")) {
        setAuthenticated(tokens.signedIn());
        setUser(tokens.user());
      }
    };
    window.addEventListener(AUTH_FAILURE_EVENT, onFailure);
    window.addEventListener("storage", onStorage);
    return () => {
      window.removeEventListener(AUTH_FAILURE_EVENT, onFailure);
      window.removeEventListener("storage", onStorage);
    };
  }, [queryClient]);

  const login = useCallback(
    async (tenantId: string, email: string, password: string) => {
      const res = await api.login(tenantId, email, password);
      queryClient.clear();
      setUser(res.user);
      setAuthenticated(true);
      return res.user;
    },
    [queryClient],
  );

  const logout = useCallback(async () => {
    await api.logout();
    queryClient.clear();
    setUser(null);
    setAuthenticated(false);
  }, [queryClient]);

  const value = useMemo(() => ({ isAuthenticated, user, login, logout }), [isAuthenticated, user, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth must be used inside <AuthProvider>");
  return ctx;
}

/** The signed-in user as the server knows them now (`/auth/me`), or as stored at login
 *  until that answers: their name, tenant and role. */
export function useCurrentUser(): User | null {
  const { user } = useAuth();
  const me = useQuery({ queryKey: ["me"], queryFn: () => api.request<User>("/auth/me"), staleTime: 5 * 60_000 });
  return me.data ?? user;
}
