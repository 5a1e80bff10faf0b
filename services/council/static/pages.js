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

  // After a refused or incomplete ballot, take the keyboard to the message.
  var error = document.getElementById("loi");
  if (error) { error.focus(); }
})();
