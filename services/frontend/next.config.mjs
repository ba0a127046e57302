// The browser calls the API directly (CORS); its URL is read at request time from API_URL by the root layout,
// so one build serves every deployment. Nothing here reaches the internet: no Google fonts, no telemetry.
/** @type {import("next").NextConfig} */
const config = {
  reactStrictMode: true,
  poweredByHeader: false,
};

export default config;
