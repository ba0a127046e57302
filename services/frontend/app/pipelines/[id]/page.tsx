import { Suspense } from "react";
import { PipelineDetail } from "@/components/pipelines/pipeline-detail";

export default async function PipelinePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return (
    <Suspense>
      <PipelineDetail id={decodeURIComponent(id)} />
    </Suspense>
  );
}
