// The official Node.js client (npm `kiteconnect`) against the sandbox: REST quotes, then ticker
// snapshots and ticks. Prints one JSON object. Env: ROOT, WS, API_KEY, ACCESS_TOKEN, TOKENS.
const { KiteConnect, KiteTicker } = require("kiteconnect");

const tokens = process.env.TOKENS.split(",").map(Number);
const out = { ltp: null, quote: null, ticks: [], connected: false };

async function main() {
  const kc = new KiteConnect({ api_key: process.env.API_KEY, root: process.env.ROOT });
  kc.setAccessToken(process.env.ACCESS_TOKEN);
  out.ltp = await kc.getLTP(["NSE:INFY", "NSE:ITC", "NSE:NIFTY 50"]);
  out.quote = await kc.getQuote(["NSE:INFY"]);
  const ticker = new KiteTicker({ api_key: process.env.API_KEY, access_token: process.env.ACCESS_TOKEN,
                                  root: process.env.WS, reconnect: false });
  ticker.on("connect", () => {
    out.connected = true;
    out.connected_at = Date.now();
    ticker.subscribe(tokens);
    ticker.setMode(ticker.modeFull, tokens);
  });
  ticker.on("ticks", (ticks) => {
    for (const t of ticks) out.ticks.push({ ...t, received_at: Date.now() });
  });
  ticker.connect();
  setTimeout(() => {
    ticker.disconnect();
    process.stdout.write(JSON.stringify(out));
    process.exit(0);
  }, Number(process.env.LISTEN_MS || 2500));
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && (e.message || e)) }));
  process.exit(1);
});
