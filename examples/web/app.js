// The Record button: asks the token function for a one-time ilos record
// token and shows ilos's record button for it. The token never leaves the
// iframe's address: it is not shown, stored or logged.
(() => {
  "use strict";

  // Settings; config.js may override any of them through
  // window.ilosTokenConfig.
  const config = {
    // tokenURL is the function's POST /token route.
    tokenURL: "/token",
    // appURL is the ilos app that serves the record button.
    appURL: "https://app.ilosvideos.com",
    // options are ilos options to send, each listed in the function's
    // CLIENT_OPTIONS. Sending any makes the request JSON, which costs
    // the browser a preflight.
    options: null,
    // renewBefore is how many seconds before its expiry a token is
    // replaced, so that the button shown always works.
    renewBefore: 30,
    // timeout bounds one request, in seconds.
    timeout: 20,
    ...window.ilosTokenConfig,
  };

  // What each error status means to the person at the page.
  const messages = {
    400: "The page sent a request the token service does not accept.",
    403: "This page's address may not request record tokens.",
    404: "Nothing answers at the token service's address.",
    405: "The token service refused the request's method.",
    413: "The page's request was too large.",
    500: "The token service is misconfigured or failed.",
    502: "ilos could not issue a record token.",
    503: "The token service is busy.",
    504: "The token service did not get an answer in time.",
    network: "The token service could not be reached. Check the " +
      "connection; if it persists, this page's address may not be " +
      "allowed to request tokens.",
    timeout: "The token service did not answer in time.",
    answer: "The token service gave an answer the page cannot use.",
    clock: "The token arrived already expired: is this computer's " +
      "clock right?",
  };

  const button = document.getElementById("record");
  const recorder = document.getElementById("recorder");
  const status = document.getElementById("status");
  let busy = false;
  let renewTimer = 0;
  let expireTimer = 0;
  let blockedUntil = 0;

  button.addEventListener("click", () => getToken());

  // TokenError is a failed token request: kind is an HTTP status or one
  // of the other keys of messages.
  class TokenError extends Error {
    constructor(kind, requestID, retryAfter) {
      super(messages[kind] || "The token service answered " + kind + ".");
      this.kind = kind;
      this.requestID = requestID || "";
      this.retryAfter = retryAfter;
    }
  }

  // getToken asks for a token and shows the record button for it.
  async function getToken() {
    if (busy || Date.now() < blockedUntil) {
      return;
    }
    busy = true;
    button.disabled = true;
    show("loading", "Asking for a record token…");
    try {
      const { token, expires } = await fetchToken();
      showRecorder(token, expires);
    } catch (err) {
      showError(err);
    } finally {
      busy = false;
      button.disabled = Date.now() < blockedUntil;
    }
  }

  // fetchToken makes the request and checks the answer.
  async function fetchToken() {
    const init = {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout(config.timeout * 1000),
    };
    if (config.options && Object.keys(config.options).length > 0) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(config.options);
    }

    let res;
    try {
      res = await fetch(config.tokenURL, init);
    } catch (err) {
      // A CORS refusal looks like a network failure on purpose: the page
      // cannot tell them apart.
      throw new TokenError(err.name === "TimeoutError" ? "timeout" : "network");
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      // Not JSON: a proxy's or gateway's page.
    }

    if (res.ok && body && typeof body.token === "string" && body.token &&
      Number.isFinite(body.expires)) {
      return body;
    }
    const requestID = body && body.error && body.error.request_id;
    const retryAfter = Number.parseInt(res.headers.get("Retry-After"), 10);
    throw new TokenError(res.ok ? "answer" : res.status, requestID,
      Number.isFinite(retryAfter) ? retryAfter : 0);
  }

  // showRecorder shows the record button for token and plans its renewal.
  function showRecorder(token, expires) {
    const left = expires * 1000 - Date.now();
    if (left <= 0) {
      throw new TokenError("clock");
    }
    clearTimeout(renewTimer);
    clearTimeout(expireTimer);

    const frame = document.createElement("iframe");
    frame.src = config.appURL.replace(/\/+$/, "") + "/embed/api/recorder/" +
      encodeURIComponent(token);
    frame.title = "ilos record button";
    frame.width = "200";
    frame.height = "50";
    frame.allow = "display-capture";
    recorder.replaceChildren(frame);
    recorder.dataset.expires = String(expires);

    const at = new Date(expires * 1000).toLocaleTimeString();
    show("ready", `Record button ready. Its token expires at ${at}; ` +
      "a fresh one is fetched before then.");

    // Renew before expiry, but a short-lived token no sooner than half
    // its life, so that renewals never run back to back.
    const renewIn = Math.max(left - config.renewBefore * 1000, left / 2);
    renewTimer = setTimeout(() => whenVisible(getToken), renewIn);
    expireTimer = setTimeout(expire, left);
  }

  // expire takes down a button whose token ran out, which happens only
  // when its renewal failed, and tries once more.
  function expire() {
    recorder.replaceChildren();
    delete recorder.dataset.expires;
    show("expired", "The record token expired.");
    whenVisible(getToken);
  }

  // whenVisible runs fn now, or once the page is visible again: a hidden
  // tab does not need a token.
  function whenVisible(fn) {
    if (!document.hidden) {
      fn();
      return;
    }
    document.addEventListener("visibilitychange", function once() {
      if (!document.hidden) {
        document.removeEventListener("visibilitychange", once);
        fn();
      }
    });
  }

  // showError shows what went wrong, and holds the button back while the
  // service asked to wait.
  function showError(err) {
    if (!(err instanceof TokenError)) {
      err = new TokenError("answer");
    }
    let text = err.message;
    if (err.retryAfter > 0) {
      const wait = Math.min(err.retryAfter, 300);
      text += ` Try again in ${wait} seconds.`;
      blockedUntil = Date.now() + wait * 1000;
      setTimeout(() => {
        button.disabled = busy;
      }, wait * 1000);
    } else if (err.kind === 502 || err.kind === 504 || err.kind === "timeout") {
      text += " Try again in a moment.";
    }
    if (err.requestID) {
      text += ` (Request ID ${err.requestID}.)`;
    }
    show("error", text);
  }

  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }
})();
