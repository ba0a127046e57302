import type { Metadata } from "next";
import type { ReactNode } from "react";
import { AppShell } from "@/components/ui/app-shell";
import { Providers } from "@/components/providers";
import "./globals.css";

export const metadata: Metadata = { title: "AIOps", description: "Alerts, incidents, fleet and forecasts" };
// API_URL is read per request, so one build serves every deployment.
export const dynamic = "force-dynamic";

export default function RootLayout({ children }: { children: ReactNode }) {
  const apiUrl = (process.env.API_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
  return (
    <html lang="en">
      <body>
        <Providers apiUrl={apiUrl}>
          <AppShell>{children}</AppShell>
        </Providers>
      </body>
    </html>
  );
}
