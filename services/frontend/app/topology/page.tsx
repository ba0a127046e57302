import { TopologyView } from "@/components/topology/topology-view";

export default function TopologyPage() {
  return <TopologyView />;
}
