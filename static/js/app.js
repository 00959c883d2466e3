// Small page behaviours, no framework. Everything runs in htmx.onLoad so fragments swapped in
// by htmx get the same behaviour as the first page load. No inline scripts anywhere (CSP).
(function () {
  "use strict";

  // Data-quality rule form: show only the parameter inputs of the chosen kind.
  function ruleForms(root) {
    root.querySelectorAll("form[data-rule-form]").forEach(function (form) {
      var kind = form.querySelector("select[name=kind]");
      if (!kind) return;
      function sync() {
        form.querySelectorAll("[data-rule-kind]").forEach(function (input) {
          var field = input.closest(".field") || input;
          field.hidden = input.getAttribute("data-rule-kind") !== kind.value;
        });
      }
      kind.addEventListener("change", sync);
      // Only the kinds that fit the chosen column's type (data-fits on a kind lists the
      // types it applies to; a kind without it fits any column).
      var column = form.querySelector("select[name=field]");
      function fit() {
        var chosen = column.options[column.selectedIndex];
        var type = chosen ? chosen.getAttribute("data-column-type") : null;
        Array.prototype.forEach.call(kind.options, function (option) {
          var fits = option.getAttribute("data-fits");
          var off = !!(type && fits && fits.split(" ").indexOf(type) === -1);
          option.disabled = off;
          option.hidden = off;
        });
        if (kind.selectedOptions[0] && kind.selectedOptions[0].disabled) {
          var first = Array.prototype.find.call(kind.options, function (o) { return !o.disabled; });
          if (first) kind.value = first.value;
          sync();
        }
      }
      if (column) {
        column.addEventListener("change", fit);
        fit();
      }
      sync();
    });
  }

  // Inputs shown only for some values of other inputs of their form (a select or a radio
  // group): data-show-for="mode:pairwise strategy:disagreement" shows the input's .field while
  // any pair holds; data-task-types="binary multiclass" (the use case form) is short for
  // data-show-for="task_type:binary task_type:multiclass". A pair naming no input of the form
  // hides nothing. Without JS every field shows, and the server ignores those that do not apply.
  var CONDITIONAL = "[data-show-for], [data-task-types]";

  function showConditions(input) {
    var types = input.getAttribute("data-task-types");
    if (types !== null) {
      return types.split(" ").map(function (type) { return "task_type:" + type; });
    }
    return input.getAttribute("data-show-for").split(" ");
  }

  function conditionalFields(root) {
    var forms = [];
    root.querySelectorAll(CONDITIONAL).forEach(function (input) {
      if (input.form && forms.indexOf(input.form) === -1) forms.push(input.form);
    });
    forms.forEach(function (form) {
      function sync() {
        form.querySelectorAll(CONDITIONAL).forEach(function (input) {
          var known = false, shown = false;
          showConditions(input).forEach(function (pair) {
            var colon = pair.indexOf(":");
            var control = form.elements[pair.slice(0, colon)];
            if (!control) return;
            known = true;
            if (control.value === pair.slice(colon + 1)) shown = true;
          });
          (input.closest(".field") || input).hidden = known && !shown;
        });
      }
      if (!form.hasAttribute("data-show-for-bound")) {
        form.setAttribute("data-show-for-bound", "");
        form.addEventListener("change", sync);
      }
      sync();
    });
  }

  // "Copy" buttons next to a read-only value (the new API token).
  function copyButtons(root) {
    root.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.getElementById(button.getAttribute("data-copy-target"));
        if (!input) return;
        input.select();
        var done = function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(done, function () {});
        } else {
          try { document.execCommand("copy"); done(); } catch (e) { /* select() is the hint */ }
        }
      });
    });
    root.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  // The account menu (<details>) closes on Escape and on a click elsewhere.
  function accountMenu() {
    var menu = document.querySelector(".account-menu");
    if (!menu) return;
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  }

  // After an htmx swap, move focus to the first input of a newly shown inline form.
  function focusInlineForm(root) {
    if (root === document.body) return;
    var input = root.querySelector(".inline-form input:not([type=hidden]), .inline-form select");
    if (input) input.focus();
  }

  // htmx 2 swaps nothing on 4xx/5xx: say so, rather than leave a click without effect.
  // A login redirect (the session expired) loads the login page itself, not inside a section.
  function htmxFeedback() {
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var url = event.detail.xhr.responseURL || "";
      if (url.indexOf("/accounts/login/") !== -1) {
        event.detail.shouldSwap = false;
        window.location.assign(url);
      }
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr.status;
      var text = status === 403 ? "You may not do this with your role on this use case."
        : status === 404 ? "This no longer exists, or you no longer have access to it."
        : "Something went wrong (" + status + "). Reload the page and try again.";
      showMessage(text);
    });
    document.body.addEventListener("htmx:sendError", function () {
      showMessage("Quorum could not be reached. Check your connection and try again.");
    });
  }

  function showMessage(text) {
    var list = document.querySelector("ul.messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.setAttribute("aria-live", "polite");
      document.getElementById("main").prepend(list);
    }
    var item = document.createElement("li");
    item.className = "message message-error";
    item.textContent = text;
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  accountMenu();
  htmxFeedback();
  htmx.onLoad(function (root) {
    ruleForms(root);
    conditionalFields(root);
    copyButtons(root);
    focusInlineForm(root);
  });
})();
