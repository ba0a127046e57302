import type { NextConfig } from "next";

// The browser calls the API directly (CORS); its URL is read at request time from API_URL by the root layout,
// so one build serves any deployment. Nothing here reaches the internet: no Google fonts, no telemetry.
const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
};

export default config;
