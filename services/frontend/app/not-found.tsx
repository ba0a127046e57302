import Link from "next/link";

export default function NotFound() {
  return (
    <div className="state">
      <h1>Page not found</h1>
      <Link href="/">Back to the overview</Link>
    </div>
  );
}
