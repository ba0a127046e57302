// Sends two handled exceptions and one message with the Sentry JavaScript SDK to the DSN given as argument,
// then exits 0 once they are delivered (1 when the SDK refused the DSN or could not deliver).
import * as Sentry from "@sentry/node";

const dsn = process.argv[2];
Sentry.init({ dsn, release: "shop-js@1.0.0", environment: "test", serverName: "web-js-1", tracesSampleRate: 0 });
if (!Sentry.getClient()?.getDsn()) {
  console.error(`the SDK refused the DSN ${dsn}`);
  process.exit(1);
}

function charge(orderId) {
  throw new TypeError(`card declined for order ${orderId}`);
}

for (const orderId of [17, 18]) {
  try {
    charge(orderId);
  } catch (error) {
    Sentry.captureException(error);
  }
}
Sentry.captureMessage("checkout finished");
process.exit((await Sentry.flush(10_000)) ? 0 : 1);
