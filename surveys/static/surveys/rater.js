/* Rater pages: keyboard shortcuts and one submission per page. The pages work without it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function setUp() {
    var form = document.querySelector("form[data-answer-form]");
    if (!form) {
      return;
    }
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent) {  // a double click or a key held down: the first answer is on its way
        event.preventDefault();
        return;
      }
      sent = true;
      var submitter = event.submitter;
      if (!submitter) {
        return;  // an old browser: leave the buttons alone so the answer still goes
      }
      if (submitter.name) {  // a disabled button is not sent: carry its answer in its place
        var carried = document.createElement("input");
        carried.type = "hidden";
        carried.name = submitter.name;
        carried.value = submitter.value;
        form.appendChild(carried);
      }
      form.querySelectorAll("button").forEach(function (button) {
        button.disabled = true;
      });
      form.setAttribute("aria-busy", "true");
    });

    if (!form.hasAttribute("data-keys")) {
      return;
    }
    document.addEventListener("keydown", function (event) {
      if (event.repeat || event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      var target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
        return;
      }
      var key = (event.key || "").toLowerCase();
      if (!/^[0-9a-z]$/.test(key)) {
        return;
      }
      var button = form.querySelector('button[data-key="' + key + '"]');
      if (!button || button.disabled) {
        return;
      }
      event.preventDefault();
      button.click();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
  // Back to a page kept in the browser's memory: fetch the current question instead.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });
})();
