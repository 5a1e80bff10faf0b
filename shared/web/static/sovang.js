// The only script of the pages (no CDN). Everything works without it; it only moves the keyboard
// to an error and sends again, once, a form kept across a new sign-in.
(function () {
  "use strict";
  var error = document.getElementById("loi");
  if (error) { error.focus(); }
  var resend = document.querySelector("form[data-resend]");
  if (resend && !resend.dataset.sent) { resend.dataset.sent = "1"; resend.submit(); }
  // One press makes one deed: a form is not sent twice while the first is on its way.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sending) { event.preventDefault(); return; }
      form.dataset.sending = "1";
    });
  });

  // R19: find one's own votes in a closed round's published list. Each vote's receipt is the
  // first 16 hex digits of SHA-256("{ballot receipt}:{candidate id}"), computed here, in the
  // browser: the ballot's receipt never goes to the server.
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  document.querySelectorAll("[data-find-votes]").forEach(function (box) {
    var input = box.querySelector("input");
    var status = box.querySelector(".find-status");
    var candidates = (box.getAttribute("data-candidates") || "").split(" ").filter(Boolean);
    function find() {
      var receipt = input.value.trim().toLowerCase();
      document.querySelectorAll("tr[data-receipt].mine").forEach(function (row) { row.classList.remove("mine"); });
      if (!/^[0-9a-f]{16}$/.test(receipt)) {
        status.textContent = "Mã biên nhận gồm 16 chữ số hex (0–9, a–f).";
        return;
      }
      if (!window.crypto || !window.crypto.subtle) {
        status.textContent = "Trình duyệt này không tính được SHA-256; hãy tính mã của từng lựa chọn theo công thức trên.";
        return;
      }
      var encoder = new TextEncoder();
      Promise.all(candidates.map(function (cid) {
        return window.crypto.subtle.digest("SHA-256", encoder.encode(receipt + ":" + cid)).then(function (d) {
          return hex(d).slice(0, 16);
        });
      })).then(function (codes) {
        var found = 0;
        codes.forEach(function (code) {
          var row = document.querySelector("tr[data-receipt='" + code + "']");
          if (row) { row.classList.add("mine"); found += 1; }
        });
        status.textContent = found
          ? "Tìm thấy " + found + " lựa chọn của bạn; chúng được đánh dấu trong danh sách."
          : "Không có lựa chọn nào ứng với mã này trong danh sách.";
      });
    }
    box.querySelector("button").addEventListener("click", find);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); find(); }
    });
  });
})();
