"use client";
/** The frame of every page: navigation by domain (role-aware), the outage banner, the chat panel, and the
 * sign-in gate. */
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import { useSession } from "@/components/providers";
import { SignOutButton } from "@/components/auth/sign-out-button";
import { OutageBanner } from "@/components/ui/outage-banner";
import { ChatPanel } from "@/components/chat/chat-panel";
import type { Role } from "@/lib/auth/session";

interface NavEntry {
  href: string;
  label: string;
  role?: Role;
}

const NAV: NavEntry[] = [
  { href: "/", label: "Overview" },
  { href: "/alerts", label: "Alerts" },
  { href: "/incidents", label: "Incidents" },
  { href: "/fleet", label: "Fleet" },
  { href: "/pipelines", label: "Pipelines" },
  { href: "/topology", label: "Topology" },
  { href: "/anomalies", label: "Anomalies" },
  { href: "/logs", label: "Logs" },
  { href: "/chat", label: "Chat" },
  { href: "/automations", label: "Automations" },
  { href: "/notifications", label: "Notifications" },
  { href: "/quality", label: "Quality" },
  { href: "/sources", label: "Sources", role: "admin" },
  { href: "/users", label: "Users", role: "admin" },
  { href: "/audit", label: "Audit", role: "admin" },
  { href: "/replay", label: "Replay", role: "admin" },
  { href: "/dead-letters", label: "Dead letters", role: "admin" },
];

const isCurrent = (path: string, href: string) => (href === "/" ? path === "/" : path.startsWith(href));

function Nav({ role, subject }: { role: Role; subject: string }) {
  const path = usePathname();
  return (
    <nav className="nav" aria-label="Main">
      <div className="brand">AIOps</div>
      {NAV.filter((entry) => !entry.role || entry.role === role).map((entry) => (
        <Link key={entry.href} href={entry.href} aria-current={isCurrent(path, entry.href) ? "page" : undefined}>
          {entry.label}
        </Link>
      ))}
      <div className="account">
        <div>{subject}</div>
        <div className="muted">{role}</div>
        <SignOutButton />
      </div>
    </nav>
  );
}

export function AppShell({ children }: { children: ReactNode }) {
  const session = useSession();
  const path = usePathname();
  const router = useRouter();
  const onLogin = path === "/login";
  useEffect(() => {
    if (session === null && !onLogin) router.replace(`/login?next=${encodeURIComponent(path)}`);
  }, [session, onLogin, path, router]);
  if (onLogin) return <main id="main">{children}</main>;
  if (!session) return <main id="main" className="state" aria-busy="true">Loading…</main>;
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <Nav role={session.role} subject={session.subject} />
      <main id="main">
        <OutageBanner />
        {children}
      </main>
      <ChatPanel />
    </div>
  );
}
