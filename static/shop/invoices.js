// The invoice request form: the taxpayer ID field is for organisations only. Without JavaScript
// it simply stays visible (the server ignores it for individuals).
(function () {
  "use strict";
  var form = document.getElementById("invoice-form");
  if (!form) return;
  var field = form.querySelector(".organisation-only");
  function update() {
    var chosen = form.querySelector('input[name="title_type"]:checked');
    if (field) field.classList.toggle("is-hidden", !chosen || chosen.value !== "organisation");
  }
  form.addEventListener("change", update);
  update();
})();
