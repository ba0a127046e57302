import { Suspense } from "react";
import { ReplayView } from "@/components/replay/replay-view";

export default function ReplayPage() {
  return (
    <Suspense>
      <ReplayView />
    </Suspense>
  );
}
