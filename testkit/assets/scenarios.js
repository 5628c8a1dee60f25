// The cross-origin fetch() scenarios: shown by the playground and run by the
// browser suite (tests/browser.rs), so both exercise exactly the same requests
// against the same routes (policies/demo.json). `expect` is the verdict a
// correct gateway gets from the browser: a readable status, or "blocked".
// Requests go to the gateway on another site (localhost, while the page is on
// 127.0.0.1) unless `site: "same"`: the cookie scenarios call it on the same
// site, another origin, as an app on app.example.com calls api.example.com
// (browsers may refuse third-party cookies whatever the server says).
const SCENARIOS = [
  { id: "simple-get", name: "Simple GET", why: "allowed origin, no preflight",
    path: "/api/hello", init: {}, expect: 200 },
  { id: "simple-get-refused", name: "Simple GET, origin not allowed", why: "the /partner/ route only allows https://partner.example",
    path: "/partner/data", init: {}, expect: "blocked" },
  { id: "json-post", name: "JSON POST", why: "content-type: application/json forces a preflight",
    path: "/api/orders", init: { method: "POST", headers: { "content-type": "application/json" }, body: "{\"item\":1}" }, expect: 200 },
  { id: "put-custom", name: "PUT with a custom header", why: "x-demo is in allow_headers",
    path: "/api/orders/1", init: { method: "PUT", headers: { "x-demo": "1" }, body: "x" }, expect: 200 },
  { id: "delete-custom", name: "DELETE with a custom header", why: "DELETE is in allow_methods",
    path: "/api/orders/1", init: { method: "DELETE", headers: { "x-demo": "1" } }, expect: 200 },
  { id: "header-refused", name: "Header not allowed", why: "x-secret is not in allow_headers: the preflight is refused",
    path: "/api/orders", init: { headers: { "x-secret": "1" } }, expect: "blocked" },
  { id: "set-cookie", name: "Get a cookie", why: "a credentialed response may set a cookie for the gateway's site",
    path: "/api/set-cookie", init: { credentials: "include" }, site: "same", expect: 200 },
  { id: "credentials", name: "Credentials (cookie)", why: "credentials: 'include' on a route with allow_credentials: the cookie is sent",
    path: "/api/me", init: { credentials: "include" }, site: "same", expect: 200 },
  { id: "credentials-refused", name: "Credentials not allowed", why: "the /nocreds/ route has allow_credentials: false",
    path: "/nocreds/me", init: { credentials: "include" }, expect: "blocked" },
  { id: "wildcard", name: "Wildcard route", why: "allow_origins [\"*\"] without credentials",
    path: "/public/logo", init: {}, expect: 200 },
  { id: "wildcard-credentials", name: "Wildcard route with credentials", why: "a '*' answer can never be read with credentials",
    path: "/public/logo", init: { credentials: "include" }, expect: "blocked" },
  { id: "exposed-header", name: "Exposed and unexposed headers", why: "x-request-id is in expose_headers, x-internal-only is not",
    path: "/api/hello", init: {}, read: ["x-request-id", "x-internal-only"], expect: 200 },
  { id: "vary-cache", name: "Cache shared by two origins", why: "a second allowed origin (an iframe) caches this URL first; Vary: Origin keeps its copy away from this page",
    path: "/api/cacheable/v1", init: { cache: "force-cache" }, prime: "frame", expect: 200 },
  { id: "upstream-down", name: "Upstream down", why: "the gateway answers 502 with CORS headers: readable, not an opaque error",
    path: "/down/x", init: {}, expect: 502 },
  { id: "no-route", name: "No route", why: "a 404 the page can read", path: "/nowhere", init: {}, expect: 404 },
  { id: "preflight-no-route", name: "Preflight to no route", why: "the preflight's 404 carries CORS headers, but a preflight needs an ok status",
    path: "/nowhere", init: { method: "PUT", body: "x" }, expect: "blocked" },
  { id: "report-only-get", name: "Report-only: a refused origin still works", why: "/watch/ only allows https://partner.example but is report-only: the API's own CORS answer reaches the page, x-upstream-cors (which the API exposes) included",
    path: "/watch/own-cors/items", init: {}, read: ["x-upstream-cors"], expect: 200 },
  { id: "report-only-preflight", name: "Report-only: a preflighted PUT", why: "the preflight goes to the API, which grants it; the gateway only logs that it would refuse",
    path: "/watch/own-cors/items/1", init: { method: "PUT", headers: { "content-type": "application/json", "x-demo": "1" }, body: "{}" }, expect: 200 },
  { id: "preflight-cache", name: "Preflight cache", why: "PUT twice (one preflight), wait past max_age_secs (2 s), PUT again (a second preflight)",
    // Default cache mode: "no-store" would make browsers bypass the preflight cache too.
    path: "/cache/item", init: { method: "PUT", headers: { "content-type": "application/json" }, body: "{}", cache: "default" },
    repeat: [0, 0, 2600], expect: 200 },
];

// Has the page at gateways.page2 (another origin of the same site, so the same
// HTTP cache partition) fetch `url` first.
function primeFromOtherOrigin(page2, url) {
  return new Promise((resolve) => {
    const f = document.createElement("iframe");
    const done = (e) => { if (e.data === "primed") { window.removeEventListener("message", done); resolve(); } };
    window.addEventListener("message", done);
    setTimeout(resolve, 5000);
    f.src = `${page2}/prime.html?url=${encodeURIComponent(url)}`;
    f.style.display = "none";
    document.body.appendChild(f);
  });
}

// gateways: { cross: "http://localhost:PORT", same: "http://127.0.0.1:PORT",
//             page2: a second page origin allowed by the policy }
// The result carries the request as made (`req`), so the suite can ask
// `cors-gateway explain` what it predicts for exactly that request.
async function runScenario(gateways, s) {
  const url = (s.site === "same" ? gateways.same : gateways.cross) + s.path;
  const req = { url, path: s.path, method: s.init.method || "GET", headers: s.init.headers || {},
                credentials: s.init.credentials === "include" };
  if (s.prime === "frame") await primeFromOtherOrigin(gateways.page2, url);
  let last;
  for (const wait of s.repeat || [0]) {
    if (wait) await new Promise((r) => setTimeout(r, wait));
    try {
      const res = await fetch(url, { cache: "no-store", ...s.init });
      const headers = [];
      res.headers.forEach((v, k) => headers.push([k, v]));
      const read = {};
      for (const h of s.read || []) read[h] = res.headers.get(h);
      await res.text();
      last = { id: s.id, req, ok: true, status: res.status, headers, read };
    } catch (e) {
      last = { id: s.id, req, ok: false, error: String(e) };
    }
    if (!last.ok) break;
  }
  return last;
}
