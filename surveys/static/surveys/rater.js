/* Rater pages: keyboard shortcuts, one submission per page, and the next question in the
   answer's own response. The pages work without it (plain forms: the answer, then a redirect to
   the next question).

   With it, an answer is sent by fetch with the header Rater-Next-Page; the server stores it and
   answers with the next question's page, which replaces this one in place: one request per
   answer instead of two. Anything else (the last answer's redirect, a network error) falls back
   to loading the question's address, which always shows the rater's current page. A few lines of
   our own rather than a library (htmx would do it): the swap has to keep the one-answer guard and
   the keyboard handling below, which are most of the work. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var NEXT_PAGE_HEADER = "Rater-Next-Page";

  function currentForm() {
    return document.querySelector("form[data-answer-form]");
  }

  function disable(form) {
    form.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
    });
    form.setAttribute("aria-busy", "true");
  }

  function reloadQuestion() {
    window.location.assign(window.location.href);
  }

  // The next page, swapped in for this one: its title and main content; focus on its heading.
  function swap(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    var main = next.querySelector("main");
    if (!main) {
      reloadQuestion();
      return;
    }
    // An entry per question, as loaded pages had: the back button stays in the survey.
    window.history.pushState(null, "", window.location.href);
    document.title = next.title;
    document.querySelector("main").replaceWith(document.adoptNode(main));
    setUp();
    var heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({preventScroll: true});
    }
    window.scrollTo(0, 0);
  }

  function sendByFetch(form, submitter) {
    var data = new URLSearchParams(new FormData(form));
    if (submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    var headers = {};
    headers[NEXT_PAGE_HEADER] = "1";
    fetch(form.action, {
      method: "POST",
      body: data,
      headers: headers,
      credentials: "same-origin",
      redirect: "manual",
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.type === "opaqueredirect" || type.indexOf("text/html") !== 0) {
        reloadQuestion();  // finished (the done page, or the crowd platform), or not a page
        return;
      }
      return response.text().then(swap);  // the next question, or a page saying what went wrong
    }).catch(reloadQuestion);
  }

  function setUp() {
    var form = currentForm();
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
      if (window.fetch && window.DOMParser && window.URLSearchParams) {
        event.preventDefault();
        sendByFetch(form, submitter);  // reads the form before its buttons are disabled
        disable(form);
        return;
      }
      if (submitter.name) {  // a disabled button is not sent: carry its answer in its place
        var carried = document.createElement("input");
        carried.type = "hidden";
        carried.name = submitter.name;
        carried.value = submitter.value;
        form.appendChild(carried);
      }
      disable(form);
    });
  }

  // Keys answer the question on the page at the time (pages change in place).
  document.addEventListener("keydown", function (event) {
    if (event.repeat || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var form = currentForm();
    var key = (event.key || "").toLowerCase();
    if (!form || !form.hasAttribute("data-keys") || !/^[0-9a-z]$/.test(key)) {
      return;
    }
    var button = form.querySelector('button[data-key="' + key + '"]');
    if (!button || button.disabled) {
      return;
    }
    event.preventDefault();
    button.click();
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
  // Back to an earlier question's entry: show the current question (loaded again).
  window.addEventListener("popstate", function () {
    window.location.reload();
  });
  // Back to a page kept in the browser's memory: fetch the current question instead.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });
})();
