// The token of an e-mailed link (a password reset, a sign-in) travels in the URL
// fragment, `#token=...`, which browsers never send to a server: it appears in no
// request line, access log or Referer. This script moves it into the page's form
// (the hidden field #link-token), which POSTs it, and removes it from the address
// bar and the history. Served from this site, so the Content-Security-Policy
// (script-src 'self') allows it; it needs nothing else.
(function () {
  "use strict";
  var match = /(?:^#|&)token=([^&]*)/.exec(window.location.hash);
  var field = document.getElementById("link-token");
  if (match && field) {
    field.value = decodeURIComponent(match[1]);
  }
  if (window.location.hash && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
})();
