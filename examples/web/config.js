// Settings for app.js. Point tokenURL at your function's POST /token
// route; the page's origin must be in the function's ALLOWED_ORIGINS.
window.ilosTokenConfig = {
  tokenURL: "https://abc123.execute-api.eu-west-1.amazonaws.com/token",
  // appURL: "https://app.ilosvideos.com",
  // options: { video_title: "Bug report" }, // each one in CLIENT_OPTIONS
};
