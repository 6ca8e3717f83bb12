// The listing's filters fold behind a <details> button on phones. From 800 px they are always
// shown: phone.css does it with ::details-content; browsers without it get the fold opened here.
(function () {
  "use strict";
  var toggle = document.getElementById("filters-toggle");
  if (!toggle || toggle.open) return;
  var supported = window.CSS && CSS.supports && CSS.supports("selector(::details-content)");
  if (!supported && window.matchMedia("(min-width: 800px)").matches) toggle.open = true;
})();
