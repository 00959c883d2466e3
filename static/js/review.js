// The review screen (templates/reviews/review.html): answer by keyboard, measure the time
// spent on each item. The item's form posts with htmx and the whole workspace is swapped for
// the next item's, so everything is (re)bound in htmx.onLoad. No inline scripts (CSP).
//
// Keys (shown on the buttons): 1/C correct, 2/X incorrect, 3/U unsure; pairwise A, B, E;
// 4–9 toggle the first reason tags; V corrected value, / comment; Enter submits (Ctrl+Enter
// in the comment); S skips; Esc leaves a text field.
(function () {
  "use strict";

  // Time on the current item, counted only while the page is visible.
  var shownAt = null;
  var spent = 0;

  function startClock() {
    spent = 0;
    shownAt = document.hidden ? null : performance.now();
  }

  function secondsSpent() {
    var total = spent + (shownAt === null ? 0 : performance.now() - shownAt);
    return (total / 1000).toFixed(2);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden && shownAt !== null) {
      spent += performance.now() - shownAt;
      shownAt = null;
    } else if (!document.hidden && shownAt === null) {
      shownAt = performance.now();
    }
  });

  // Only a form htmx has processed (htmx.onLoad marks it ready): a key pressed in the
  // moment between a swap and htmx's processing would otherwise submit natively.
  function form() {
    return document.querySelector("form[data-review-form][data-ready]");
  }

  // Capture phase: runs before htmx serialises the form, whichever button sent it.
  document.addEventListener("submit", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("form[data-review-form]")) return;
    var input = target.querySelector("[data-seconds-spent]");
    if (input) input.value = secondsSpent();
    var action = target.querySelector("[data-action]");
    if (action) action.value = event.submitter && event.submitter.value === "skip" ? "skip" : "submit";
  }, true);

  function isTyping(element) {
    if (!element) return false;
    var tag = element.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && ["text", "number", "search", "email"].indexOf(element.type) !== -1);
  }

  function submit(current, buttonSelector) {
    var button = current.querySelector(buttonSelector);
    if (button && button.disabled) return;  // a submission is already on its way
    if (typeof current.requestSubmit === "function") current.requestSubmit(button);
    else if (button) button.click();
  }

  function byKey(current, key) {
    var wanted = key.toUpperCase();
    var inputs = current.querySelectorAll("input[data-key], input[data-alt-key]");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if ((input.getAttribute("data-key") || "").toUpperCase() === wanted ||
          (input.getAttribute("data-alt-key") || "").toUpperCase() === wanted) return input;
    }
    return null;
  }

  document.addEventListener("keydown", function (event) {
    var current = form();
    if (!current || event.altKey || event.metaKey || event.isComposing) return;
    var active = document.activeElement;
    if (isTyping(active)) {
      if (event.key === "Escape") {
        active.blur();
        event.preventDefault();
      } else if (event.key === "Enter" && (active.tagName !== "TEXTAREA" || event.ctrlKey)) {
        event.preventDefault();
        submit(current, "[data-submit]");
      }
      return;
    }
    if (event.ctrlKey) return;
    if (event.key === "Enter") {
      // Enter on a focused link or non-submit button keeps its own meaning.
      if (active && (active.tagName === "A" || (active.tagName === "BUTTON" && active.form !== current))) return;
      event.preventDefault();
      submit(current, "[data-submit]");
      return;
    }
    var key = event.key.length === 1 ? event.key.toUpperCase() : "";
    if (!key) return;
    if (key === "S") {
      event.preventDefault();
      submit(current, "[data-skip]");
      return;
    }
    var focusTarget = current.querySelector("[data-focus-key='" + (key === "/" ? "/" : key) + "']");
    if (focusTarget) {
      event.preventDefault();
      focusTarget.focus();
      return;
    }
    var input = byKey(current, key);
    if (!input) return;
    event.preventDefault();
    if (input.type === "checkbox") input.checked = !input.checked;
    else input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  htmx.onLoad(function (root) {
    var workspace = root.matches && root.matches("[data-review-workspace]")
      ? root : root.querySelector && root.querySelector("[data-review-workspace]");
    if (!workspace) return;
    var current = workspace.querySelector("form[data-review-form]");
    if (current) current.setAttribute("data-ready", "");
    // A re-rendered form (an inline error) keeps counting; a new item starts from zero.
    var slot = current ? current.getAttribute("action") : "";
    if (slot !== document.body.getAttribute("data-review-slot")) {
      startClock();
      document.body.setAttribute("data-review-slot", slot);
    }
    // Keep keyboard focus off the top of the page after a swap, without stealing it
    // into a text field (keys would then type instead of answer).
    if (root !== document.body && current) current.focus({ preventScroll: true });
  });
})();
