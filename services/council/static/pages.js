// The council's pages: the only script, shipped with the project (no CDN). Everything works
// without it except opening evidence files, which intake serves to a Bearer token only.
(function () {
  "use strict";
  var KEY = "sovang-ballot-token";

  // Sign-in: keep the token for this tab only, so evidence links can present it to intake.
  document.querySelectorAll("form[data-signin='ballot']").forEach(function (form) {
    form.addEventListener("submit", function () {
      var input = form.querySelector("input[name='token']");
      try { sessionStorage.setItem(KEY, input.value.trim()); } catch (e) { /* storage off: links say so */ }
    });
  });
  document.querySelectorAll("[data-signout]").forEach(function (button) {
    button.addEventListener("click", function () {
      try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
    });
  });

  // Evidence: fetch the file with the member's token and open it from memory.
  document.querySelectorAll("a[data-evidence]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var status = link.parentNode.querySelector(".evidence-status");
      var token = null;
      try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }
      if (!token) {
        if (status) { status.textContent = "Đăng nhập lại trong thẻ này để mở tệp bằng chứng."; }
        return;
      }
      if (status) { status.textContent = "Đang tải…"; }
      fetch(link.href, { headers: { Authorization: "Bearer " + token } })
        .then(function (resp) {
          if (!resp.ok) { throw new Error(String(resp.status)); }
          return resp.blob();
        })
        .then(function (blob) {
          if (status) { status.textContent = ""; }
          window.open(URL.createObjectURL(blob), "_blank", "noopener");
        })
        .catch(function (err) {
          if (status) { status.textContent = "Không mở được tệp (" + err.message + ")."; }
        });
    });
  });

  // After a refused or incomplete ballot, take the keyboard to the message.
  var error = document.getElementById("loi");
  if (error) { error.focus(); }
})();
