import { Suspense } from "react";
import { AnomaliesView } from "@/components/anomalies/anomalies-view";

export default function AnomaliesPage() {
  return (
    <Suspense>
      <AnomaliesView />
    </Suspense>
  );
}
