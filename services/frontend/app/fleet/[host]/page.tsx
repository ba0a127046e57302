import { Suspense } from "react";
import { HostDetail } from "@/components/fleet/host-detail";

export default async function HostPage({ params }: { params: Promise<{ host: string }> }) {
  const { host } = await params;
  return (
    <Suspense>
      <HostDetail host={decodeURIComponent(host)} />
    </Suspense>
  );
}
