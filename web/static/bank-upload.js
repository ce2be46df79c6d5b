// Upload a bank statement with a progress bar (progressive enhancement: without this
// script the form posts as any form does). The file goes by XMLHttpRequest so its
// upload events move the bar; the answer is then shown as the browser would show it:
// a redirect to the import's result is followed, a refusal replaces the page's content.
(function () {
  "use strict";

  function bind() {
    var form = document.getElementById("import-form");
    if (!form || !window.XMLHttpRequest || !window.FormData) {
      return;
    }
    form.addEventListener("submit", function (event) {
      var input = form.querySelector('input[type="file"]');
      var box = document.getElementById("upload-progress");
      var bar = document.getElementById("upload-bar");
      var status = document.getElementById("upload-status");
      var limit = parseInt(form.getAttribute("data-limit") || "0", 10);
      var file = input && input.files && input.files[0];
      if (file && limit && file.size > limit) {
        event.preventDefault();
        box.hidden = false;
        status.textContent = form.getAttribute("data-too-large");
        return;
      }
      event.preventDefault();
      var button = form.querySelector('[type="submit"]');
      if (button) {
        button.disabled = true;
      }
      box.hidden = false;
      bar.value = 0;
      status.textContent = "0%";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") || window.location.href);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var percent = Math.round((e.loaded / e.total) * 100);
          bar.value = percent;
          status.textContent = percent + "%";
        }
      });
      xhr.addEventListener("load", function () {
        var landed = xhr.responseURL || "";
        if (xhr.status >= 200 && xhr.status < 300 && landed && landed !== window.location.href) {
          window.location.assign(landed);
          return;
        }
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = page.getElementById("contenuto");
        var main = document.getElementById("contenuto");
        if (fresh && main) {
          main.innerHTML = fresh.innerHTML;
          bind();
          var error = document.getElementById("import-error") || main;
          error.setAttribute("tabindex", "-1");
          error.focus();
        } else {
          status.textContent = form.getAttribute("data-failed");
          if (button) {
            button.disabled = false;
          }
        }
      });
      xhr.addEventListener("error", function () {
        status.textContent = form.getAttribute("data-failed");
        if (button) {
          button.disabled = false;
        }
      });
      xhr.send(new FormData(form));
    });
  }

  bind();
})();
