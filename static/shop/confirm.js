// Forms with data-confirm="question" ask before they submit (cancel an order, confirm receipt).
// A file, not an inline handler: the Content-Security-Policy forbids those. Without JavaScript
// the form simply submits.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
