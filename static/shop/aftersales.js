// After-sales request form: show what fits the chosen kind (its items, reasons, the exchange
// choice, the refund destination) and stop more photos than allowed before the upload. The
// server checks all of it again; without this script every field simply stays visible.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var form = document.getElementById("aftersale-form");
  if (!form) return;

  function chosenKind() {
    var checked = form.querySelector("input[name=kind]:checked");
    return checked ? checked.value : "";
  }

  function fits(element, kind) {
    return !kind || (" " + (element.getAttribute("data-kinds") || "") + " ").indexOf(" " + kind + " ") !== -1;
  }

  function update() {
    var kind = chosenKind();
    form.querySelectorAll("tr.aftersale-line").forEach(function (row) {
      var ok = fits(row, kind);
      row.classList.toggle("not-for-kind", !ok);
      row.querySelectorAll("input, select").forEach(function (input) { input.disabled = !ok; });
    });
    form.querySelectorAll(".exchange-only").forEach(function (el) { el.hidden = kind !== "exchange"; });
    form.querySelectorAll(".refund-only").forEach(function (el) { el.hidden = kind === "exchange"; });
    form.querySelectorAll(".not-cancel").forEach(function (el) { el.hidden = kind === "cancel"; });
    var reason = document.getElementById("id_reason");
    if (reason) {
      var firstFit = null;
      Array.prototype.forEach.call(reason.options, function (option) {
        var ok = fits(option, kind);
        option.hidden = !ok;
        option.disabled = !ok;
        if (ok && firstFit === null) firstFit = option;
      });
      var selected = reason.options[reason.selectedIndex];
      if ((!selected || selected.disabled) && firstFit) firstFit.selected = true;
    }
  }

  var photos = form.querySelector("input[type=file][name=photos]");
  var photoError = document.getElementById("photo-count-error");
  function tooManyPhotos() {
    if (!photos) return false;
    var max = parseInt(photos.getAttribute("data-max") || "6", 10);
    var tooMany = photos.files && photos.files.length > max;
    if (photoError) photoError.hidden = !tooMany;
    return tooMany;
  }

  form.querySelectorAll("input[name=kind]").forEach(function (radio) { radio.addEventListener("change", update); });
  if (photos) photos.addEventListener("change", tooManyPhotos);
  form.addEventListener("submit", function (event) {
    if (tooManyPhotos()) {
      event.preventDefault();
      photos.focus();
    }
  });
  update();
});
