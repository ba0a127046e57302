"use client";
import { useSession } from "@/components/providers";
import type { Role } from "@/lib/auth/session";

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether the signed-in user holds `role` or a higher one (the API enforces it; the UI only hides). */
export function useCan(role: Role): boolean {
  const session = useSession();
  return !!session && RANK[session.role] >= RANK[role];
}
