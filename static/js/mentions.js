// @mentions in comment textareas (templates/collaboration/_comment_form.html): typing "@er"
// asks the server for the use case's members starting with "er" (data-mentions holds the
// URL; htmx fills the list below the textarea); choosing one puts "@username " in place.
// Event delegation on the document, so textareas swapped in by htmx need no binding, and
// loading this file twice (each thread includes it) binds nothing twice. No inline JS (CSP).
(function () {
  "use strict";
  if (window.quorumMentions) return;
  window.quorumMentions = true;

  var TYPED = /(^|[^\w@.+-])@([\w.+-]{1,150})$/;

  function typedPrefix(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = TYPED.exec(before);
    return match ? match[2] : null;
  }

  function listOf(textarea) {
    var box = textarea.closest(".mention-box");
    return box ? box.querySelector(".mention-options") : null;
  }

  function hide(list) {
    list.hidden = true;
    list.innerHTML = "";
  }

  var timer = null;
  document.addEventListener("input", function (event) {
    var textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.dataset.mentions) return;
    var list = listOf(textarea);
    if (!list) return;
    var prefix = typedPrefix(textarea);
    clearTimeout(timer);
    if (prefix === null) {
      hide(list);
      return;
    }
    timer = setTimeout(function () {
      htmx.ajax("GET", textarea.dataset.mentions, {
        target: list,
        swap: "innerHTML",
        values: { q: prefix },
      }).then(function () {
        list.hidden = list.children.length === 0;
      });
    }, 150);
  });

  function choose(button) {
    var list = button.closest(".mention-options");
    var textarea = list.closest(".mention-box").querySelector("textarea");
    var caret = textarea.selectionStart;
    var before = textarea.value.slice(0, caret).replace(/@[\w.+-]*$/, "");
    var inserted = "@" + button.dataset.username + " ";
    textarea.value = before + inserted + textarea.value.slice(caret);
    var position = (before + inserted).length;
    textarea.focus();
    textarea.setSelectionRange(position, position);
    hide(list);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".mention-option");
    if (button) {
      event.preventDefault();
      choose(button);
    }
  });

  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.dataset.mentions) return;
    var list = listOf(textarea);
    if (!list || list.hidden) return;
    var first = list.querySelector(".mention-option");
    if (event.key === "Escape") {
      hide(list);
    } else if ((event.key === "Enter" || event.key === "Tab") && first) {
      event.preventDefault();
      choose(first);
    } else if (event.key === "ArrowDown" && first) {
      event.preventDefault();
      first.focus();
    }
  });
})();
